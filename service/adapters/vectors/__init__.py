"""Embeddings and the vector store (Chroma)."""
