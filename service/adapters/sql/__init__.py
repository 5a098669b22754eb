"""SQL: the declarative base, engine and named migrations, and the repositories beside their tables."""
