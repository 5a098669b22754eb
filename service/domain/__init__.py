"""Domain layer: models, ports and errors. Imports no SDK."""
