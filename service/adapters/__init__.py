"""Adapters: the only modules that import SDKs (openai, chromadb, langchain, llama.cpp, ...)."""
