"""Access: API keys with roles and collections, the keyless loopback mode, and the /v1/keys routes."""
