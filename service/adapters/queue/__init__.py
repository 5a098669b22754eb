"""Job queues: a thread of the serving process (local) and procrastinate on Postgres."""
