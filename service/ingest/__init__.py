"""Ingest: load, segment, embed and store reports; reconcile the store; the /documents routes."""
