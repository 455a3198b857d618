"""Erasure (GDPR Art. 17): a person's request to be forgotten, carried out step by step.

The request is stored first (with what the steps need to find the person's data: id, e-mail,
organisation) and removed last, so a crash half-way leaves a pending erasure that the next run
resumes. Records the platform must keep (consent evidence; later contracts and invoices) are kept
under a random pseudonym that nothing links back to the person once the request is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.consent import ConsentEntry


class ErasureReason(StrEnum):
    REQUESTED = "requested"  # by the person, through the API
    STAFF = "staff"  # by staff, on a request that reached them another way
    RETENTION = "retention"  # inactive and did not renew consent within the grace period


class ErasureStatus(StrEnum):
    PENDING = "pending"


@dataclass(frozen=True)
class Erasure:
    user_id: str
    email: str
    pseudonym: str
    reason: ErasureReason
    requested_at: datetime
    requested_by: str
    status: ErasureStatus = ErasureStatus.PENDING
    org_ids: tuple[str, ...] = ()  # the person's organisation and the one-person agencies they closed


def pseudonymised_consent(entry: ConsentEntry, erasure: Erasure) -> ConsentEntry:
    """The entry as kept after erasure: what was consented to, when and on what evidence (the notice or
    document hash), but not by whom, from which address or with which browser."""
    return replace(
        entry,
        subject_id=erasure.pseudonym,
        actor_id=erasure.pseudonym if entry.actor_id == erasure.user_id else entry.actor_id,
        ip=None,
        user_agent=None,
    )


def pseudonymised_audit(entry: AuditEntry, erasure: Erasure) -> AuditEntry:
    def swap(value: str) -> str:
        return erasure.pseudonym if value == erasure.user_id else value

    return replace(
        entry,
        subject_id=erasure.pseudonym,
        actor_id=swap(entry.actor_id),
        object_id=swap(entry.object_id),
        details={key: swap(value) for key, value in entry.details.items()},
    )
