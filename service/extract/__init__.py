"""Extract: schema facts grounded to character spans; schemas, grounding, attribution, merging; their routes."""
