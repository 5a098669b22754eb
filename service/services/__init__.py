"""Services: ingest, retrieval, answering. They depend on ports, never on SDKs."""
