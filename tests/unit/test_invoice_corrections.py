"""Money going back after an invoice was issued: credit notes (staff), refunds, disputes won and lost, voids and
invoices issued again. The agency's share always follows what went back to the client, moved once, however
many times and in whatever order the provider's events arrive."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.adapters.payments.offline import sign_payload
from chalicelib.domain.invoicing import InvoiceBreakdown, InvoiceStatus, VatTreatment, agency_share_held_back
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound, PaymentRejected, UpstreamUnavailable
from chalicelib.services import agency_share, invoice_corrections, invoicing, payment_events
from chalicelib.services.invoicing import InvoicingPorts
from chalicelib.services.ports import Changes, CreditNoteRequest
from tests.unit.test_invoicing import SECRETS, onboarded, paid_invoice, post, setup


def reversed_total(stripe: Any) -> int:
    return sum(t["amount_reversed"] for t in stripe.objects("transfer"))


def transferred_net(stripe: Any) -> int:
    """What the agency holds of the platform's transfers: transferred minus reversed."""
    return sum(t["amount"] - t["amount_reversed"] for t in stripe.objects("transfer"))


def as_new_event(event: tuple[bytes, str, bool]) -> tuple[bytes, str, bool]:
    """The same event under another id (Stripe sends a new event for each change; a late one may say old things)."""
    payload, _, connect = event
    renamed = payload.replace(b'"evt_', b'"evt_late', 1)
    return renamed, sign_payload(renamed, SECRETS[1] if connect else SECRETS[0], int(time.time())), connect


def post_all(ports: InvoicingPorts, sink: Any, kind: str) -> list[str]:
    return [post(ports, event) for event in sink.of_type(kind)]


# --- the split of what goes back ----------------------------------------------------------------------


@given(
    net=st.integers(min_value=0, max_value=10**9),
    bps=st.integers(min_value=0, max_value=5000),
    vat=st.sampled_from([VatTreatment(2500, False), VatTreatment(0, True), VatTreatment(0, False)]),
    share=st.floats(min_value=0, max_value=1.5),
    dispute=st.sampled_from([None, "warning_needs_response", "needs_response", "under_review", "won", "lost", "warning_closed"]),
)
def test_the_agency_gives_back_its_proportion_never_more_than_its_share(
    net: int, bps: int, vat: VatTreatment, share: float, dispute: str | None
) -> None:
    b = InvoiceBreakdown.of(net, "SEK", bps, vat)
    returned = int(b.total_minor * share)
    held = agency_share_held_back(b, returned, dispute)
    assert 0 <= held <= b.agency_net_minor
    if dispute in ("needs_response", "under_review", "lost"):
        assert held == b.agency_net_minor  # the client's bank holds the money: so does the platform
    else:
        assert held <= agency_share_held_back(b, returned + 1, dispute)  # more back, never less held
        if returned >= b.total_minor:
            assert held == b.agency_net_minor
        if returned == 0:
            assert held == 0


# --- credit notes -------------------------------------------------------------------------------------


def test_a_credit_note_on_a_paid_invoice_refunds_the_client_and_takes_back_the_agencys_proportion() -> None:
    deal, ports, stripe, sink, invoice_id = paid_invoice()
    total = deal.db.get_invoice(invoice_id).breakdown.total_minor
    credited = invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, total // 4, "order_change", "One day less")
    b = credited.breakdown
    share = (2 * (total // 4) * b.agency_net_minor + b.total_minor) // (2 * b.total_minor)
    assert credited.returned_to_client_minor == total // 4 and credited.held_back_minor == share
    assert [c.amount_minor for c in credited.credit_notes] == [total // 4]
    [charge] = stripe.objects("charge")
    assert charge["amount_refunded"] == total // 4  # the credit note refunded the payment
    assert reversed_total(stripe) == share
    # The provider's events for the same credit arrive afterwards, and again: nothing moves twice.
    for kind in ("credit_note.created", "charge.refunded"):
        assert set(post_all(ports, sink, kind)) <= {"applied", "stale"}
        assert set(post_all(ports, sink, kind)) == {"duplicate"}
    assert reversed_total(stripe) == share
    assert [n.user_id for n in deal.notices("transfer_reversed")].count(deal.scene.agency_admin.user_id) == 1


def test_a_credit_note_on_an_open_invoice_lowers_what_is_due_and_the_share_follows_on_payment() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    onboarded(deal, ports, stripe, sink)
    invoice = deal.db.get_invoice(invoice_id)
    b = invoice.breakdown
    room = b.total_minor - b.agency_net_minor  # the payment must still cover the agency's transfer
    with pytest.raises(InvalidInput):
        invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, room + 1, "order_change", "Too much")
    credited = invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 1000, "order_change", "A day less")
    assert credited.status is InvoiceStatus.OPEN and credited.returned_to_client_minor == 1000
    assert credited.held_back_minor == 0  # nothing transferred yet
    assert stripe.get(invoice.provider_invoice_id)["amount_remaining"] == b.total_minor - 1000
    stripe.pay_invoice(invoice.provider_invoice_id)
    assert post_all(ports, sink, "invoice.paid") == ["applied"]
    paid = deal.db.get_invoice(invoice_id)
    share = (2 * 1000 * b.agency_net_minor + b.total_minor) // (2 * b.total_minor)
    assert paid.status is InvoiceStatus.PAID and paid.held_back_minor == share
    assert transferred_net(stripe) == b.agency_net_minor - share


def test_a_double_submitted_credit_note_is_made_once() -> None:
    deal, ports, stripe, _, invoice_id = paid_invoice()
    invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 500, "duplicate", "Charged twice")
    with pytest.raises(Conflict, match="same credit note was made"):  # the second click, after the first's reply
        invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 500, "duplicate", "Charged twice")
    assert len(stripe.objects("credit_note")) == 1
    assert len(deal.db.get_invoice(invoice_id).credit_notes) == 1


def test_only_staff_credit_void_or_reissue_and_strangers_learn_nothing() -> None:
    deal, ports, _, _, invoice_id = paid_invoice()
    for party in (deal.scene.agency_admin, deal.scene.buyer, deal.scene.consultants[0]):
        with pytest.raises(Forbidden):
            invoice_corrections.credit_invoice(ports, party, invoice_id, 100, "duplicate", "x")
        with pytest.raises(Forbidden):
            invoice_corrections.void_invoice(ports, party, invoice_id, "x")
        with pytest.raises(Forbidden):
            invoice_corrections.reissue_invoice(ports, party, invoice_id)
    with pytest.raises(NotFound):
        invoice_corrections.credit_invoice(ports, deal.scene.staff, "no-such-invoice", 100, "duplicate", "x")


def test_a_paid_invoice_cannot_be_credited_beyond_what_was_paid_or_voided() -> None:
    deal, ports, _, _, invoice_id = paid_invoice()
    total = deal.db.get_invoice(invoice_id).breakdown.total_minor
    invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, total - 10, "product_unsatisfactory", "Most of it")
    with pytest.raises(InvalidInput):
        invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 11, "product_unsatisfactory", "More")
    with pytest.raises(Conflict):
        invoice_corrections.void_invoice(ports, deal.scene.staff, invoice_id, "paid already")


# --- disputes -----------------------------------------------------------------------------------------


def test_a_won_dispute_gives_the_agency_its_share_again_once() -> None:
    deal, ports, stripe, sink, invoice_id = paid_invoice()
    net = deal.db.get_invoice(invoice_id).breakdown.agency_net_minor
    dispute = stripe.dispute(deal.db.get_invoice(invoice_id).provider_invoice_id)
    assert post_all(ports, sink, "charge.dispute.created") == ["applied"]
    assert transferred_net(stripe) == 0
    stripe.close_dispute(dispute["id"], won=True)
    assert post_all(ports, sink, "charge.dispute.closed") == ["applied"]
    invoice = deal.db.get_invoice(invoice_id)
    assert invoice.dispute_status == "won" and invoice.held_back_minor == 0 and invoice.restored_minor == net
    assert transferred_net(stripe) == net
    # Replayed, and the older "created" event again: the share is not taken back, nor paid twice.
    post_all(ports, sink, "charge.dispute.closed")
    for event in sink.of_type("charge.dispute.created"):
        assert post(ports, as_new_event(event)) == "stale"  # the dispute, re-fetched, is won
    assert transferred_net(stripe) == net
    assert len(deal.notices("transfer_restored")) >= 1


def test_a_lost_dispute_keeps_the_share_taken_back() -> None:
    deal, ports, stripe, sink, invoice_id = paid_invoice()
    dispute = stripe.dispute(deal.db.get_invoice(invoice_id).provider_invoice_id)
    stripe.close_dispute(dispute["id"], won=False)
    post_all(ports, sink, "charge.dispute.closed")  # the closing event first: the re-fetched state is what counts
    post_all(ports, sink, "charge.dispute.created")
    invoice = deal.db.get_invoice(invoice_id)
    assert invoice.dispute_status == "lost" and invoice.held_back_minor == invoice.breakdown.agency_net_minor
    assert transferred_net(stripe) == 0 and len(stripe.objects("transfer")) == 1


def test_concurrent_refund_and_dispute_events_never_take_back_more_than_the_share() -> None:
    deal, ports, stripe, sink, invoice_id = paid_invoice()
    provider_id = deal.db.get_invoice(invoice_id).provider_invoice_id
    total = deal.db.get_invoice(invoice_id).breakdown.total_minor
    invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, total // 2, "order_change", "Half")
    stripe.dispute(provider_id)
    events = sink.of_type("charge.refunded") + sink.of_type("credit_note.created") + sink.of_type("charge.dispute.created")
    barrier = threading.Barrier(len(events) * 3)
    errors: list[BaseException] = []

    def deliver(event: tuple[bytes, str, bool]) -> None:
        barrier.wait()
        try:
            post(ports, event)
        except Conflict as exc:  # a delivery the provider would retry
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(event,)) for event in events * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for event in events:  # the retries of whatever was refused meanwhile
        post(ports, event)
    invoice = deal.db.get_invoice(invoice_id)
    assert invoice.share_move is None and invoice.held_back_minor == invoice.breakdown.agency_net_minor
    assert reversed_total(stripe) == invoice.breakdown.agency_net_minor


# --- void and issue again -----------------------------------------------------------------------------


def test_a_voided_invoice_is_issued_again_once_with_the_clients_details_as_they_are_now() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    onboarded(deal, ports, stripe, sink)
    voided = invoice_corrections.void_invoice(ports, deal.scene.staff, invoice_id, "Wrong billing address")
    assert voided.status is InvoiceStatus.VOID and voided.void_reason == "Wrong billing address"
    with pytest.raises(Conflict):
        invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 100, "duplicate", "x")
    # Meanwhile the client's VAT number is corrected (a German business: reverse charge), and the engagement's
    # commission changes for later work.
    client = deal.db.get_organisation(voided.client_id)
    assert client is not None
    ports.commit(Changes().transition(dataclasses.replace(client, country="DE", vat_number="DE123456789"), client.status.value))
    engagement = deal.db.get_engagement(voided.engagement_id)
    assert engagement is not None
    changed = dataclasses.replace(
        engagement, terms=dataclasses.replace(engagement.terms, commission_bps=2000), revision=engagement.revision + 1
    )
    ports.commit(Changes().transition(changed, engagement.status.value, revision=engagement.revision))
    again = invoice_corrections.reissue_invoice(ports, deal.scene.staff, invoice_id)
    assert again.status is InvoiceStatus.PENDING and again.replaces == invoice_id and again.source == voided.source
    assert again.lines == voided.lines and again.days_until_due == voided.days_until_due
    b, was = again.breakdown, voided.breakdown
    assert (b.net_minor, b.commission_bps, b.agency_net_minor) == (was.net_minor, was.commission_bps, was.agency_net_minor)
    assert (b.reverse_charge, b.vat_minor, b.total_minor) == (True, 0, was.net_minor)
    assert invoice_corrections.reissue_invoice(ports, deal.scene.staff, invoice_id).invoice_id == again.invoice_id
    assert deal.db.get_invoice(invoice_id).replaced_by == again.invoice_id
    issued = invoicing.issue_invoice(ports, again.invoice_id)  # as the stream does on its insert
    assert issued.status is InvoiceStatus.OPEN and issued.provider_invoice_id != voided.provider_invoice_id
    assert sorted(i["status"] for i in stripe.objects("invoice")) == ["open", "void"]
    with pytest.raises(Conflict):
        invoice_corrections.reissue_invoice(ports, deal.scene.staff, again.invoice_id)  # not void


def test_a_handler_overtaken_mid_move_never_makes_the_agency_give_back_twice() -> None:
    """Handler A decides to take back the share of a first refund and stalls inside Stripe's call; meanwhile a
    second refund's handler B runs to the end. B must complete A's recorded move before deciding its own,
    so the agency gives back the share of both refunds once, not A's on top of B's."""
    deal, ports, stripe, sink, invoice_id = paid_invoice()
    invoice = deal.db.get_invoice(invoice_id)
    b, provider_id = invoice.breakdown, invoice.provider_invoice_id
    quarter = b.total_minor // 4

    def refund(n: int) -> tuple[bytes, str, bool]:
        note = CreditNoteRequest(provider_id, invoice_id, quarter, "order_change", "A day less", refund=True, key=f"test-note-{n}")
        ports.gateway.credit_invoice(note)
        return sink.of_type("charge.refunded")[-1]

    stalled, release = threading.Event(), threading.Event()

    class Stalling:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def reverse_transfer(self, *args: Any, **kwargs: Any) -> str:
            stalled.set()
            release.wait(10)
            return str(self.inner.reverse_transfer(*args, **kwargs))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    first = refund(1)
    a = threading.Thread(target=post, args=(dataclasses.replace(ports, gateway=Stalling(ports.gateway)), first))
    a.start()
    assert stalled.wait(10)
    assert post(ports, refund(2)) == "applied"  # B, while A waits inside Stripe's call
    release.set()
    a.join()
    share = (2 * 2 * quarter * b.agency_net_minor + b.total_minor) // (2 * b.total_minor)
    assert reversed_total(stripe) == share
    assert deal.db.get_invoice(invoice_id).held_back_minor == share


def test_the_credit_form_offers_the_reasons_the_platform_and_stripe_take() -> None:
    from typing import get_args

    from chalicelib.domain.invoicing import CREDIT_NOTE_REASONS
    from chalicelib.schemas.timesheets import CreditNoteIn

    assert get_args(CreditNoteIn.model_fields["reason"].annotation) == CREDIT_NOTE_REASONS


# --- failures between the platform and the provider ---------------------------------------------------


class Failing:
    """The gateway with one method failing after (or instead of) doing its work, as a lost reply or a crash."""

    def __init__(self, inner: Any, method: str, *, after: bool, error: Exception) -> None:
        self.inner, self.method, self.after, self.error = inner, method, after, error

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        def failing(*args: Any, **kwargs: Any) -> Any:
            if self.after:
                real(*args, **kwargs)
            raise self.error

        return failing


def test_a_credit_retried_after_its_reply_was_lost_is_made_once() -> None:
    deal, ports, stripe, _, invoice_id = paid_invoice()
    lost = dataclasses.replace(ports, gateway=Failing(ports.gateway, "credit_invoice", after=True, error=UpstreamUnavailable("timeout")))
    with pytest.raises(UpstreamUnavailable):
        invoice_corrections.credit_invoice(lost, deal.scene.staff, invoice_id, 500, "duplicate", "Charged twice")
    credited = invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 500, "duplicate", "Charged twice")  # the retry
    assert len(stripe.objects("credit_note")) == 1 and stripe.objects("charge")[0]["amount_refunded"] == 500
    assert [(c.amount_minor, c.credit_note_id is not None) for c in credited.credit_notes] == [(500, True)]


def test_a_credit_left_unconfirmed_is_completed_by_whoever_credits_next() -> None:
    deal, ports, stripe, _, invoice_id = paid_invoice()
    lost = dataclasses.replace(ports, gateway=Failing(ports.gateway, "credit_invoice", after=True, error=UpstreamUnavailable("timeout")))
    with pytest.raises(UpstreamUnavailable):
        invoice_corrections.credit_invoice(lost, deal.scene.staff, invoice_id, 500, "duplicate", "Charged twice")
    # Another credit, by anyone: the first is completed under its key (not made again), then the second made.
    invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 700, "order_change", "Two hours less")
    assert sorted(n["amount"] for n in stripe.objects("credit_note")) == [500, 700]
    assert all(c.credit_note_id for c in deal.db.get_invoice(invoice_id).credit_notes)
    deal.scene.world.clock.advance(minutes=11)  # the same credit again, later, is a new one
    invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 500, "duplicate", "Charged twice")
    assert len(stripe.objects("credit_note")) == 3


def test_a_credit_unconfirmed_for_a_day_is_looked_for_not_made_again() -> None:
    deal, ports, stripe, _, invoice_id = paid_invoice()
    lost = dataclasses.replace(ports, gateway=Failing(ports.gateway, "credit_invoice", after=True, error=UpstreamUnavailable("timeout")))
    with pytest.raises(UpstreamUnavailable):
        invoice_corrections.credit_invoice(lost, deal.scene.staff, invoice_id, 500, "duplicate", "Charged twice")
    with stripe._transaction() as state:
        state["idempotency"].clear()  # Stripe has forgotten the key
    deal.scene.world.clock.advance(hours=25)
    credited = invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 500, "duplicate", "Charged twice")
    assert len(stripe.objects("credit_note")) == 1 and credited.credit_notes[0].credit_note_id == stripe.objects("credit_note")[0]["id"]


def test_two_credits_racing_on_an_open_invoice_never_go_below_the_agencys_share() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    onboarded(deal, ports, stripe, sink)
    b = deal.db.get_invoice(invoice_id).breakdown
    room = b.total_minor - b.agency_net_minor

    class FirstCreditInBetween:
        """The second request reads the provider's invoice, then the first request runs to its end."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.done = inner, False

        def get_invoice(self, provider_invoice_id: str) -> Any:
            read = self.inner.get_invoice(provider_invoice_id)
            if not self.done:
                self.done = True
                invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, room // 2 + 1, "order_change", "first")
            return read

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    racing = dataclasses.replace(ports, gateway=FirstCreditInBetween(ports.gateway))
    with pytest.raises(InvalidInput):
        invoice_corrections.credit_invoice(racing, deal.scene.staff, invoice_id, room // 2 + 1, "order_change", "second")
    assert stripe.get(deal.db.get_invoice(invoice_id).provider_invoice_id)["amount_remaining"] >= b.agency_net_minor


def test_a_voided_credit_note_no_longer_counts_as_returned() -> None:
    deal, ports, stripe, sink, invoice_id = setup()
    onboarded(deal, ports, stripe, sink)
    invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 1000, "order_change", "A day less")
    provider_id = deal.db.get_invoice(invoice_id).provider_invoice_id
    with stripe._transaction() as state:  # what voiding the credit note in Stripe's dashboard does to the invoice
        invoice = state["objects"][provider_id]
        invoice["pre_payment_credit_notes_amount"] -= 1000
        invoice["amount_due"] += 1000
        invoice["amount_remaining"] += 1000
    deal.scene.world.clock.advance(seconds=1)
    agency_share.settle_share(ports, invoice_id, agency_share.fetch_facts(ports, provider_invoice_id=provider_id))  # credit_note.voided
    assert deal.db.get_invoice(invoice_id).returned_to_client_minor == 0
    stripe.pay_invoice(provider_id)
    post_all(ports, sink, "invoice.paid")
    assert reversed_total(stripe) == 0  # the client paid it all: the agency keeps all of its share


def test_an_older_fetch_applied_late_does_not_undo_a_newer_one() -> None:
    deal, ports, _, _, invoice_id = paid_invoice()
    provider_id = deal.db.get_invoice(invoice_id).provider_invoice_id
    old = agency_share.fetch_facts(ports, provider_invoice_id=provider_id)  # before the refund
    deal.scene.world.clock.advance(seconds=1)
    total = deal.db.get_invoice(invoice_id).breakdown.total_minor
    invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, total // 2, "order_change", "Half")
    agency_share.settle_share(ports, invoice_id, old)  # its reply overtaken
    invoice = deal.db.get_invoice(invoice_id)
    assert (invoice.credited_after_payment_minor, invoice.refunded_minor) == (total // 2, total // 2)


def test_a_move_the_provider_refuses_waits_for_the_reconciliation_without_holding_anything_up() -> None:
    deal, ports, stripe, sink, invoice_id = paid_invoice()
    invoice = deal.db.get_invoice(invoice_id)
    account = ports.payments.get_payout_account(invoice.agency_id)
    assert account is not None
    dispute = stripe.dispute(invoice.provider_invoice_id)
    post_all(ports, sink, "charge.dispute.created")

    def transfers(status: str) -> None:
        with stripe._transaction() as state:
            state["objects"][account.account_id]["capabilities"]["transfers"] = status

    transfers("inactive")  # the agency's account is restricted for a while
    stripe.close_dispute(dispute["id"], won=True)
    assert post_all(ports, sink, "charge.dispute.closed") == ["applied"]  # handled; the restoration waits
    waiting = deal.db.get_invoice(invoice_id)
    assert waiting.share_move is None and waiting.share_refused and waiting.dispute_status == "won"
    assert [n.user_id for n in deal.notices("share_move_refused")] == [deal.scene.staff.user_id]
    assert [i.invoice_id for i in ports.payments.list_settling_invoices()] == [invoice_id]
    # Staff credit meanwhile: the credit is made and answered, the share waits for the account.
    credited = invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 500, "order_change", "x")
    assert len(stripe.objects("credit_note")) == 1 and credited.credit_notes[0].credit_note_id
    transfers("active")  # fixed: the next try has a new key, so Stripe's stored refusal is not replayed
    assert payment_events.reconcile_invoices(ports)["shares_settled"] == 0  # not before the back-off
    deal.scene.world.clock.advance(hours=1)
    assert payment_events.reconcile_invoices(ports)["shares_settled"] == 1
    settled = deal.db.get_invoice(invoice_id)
    assert not settled.settling and settled.held_back_minor == settled.share_to_hold_back()
    assert transferred_net(stripe) == settled.breakdown.agency_net_minor - settled.held_back_minor


def test_a_move_completed_after_the_provider_forgot_its_key_is_not_made_twice() -> None:
    deal, ports, stripe, _, invoice_id = paid_invoice()
    total = deal.db.get_invoice(invoice_id).breakdown.total_minor
    crashing = dataclasses.replace(ports, gateway=Failing(ports.gateway, "reverse_transfer", after=True, error=RuntimeError("timed out")))
    invoice_corrections.credit_invoice(crashing, deal.scene.staff, invoice_id, total // 4, "order_change", "x")  # answered; the move waits
    assert deal.db.get_invoice(invoice_id).share_move is not None
    with stripe._transaction() as state:
        state["idempotency"].clear()  # more than a day later: Stripe has forgotten the keys
    deal.scene.world.clock.advance(hours=25)
    assert payment_events.reconcile_invoices(ports)["shares_settled"] == 1
    invoice = deal.db.get_invoice(invoice_id)
    assert invoice.share_move is None and reversed_total(stripe) == invoice.reversed_minor == invoice.share_to_hold_back()


def test_a_credit_the_provider_refuses_holds_nothing_up_and_never_shows_as_made() -> None:
    deal, ports, stripe, _, invoice_id = paid_invoice()
    refusing = dataclasses.replace(
        ports, gateway=Failing(ports.gateway, "credit_invoice", after=False, error=PaymentRejected("refused", code="charge_disputed"))
    )
    with pytest.raises(PaymentRejected):
        invoice_corrections.credit_invoice(refusing, deal.scene.staff, invoice_id, 500, "duplicate", "Charged twice")
    assert [e.refused is not None for e in deal.db.get_invoice(invoice_id).credit_notes] == [True]
    # Being made meanwhile: a second credit waits; the invoice reads without the unmade notes.
    lost = dataclasses.replace(ports, gateway=Failing(ports.gateway, "credit_invoice", after=False, error=UpstreamUnavailable("down")))
    with pytest.raises(UpstreamUnavailable):
        invoice_corrections.credit_invoice(lost, deal.scene.staff, invoice_id, 300, "duplicate", "Another")
    from chalicelib.api.timesheets import _invoice_out

    assert _invoice_out(deal.db.get_invoice(invoice_id)).credit_notes == []
    made = invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, 300, "duplicate", "Another")  # its retry
    assert [(c.sequence, c.credit_note_id is not None) for c in made.credit_notes] == [(1, False), (2, True)]
    assert len(stripe.objects("credit_note")) == 1


def test_a_busy_answer_from_stripe_is_retried_not_taken_as_a_refusal() -> None:
    """Stripe answers 409 while a request with the same key is still being worked on: nothing may be concluded,
    so the move stays as decided (same key) instead of being refused and made again under a new one."""
    deal, ports, stripe, _, invoice_id = paid_invoice()
    total = deal.db.get_invoice(invoice_id).breakdown.total_minor
    stripe.fail_next("POST", "/reversals", status=409)
    invoice_corrections.credit_invoice(ports, deal.scene.staff, invoice_id, total // 4, "order_change", "x")
    waiting = deal.db.get_invoice(invoice_id)
    assert waiting.share_move is not None and waiting.share_refusals == 0
    assert payment_events.reconcile_invoices(ports)["shares_settled"] == 1
    assert reversed_total(stripe) == deal.db.get_invoice(invoice_id).share_to_hold_back()


def test_a_late_event_about_an_earlier_dispute_does_not_replace_a_later_one() -> None:
    deal, ports, stripe, sink, invoice_id = paid_invoice()
    provider_id = deal.db.get_invoice(invoice_id).provider_invoice_id
    first = stripe.dispute(provider_id)
    stripe.close_dispute(first["id"], won=True)
    post_all(ports, sink, "charge.dispute.closed")
    deal.scene.world.clock.advance(minutes=5)
    with stripe._transaction() as state:  # the charge is disputed again, later (a chargeback after an inquiry)
        state["objects"][first["charge"]]["disputed"] = False
    second = stripe.dispute(provider_id)
    with stripe._transaction() as state:
        state["objects"][second["id"]]["created"] = state["objects"][first["id"]]["created"] + 60
    assert post(ports, sink.of_type("charge.dispute.created")[-1]) == "applied"
    assert post(ports, as_new_event(sink.of_type("charge.dispute.closed")[0])) == "stale"  # the first, redelivered late
    invoice = deal.db.get_invoice(invoice_id)
    assert (invoice.dispute_id, invoice.dispute_status) == (second["id"], "needs_response")
    assert transferred_net(stripe) == 0  # the second dispute holds the money: so does the platform


def test_a_failed_refund_gives_the_agency_its_share_again() -> None:
    import json

    deal, ports, stripe, sink, invoice_id = paid_invoice()
    invoice = deal.db.get_invoice(invoice_id)
    refund = stripe.refund(invoice.provider_invoice_id)
    post_all(ports, sink, "charge.refunded")
    assert transferred_net(stripe) == 0
    with stripe._transaction() as state:  # the refund failed at the client's bank: the money is the platform's again
        state["objects"][refund["id"]]["status"] = "failed"
        state["objects"][refund["charge"]]["amount_refunded"] = 0
    deal.scene.world.clock.advance(minutes=1)
    event = {
        "id": "evt_refund_failed",
        "object": "event",
        "type": "charge.refund.updated",
        "created": int(time.time()),
        "data": {"object": {"id": refund["id"], "object": "refund", "charge": refund["charge"], "status": "failed"}},
    }
    payload = json.dumps(event).encode()
    assert post(ports, (payload, sign_payload(payload, SECRETS[0], int(time.time())), False)) == "applied"
    settled = deal.db.get_invoice(invoice_id)
    assert settled.refunded_minor == 0 and settled.held_back_minor == 0
    assert transferred_net(stripe) == settled.breakdown.agency_net_minor
