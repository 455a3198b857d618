"""Pure domain rules: the consent fold, ids, the consent-document lifecycle, the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.accounts import CONSENT_DOCUMENT_TRANSITIONS, ConsentDocumentStatus
from chalicelib.domain.consent import (
    ConsentAction,
    ConsentEntry,
    ConsentPurpose,
    ConsentSource,
    fold_consents,
    in_force,
    withdrawal_entry_id,
)
from chalicelib.domain.ids import is_path_id, iso, new_id, parse_iso
from chalicelib.services import outbox
from chalicelib.services.ports import OutboxMessage
from tests.fakes import FakeEmail

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(n: int, purpose: ConsentPurpose, withdraws: str | None = None) -> ConsentEntry:
    return ConsentEntry(
        subject_id="s",
        entry_id=withdrawal_entry_id(withdraws) if withdraws else f"e{n:04d}",
        action=ConsentAction.WITHDRAWN if withdraws else ConsentAction.GIVEN,
        purpose=purpose,
        at=T0 + timedelta(minutes=n),
        source=ConsentSource.FORM,
        actor_id="s",
        withdraws_entry_id=withdraws,
    )


@given(st.lists(st.tuples(st.sampled_from(list(ConsentPurpose)), st.booleans()), max_size=30))
def test_a_consent_is_in_force_exactly_when_no_withdrawal_names_it(plan: list[tuple[ConsentPurpose, bool]]) -> None:
    entries, withdrawn = [], set()
    for n, (purpose, withdraw) in enumerate(plan):
        given_entry = entry(n, purpose)
        entries.append(given_entry)
        if withdraw:
            entries.append(entry(n, purpose, withdraws=given_entry.entry_id))
            withdrawn.add(given_entry.entry_id)
    states = fold_consents(list(reversed(entries)))  # order of the ledger does not matter
    assert [s.given.entry_id for s in states] == [e.entry_id for e in reversed(entries) if e.action is ConsentAction.GIVEN]
    assert {s.given.entry_id for s in states if not s.in_force} == withdrawn
    for purpose in ConsentPurpose:
        expected = {e.entry_id for e in entries if e.purpose is purpose and e.action is ConsentAction.GIVEN} - withdrawn
        assert {s.given.entry_id for s in in_force(entries, purpose)} == expected


def test_ids_are_time_sortable_and_validated() -> None:
    first, second = new_id(), new_id()
    assert is_path_id(first) and is_path_id(second) and len(first) == 26
    assert is_path_id("dfd3124f-e08f-4c49-939a-8c8ded187bdf")  # a Cognito sub
    assert not is_path_id("../../etc/passwd") and not is_path_id(first.lower()) and not is_path_id(first + "\n")
    assert first[:10] <= second[:10]


def test_times_are_utc_with_z() -> None:
    assert iso(datetime(2026, 11, 27, 12, 0, tzinfo=UTC)) == "2026-11-27T12:00:00.000Z"
    assert parse_iso("2026-11-27T12:00:00.000Z") == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_consent_document_lifecycle_only_moves_forward() -> None:
    order = list(ConsentDocumentStatus)
    finals = {s for s, targets in CONSENT_DOCUMENT_TRANSITIONS.items() if not targets}
    assert finals == {ConsentDocumentStatus.REJECTED, ConsentDocumentStatus.CONFIRMED}
    for source, targets in CONSENT_DOCUMENT_TRANSITIONS.items():
        for target in targets - {ConsentDocumentStatus.UPLOAD_REJECTED}:
            assert order.index(target) > order.index(source), (source, target)


class MemoryOutbox:
    def __init__(self) -> None:
        self.sent: set[str] = set()

    def already_sent(self, message_id: str) -> bool:
        return message_id in self.sent

    def mark_sent(self, message: OutboxMessage) -> None:
        self.sent.add(message.message_id)


def test_an_outbox_message_is_sent_once_even_when_redelivered() -> None:
    box, email = MemoryOutbox(), FakeEmail()
    message = OutboxMessage("m1", "a@example.com", "Hi", "Text", T0)
    assert outbox.deliver(box, email, message) is True
    assert outbox.deliver(box, email, message) is False
    assert email.sent == [("a@example.com", "Hi", "Text")]


def test_an_outbox_message_is_sent_with_its_attachments() -> None:
    from chalicelib.services.ports import Attachment

    box, email = MemoryOutbox(), FakeEmail()
    invite = Attachment("invite.ics", "text/calendar; method=REQUEST", "BEGIN:VCALENDAR\r\n")
    assert outbox.deliver(box, email, OutboxMessage("m2", "a@example.com", "Hi", "Text", T0, (invite,))) is True
    assert email.attachments == [(invite,)]
