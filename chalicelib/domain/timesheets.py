"""Time reporting on an active engagement: a consultant's time per day, gathered into periods (a week or a
month, per engagement) that the consultant submits and the agency confirms or returns.

A period only moves forward, but for a return:

    open → submitted → confirmed        (a return puts a submitted period back to open, with a comment)

Every change to a period's entries writes the period too (its revision), so a submission can never race
an edit: what was submitted is exactly what is confirmed and invoiced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from chalicelib.errors import Conflict

MINUTES_PER_DAY = 24 * 60
FULL_DAY = 100  # a day-rate entry is a share of a day, in percent


class PeriodKind(StrEnum):
    WEEK = "week"  # ISO weeks, Monday to Sunday: "2026-W48"
    MONTH = "month"  # calendar months: "2026-11"


_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def period_of(day: date, kind: PeriodKind) -> str:
    """The key of the period ``day`` belongs to."""
    if kind is PeriodKind.MONTH:
        return f"{day.year:04d}-{day.month:02d}"
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def period_days(key: str) -> tuple[date, date]:
    """The first and last day of the period ``key`` (a month "2026-11" or an ISO week "2026-W48");
    ValueError for anything else."""
    if match := _MONTH.fullmatch(key):
        year, month = int(match[1]), int(match[2])
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return first, following - timedelta(days=1)
    if match := _WEEK.fullmatch(key):
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        return monday, monday + timedelta(days=6)
    raise ValueError(f"not a period: {key!r}")


class PeriodStatus(StrEnum):
    OPEN = "open"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"


@dataclass(frozen=True)
class TimeEntry:
    """One day's work on an engagement: minutes for an hourly rate, a share of the day for a daily one."""

    engagement_id: str
    day: date
    consultant_id: str
    description: str
    updated_at: datetime
    minutes: int | None = None
    day_share: int | None = None  # percent of a day, for day rates

    def __post_init__(self) -> None:
        if (self.minutes is None) == (self.day_share is None):
            raise ValueError("an entry is minutes (hourly) or a share of a day (daily)")
        if self.minutes is not None and not 1 <= self.minutes <= MINUTES_PER_DAY:
            raise ValueError("at most 24 hours a day")
        if self.day_share is not None and not 1 <= self.day_share <= FULL_DAY:
            raise ValueError("a share of a day is between 1 and 100 percent")


@dataclass
class Period:
    """A period of an engagement, from its first entry on. Its totals are fixed at submission."""

    engagement_id: str
    key: str
    kind: PeriodKind
    agency_id: str
    consultant_id: str
    created_at: datetime
    updated_at: datetime
    status: PeriodStatus = PeriodStatus.OPEN
    revision: int = 0
    entries: int = 0
    minutes: int = 0  # totals, of the entries as they are now (for a submitted period: as submitted)
    day_shares: int = 0
    submitted_at: datetime | None = None
    confirmed_at: datetime | None = None
    confirmed_by: str | None = None
    returned_at: datetime | None = None
    returned_by: str | None = None
    return_comment: str | None = None
    invoice_id: str | None = None  # made when the agency confirms

    def ensure_open(self) -> None:
        if self.status is not PeriodStatus.OPEN:
            raise Conflict(f"The period {self.key} is {self.status.value}: its time can no longer change.", current_state=self.status.value)

    def with_entry(self, before: TimeEntry | None, after: TimeEntry | None, now: datetime) -> Period:
        """The period with one entry added, changed (``before`` → ``after``) or removed."""
        self.ensure_open()

        def amounts(entry: TimeEntry | None) -> tuple[int, int, int]:
            return (1, entry.minutes or 0, entry.day_share or 0) if entry else (0, 0, 0)

        (n0, m0, d0), (n1, m1, d1) = amounts(before), amounts(after)
        return replace(
            self,
            entries=self.entries - n0 + n1,
            minutes=self.minutes - m0 + m1,
            day_shares=self.day_shares - d0 + d1,
            revision=self.revision + 1,
            updated_at=now,
        )
