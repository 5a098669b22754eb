"""Summarize: verified per-report summaries, batches, digests and cross-report conflicts; their routes."""
