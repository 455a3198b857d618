"""Retention (GDPR storage limitation): consultants inactive for a configured number of months are asked
by e-mail to sign in if they want to keep their account; those who do not within the grace period are
erased. Any authenticated request counts as activity (``accounts.note_activity``, at most daily).

Run daily by the scheduled ``privacy_jobs`` function; locally with ``make privacy-jobs``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from chalicelib.domain.accounts import User
from chalicelib.errors import ConcurrencyConflict, Conflict
from chalicelib.logging import logger
from chalicelib.notifications.templates import render
from chalicelib.services.erasure import ErasurePorts, request_erasure_for_retention
from chalicelib.services.ports import Changes, OutboxMessage


@dataclass(frozen=True)
class RetentionPolicy:
    inactive_months: int
    grace: timedelta


@dataclass(frozen=True)
class RetentionReport:
    notified: int
    erased: int


def months_before(moment: datetime, months: int) -> datetime:
    """The same day ``months`` calendar months earlier (the month's last day when it has no such day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def run_retention(ports: ErasurePorts, policy: RetentionPolicy) -> RetentionReport:
    now = ports.accounts.now()
    notified = erased = 0
    for user in ports.erasures.list_consultants_inactive_since(months_before(now, policy.inactive_months)):
        if user.retention_notice_at is None or user.retention_notice_at < user.active_since:
            notified += _notify(ports, user, now, policy)
        elif now.date() > _deadline(user.retention_notice_at, policy):  # the whole stated day is theirs
            fresh = ports.accounts.accounts.get_user(user.user_id)  # the index lags behind a sign-in
            if fresh is None or fresh.active_since >= user.retention_notice_at:
                continue
            try:
                request_erasure_for_retention(ports, fresh)
                erased += 1
            except Conflict as exc:  # e.g. the admin of an agency with other members: staff decide
                logger.warning("retention erasure refused", extra={"reason": exc.detail})
    return RetentionReport(notified, erased)


def _deadline(notified_at: datetime, policy: RetentionPolicy) -> date:
    return (notified_at + policy.grace).date()


def _notify(ports: ErasurePorts, user: User, now: datetime, policy: RetentionPolicy) -> bool:
    params = {
        "recipient_name": user.name,
        "months": str(policy.inactive_months),
        "deadline": _deadline(now, policy).isoformat(),
        "login_link": f"{ports.accounts.web_base_url}/login",
    }
    subject, text = render("retention_notice", user.language, params)
    # One notice per period of inactivity: a second run at the same time finds the message already there.
    message_id = f"retention-{user.user_id}-{int(user.active_since.timestamp())}"
    mail = OutboxMessage(message_id=message_id, to=user.email, subject=subject, text=text, created_at=now)
    changes = Changes().transition(replace(user, retention_notice_at=now), user.status.value, was=user).insert(mail)
    try:
        ports.accounts.uow.commit(changes)
    except ConcurrencyConflict:
        return False  # changed meanwhile (signed in, say): the next run looks again
    return True
