"""Changes too many for one DynamoDB transaction, split into ones it accepts."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.audit import AuditAction
from chalicelib.domain.identity import Principal, Role
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.ports import TRANSACTION_LIMIT, Changes
from tests.fakes import make_world


def test_batches_keep_every_write_in_order_within_the_limit_and_without_a_token() -> None:
    changes = Changes(request_token="once")
    writes = [object() for _ in range(2 * TRANSACTION_LIMIT + 50)]
    changes.writes.extend((w, None) for w in writes)  # type: ignore[misc]
    batches = changes.batches()
    assert [len(b.writes) for b in batches] == [TRANSACTION_LIMIT, TRANSACTION_LIMIT, 50]
    assert [w for b in batches for w, _ in b.writes] == writes and {b.request_token for b in batches} == {None}
    assert Changes().batches() == []


def test_staff_reads_beyond_one_transaction_are_all_audited() -> None:
    world = make_world()
    staff = Principal("staff-1", frozenset({Role.STAFF}), None)
    reads = [Read(f"person-{n}", "profile", f"person-{n}") for n in range(TRANSACTION_LIMIT + 1)]
    record_staff_reads(world.db, staff, datetime(2026, 11, 27, tzinfo=UTC), AuditAction.PROFILE_READ, reads)
    assert len([k for k in world.db.items if k[0] == "audit"]) == TRANSACTION_LIMIT + 1
