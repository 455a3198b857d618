"""The GDPR consent ledger: append-only entries, and the current state derived from them.

A consent is never edited. Giving is one entry; withdrawing is another entry that names the entry it
withdraws. Whether a consent is in force is derived by folding the subject's entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.money import HourlyRate


class ConsentPurpose(StrEnum):
    PLATFORM_PROCESSING = "platform_processing"  # captured at every registration
    AGENCY_REPRESENTATION = "agency_representation"  # written consent for an agency to act on one's behalf
    PROFILE_DISCLOSURE = "profile_disclosure"  # per candidacy: client, assignment, hourly rate


class ConsentAction(StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"


class ConsentSource(StrEnum):
    FORM = "form"
    UPLOADED_DOCUMENT = "uploaded_document"


@dataclass(frozen=True)
class ConsentEntry:
    subject_id: str
    entry_id: str
    action: ConsentAction
    purpose: ConsentPurpose
    at: datetime
    source: ConsentSource
    actor_id: str
    notice_version: str | None = None
    notice_sha256: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    # Whom the consent concerns beyond the platform itself.
    agency_id: str | None = None
    client_id: str | None = None
    assignment_id: str | None = None
    hourly_rate: HourlyRate | None = None
    candidacy_id: str | None = None  # a disclosure consent's candidacy (the consultant put forward)
    document_id: str | None = None
    document_sha256: str | None = None
    withdraws_entry_id: str | None = None  # only on WITHDRAWN entries


def withdrawal_entry_id(given_entry_id: str) -> str:
    """The one possible withdrawal of an entry has a derived id, so a double withdrawal is a replay."""
    return f"{given_entry_id}.withdrawn"


def withdrawal_of(
    given: ConsentEntry, *, actor_id: str, at: datetime, ip: str | None = None, user_agent: str | None = None
) -> ConsentEntry:
    """The entry that withdraws ``given``: same subject, purpose and scope, made by ``actor_id`` at ``at``."""
    return ConsentEntry(
        subject_id=given.subject_id,
        entry_id=withdrawal_entry_id(given.entry_id),
        action=ConsentAction.WITHDRAWN,
        purpose=given.purpose,
        at=at,
        source=ConsentSource.FORM,
        actor_id=actor_id,
        ip=ip,
        user_agent=user_agent,
        agency_id=given.agency_id,
        client_id=given.client_id,
        assignment_id=given.assignment_id,
        hourly_rate=given.hourly_rate,
        candidacy_id=given.candidacy_id,
        withdraws_entry_id=given.entry_id,
    )


@dataclass(frozen=True)
class ConsentState:
    given: ConsentEntry
    withdrawal: ConsentEntry | None

    @property
    def in_force(self) -> bool:
        return self.withdrawal is None


def fold_consents(entries: list[ConsentEntry]) -> list[ConsentState]:
    """Pair every given consent with its withdrawal, newest first."""
    withdrawals = {e.withdraws_entry_id: e for e in entries if e.action is ConsentAction.WITHDRAWN}
    states = [ConsentState(e, withdrawals.get(e.entry_id)) for e in entries if e.action is ConsentAction.GIVEN]
    return sorted(states, key=lambda s: s.given.at, reverse=True)


def in_force(entries: list[ConsentEntry], purpose: ConsentPurpose, **scope: str | None) -> list[ConsentState]:
    """Consents of ``purpose`` in force, optionally narrowed by scope fields such as agency_id."""
    return [
        s
        for s in fold_consents(entries)
        if s.in_force and s.given.purpose is purpose and all(getattr(s.given, name) == value for name, value in scope.items())
    ]


@dataclass(frozen=True)
class ConsentChanged:
    """Written with every consent entry of a person, in their partition of the main table: the ledger has
    no stream of its own, and what depends on consent (the search index) follows the main table's."""

    user_id: str
    entry_id: str  # the ledger entry that changed it
    at: datetime
