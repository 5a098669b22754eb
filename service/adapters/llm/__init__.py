"""Model endpoints: the OpenAI-compatible chat client, the endpoint resolver, the embedded llama.cpp runtime and
its supervisor, the eval response cache."""
