"""Staff reads of personal data go to the append-only audit log, one entry per person read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import new_id
from chalicelib.services.ports import Changes, UnitOfWork


@dataclass(frozen=True)
class Read:
    subject_id: str  # the person (or organisation) whose data was read
    object_type: str
    object_id: str


def record_staff_reads(uow: UnitOfWork, principal: Principal, now: datetime, action: AuditAction, reads: Iterable[Read]) -> None:
    """Audit what a staff member read; reads by anyone else are of their own tenant's data and not logged."""
    if not principal.is_staff:
        return
    entries = [
        AuditEntry(
            subject_id=r.subject_id,
            entry_id=new_id(),
            at=now,
            actor_id=principal.user_id,
            action=action,
            object_type=r.object_type,
            object_id=r.object_id,
        )
        for r in reads
    ]
    changes = Changes()
    for entry in entries:
        changes.insert(entry)
    for batch in changes.batches():
        uow.commit(batch)
