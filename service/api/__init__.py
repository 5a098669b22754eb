"""HTTP API: routes, schemas and error mapping. The only layer that knows HTTP."""
