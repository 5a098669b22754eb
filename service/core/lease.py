"""A job runner's lease, renewed from a timer while it works (even when one item outlasts the lease)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from service.domain.ports import JobStore

log = logging.getLogger(__name__)


@contextmanager
def renewed_lease(jobs: JobStore, job_id: str, every_s: float) -> Iterator[None]:
    """Renew this process's lease on `job_id` every `every_s` seconds until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                jobs.beat(job_id)
            except Exception:  # a database hiccup: the next beat renews it
                log.warning("could not renew the lease of %s", job_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
