"""Scheduled jobs (an EventBridge schedule → ``privacy_jobs``; locally ``make privacy-jobs``).

Daily: finish erasures left pending (a stream record that failed for good, say), apply retention, and
settle uploads that will never be checked. Each is idempotent, so a retried or doubled invocation
changes nothing more.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.container import get_container
from chalicelib.logging import logger


def run_privacy_jobs(event: Any = None, context: Any = None) -> dict[str, int]:
    from chalicelib.services.erasure import resume_pending_erasures
    from chalicelib.services.files import sweep_stale_uploads
    from chalicelib.services.retention import RetentionPolicy, run_retention

    container = get_container()
    settings = container.settings
    finished = resume_pending_erasures(container.erasure)
    policy = RetentionPolicy(settings.retention_inactive_months, timedelta(days=settings.retention_grace_days))
    report = run_retention(container.erasure, policy)
    swept = sweep_stale_uploads(container.profiles, container.storage)
    outcome = {
        "erasures_finished": finished,
        "retention_notified": report.notified,
        "retention_erased": report.erased,
        "stale_uploads_settled": swept,
    }
    logger.info("privacy jobs ran", extra=outcome)
    return outcome
