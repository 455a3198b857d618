"""Scheduled jobs (EventBridge schedules → ``privacy_jobs`` daily and ``proposal_jobs`` every few
minutes; locally ``make privacy-jobs`` and ``make proposal-jobs``, and ``make run`` runs the proposal jobs
every minute).

Proposals: disclosure consent requests past their deadline expire, and so do the built-in signature's
signing requests; contracts out for signature that heard nothing for a while are checked with their provider.
Engagements: evaluation rounds that fell due are opened, their reminders sent, missed ratings escalated to
the consultant's agent (chalicelib.services.evaluations).
Engagements past their last day end (the reviews open), and reviews whose window closed are recorded
revealed.

Daily: finish erasures left pending (a stream record that failed for good, say), apply retention, and
settle uploads that will never be checked. Each is idempotent, so a retried or doubled invocation
changes nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.container import get_container
from chalicelib.logging import logger

if TYPE_CHECKING:
    from chalicelib.services.retention import RetentionReport


def run_privacy_jobs(event: Any = None, context: Any = None) -> dict[str, int]:
    """Runs every job even when one fails, then fails the invocation if any did (so that it is retried
    and alarmed on); each job is idempotent."""
    from chalicelib.services.erasure import resume_pending_erasures
    from chalicelib.services.files import sweep_stale_uploads
    from chalicelib.services.retention import RetentionPolicy, run_retention

    container = get_container()
    settings = container.settings
    policy = RetentionPolicy(settings.retention_inactive_months, timedelta(days=settings.retention_grace_days))
    return _run_all(
        "privacy",
        {
            "erasures": lambda: {"erasures_finished": resume_pending_erasures(container.erasure)},
            "retention": lambda: _retention_figures(run_retention(container.erasure, policy)),
            "stale uploads": lambda: {"stale_uploads_settled": sweep_stale_uploads(container.profiles, container.storage)},
        },
    )


def _run_all(kind: str, jobs: dict[str, Callable[[], dict[str, int]]]) -> dict[str, int]:
    """Runs every job even when one fails (one provider being down holds up nothing else), then fails the
    invocation if any did, so that it is retried and alarmed on."""
    outcome: dict[str, int] = {}
    failed = []
    for name, job in jobs.items():
        try:
            outcome |= job()
        except Exception:
            logger.exception(f"{kind} job failed", extra={"job": name})
            failed.append(name)
    logger.info(f"{kind} jobs ran", extra=outcome)
    if failed:
        raise RuntimeError(f"{kind} jobs failed: {', '.join(failed)}")
    return outcome


def _retention_figures(report: RetentionReport) -> dict[str, int]:
    return {"retention_notified": report.notified, "retention_erased": report.erased}


def run_proposal_jobs(event: Any = None, context: Any = None) -> dict[str, int]:
    from chalicelib.services.agents import assign_missing_agents, suggest_next_assignments
    from chalicelib.services.candidacies import expire_consent_requests
    from chalicelib.services.contracts import reconcile_contracts
    from chalicelib.services.engagement_changes import send_agreed_addenda
    from chalicelib.services.engagement_end import end_due_engagements
    from chalicelib.services.evaluations import run_evaluation_jobs
    from chalicelib.services.payment_events import reconcile_invoices
    from chalicelib.services.reviews import reveal_due_reviews
    from chalicelib.services.signing import expire_signing_requests

    container = get_container()
    return _run_all(
        "proposal",
        {
            "consent requests": lambda: {"consent_requests_expired": expire_consent_requests(container.candidacies)},
            "signing requests": lambda: {"signing_requests_expired": expire_signing_requests(container.signing)},
            "contracts": lambda: {"contracts_reconciled": reconcile_contracts(container.contracts)},
            "invoices": lambda: reconcile_invoices(container.invoicing),
            "agents": lambda: {"agents_assigned": assign_missing_agents(container.contracts)},
            "next assignments": lambda: {"next_assignments_suggested": suggest_next_assignments(container.contracts, container.matching)},
            "addenda": lambda: {"addenda_sent": send_agreed_addenda(container.engagement_changes)},
            "engagements ended": lambda: {"engagements_ended": end_due_engagements(container.contracts)},
            "reviews revealed": lambda: {"reviews_revealed": reveal_due_reviews(container.reviews)},
            "evaluations": lambda: run_evaluation_jobs(container.evaluations),
        },
    )
