"""Changes to an active engagement: proposed by a party, agreed by all three, signed as addenda to both
contracts through the same signature flow, applied once both are signed; declines, withdrawals, the end
of the engagement meanwhile, who may do what, and the races between them."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest

from chalicelib.domain.contracts import Contract, ContractParty, ContractStatus, EngagementStatus, Pricing, RateChange
from chalicelib.domain.engagement_changes import ChangeKind, ChangeParty, ChangeStatus, EngagementChange, ProposedTerms
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.signing import EnvelopeState
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.services import engagement_changes as changes
from chalicelib.services import engagement_end, signing, timesheets
from chalicelib.services.engagement_changes import ChangePorts
from tests.unit.test_contracts import SIGNER_CTX, _pdf_text
from tests.unit.test_reviews import STRANGERS, TODAY, Ended, racing, signed

LAST_DAY = date(2026, 12, 31)
EXTENDED = date(2027, 3, 31)


class Changed:
    """An active engagement (hourly, 1 000 SEK an hour, 2026-10-01 to 2026-12-31) and its changes."""

    def __init__(self, e: Ended) -> None:
        self.e = e
        self.ports = ChangePorts(e.deal.ports, e.deal.db)

    @property
    def db(self) -> Any:
        return self.e.deal.db

    def propose(self, who: Principal, end_date: date = EXTENDED, reason: str = "The project grows", **more: Any) -> EngagementChange:
        return changes.propose_change(self.ports, who, self.e.id, ProposedTerms(end_date, **more), reason)

    def agree(self, who: Principal, change: EngagementChange) -> EngagementChange:
        return changes.answer_change(self.ports, who, self.e.id, change.change_id, agree=True)

    def agreed(self, change: EngagementChange) -> EngagementChange:
        """Every party still waited for agrees."""
        by_party = {ChangeParty.CLIENT: self.e.client, ChangeParty.AGENCY: self.e.agency, ChangeParty.CONSULTANT: self.e.consultant}
        for party in sorted(change.waiting_for):
            change = self.agree(by_party[party], change)
        return change

    def stored(self, change_id: str) -> EngagementChange:
        found = self.db.get_change(self.e.id, change_id)
        assert found is not None
        return found

    def addendum(self, change_id: str, party: ContractParty) -> Contract:
        found = self.db.get_contract(self.e.id, self.stored(change_id).addenda[party])
        assert found is not None
        return found

    def sign(self, change_id: str, parties: tuple[ContractParty, ...] = tuple(ContractParty)) -> None:
        """Every signer of the parties' addenda signs through the built-in signature; its webhooks are posted."""
        deal = self.e.deal
        deal.deliver()
        for party in parties:
            envelope = self.db.get_envelope(self.addendum(change_id, party).envelope_id)
            for recipient in envelope.recipients:
                token = deal._token(envelope, recipient.email)
                who = deal.principal(recipient.user_id)
                signing.sign(deal.signing, who, envelope.envelope_id, token, recipient.name, envelope.document_sha256, SIGNER_CTX)
        deal.deliver()

    def decline(self, change_id: str, party: ContractParty, who: Principal) -> None:
        """``who`` declines to sign the party's addendum, through the built-in signature; its webhook is posted."""
        deal = self.e.deal
        deal.deliver()
        envelope = self.db.get_envelope(self.addendum(change_id, party).envelope_id)
        email = next(r.email for r in envelope.recipients if r.user_id == who.user_id)
        signing.decline(deal.signing, who, envelope.envelope_id, deal._token(envelope, email), "Not these terms")
        deal.deliver()

    def notified(self, kind: str) -> set[str]:
        return {n.user_id for n in self.e.deal.notices(kind)}


@pytest.fixture
def c() -> Changed:
    return Changed(signed(LAST_DAY))


def everyone(c: Changed) -> set[str]:
    return {c.e.client.user_id, c.e.agency.user_id, c.e.consultant.user_id}


# --- the whole way --------------------------------------------------------------------------------------------


def test_an_extension_at_a_new_rate_is_agreed_by_all_three_signed_as_two_addenda_and_then_applies(c: Changed) -> None:
    change = c.propose(c.e.consultant, rate_minor=120_000, effective_from=date(2027, 1, 1))
    assert change.status is ChangeStatus.PROPOSED and change.kind is ChangeKind.EXTENSION
    assert change.waiting_for == {ChangeParty.CLIENT, ChangeParty.AGENCY}
    assert c.e.deal.engagement().open_change_id == change.change_id
    # The client's users and the agency's admins are asked; the consultant proposed.
    assert c.notified("engagement_change_proposed") == {c.e.client.user_id, c.e.agency.user_id}

    change = c.agree(c.e.agency, change)
    assert change.status is ChangeStatus.PROPOSED and change.waiting_for == {ChangeParty.CLIENT}
    change = c.agree(c.e.client, change)
    assert change.status is ChangeStatus.SIGNING and set(change.addenda) == set(ContractParty)

    for party in ContractParty:
        addendum = c.addendum(change.change_id, party)
        assert addendum.change_id == change.change_id and addendum.status is ContractStatus.SENT
        text = _pdf_text(c.e.deal.storage.versions[(addendum.document.key, addendum.document.version_id)])
        amended = c.db.get_contract(c.e.id, c.e.deal.engagement().contracts[party])
        assert changes.reference_of(amended) in text and "2027-03-31" in text
    # Nothing changes until both are signed.
    c.sign(change.change_id, (ContractParty.AGENCY,))
    assert c.stored(change.change_id).signed == {ContractParty.AGENCY}
    assert c.e.deal.engagement().terms.end_date == LAST_DAY

    c.sign(change.change_id, (ContractParty.CLIENT,))
    done = c.stored(change.change_id)
    assert done.status is ChangeStatus.SIGNED and done.signed_at is not None
    engagement = c.e.deal.engagement()
    assert engagement.terms.end_date == EXTENDED and engagement.open_change_id is None
    assert engagement.terms.rate_changes == (RateChange(date(2027, 1, 1), 120_000),)
    assert engagement.terms.rate_on(LAST_DAY) == 100_000 and engagement.terms.rate_on(date(2027, 1, 1)) == 120_000
    assert everyone(c) <= c.notified("engagement_changed")
    # The engagement's contracts in force are still the two signed ones; the addenda are listed beside them.
    assert all(
        not contract.is_addendum
        for contract in c.e.deal.ports.engagements.list_contracts(c.e.id)
        if contract.contract_id in engagement.contracts.values()
    )


def test_an_early_end_moves_the_last_day_and_the_job_ends_the_engagement_after_it(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.client, date(2026, 12, 4), reason="Budget cut"))
    assert change.kind is ChangeKind.EARLY_END and change.status is ChangeStatus.SIGNING
    c.sign(change.change_id)
    assert c.e.deal.engagement().terms.end_date == date(2026, 12, 4)
    c.e.clock.advance(days=7)  # 2026-12-04 12:00
    assert engagement_end.end_due_engagements(c.e.deal.ports) == 0
    c.e.clock.advance(days=1)
    assert engagement_end.end_due_engagements(c.e.deal.ports) == 1
    assert c.e.deal.engagement().status is EngagementStatus.ENDED and c.e.deal.engagement().last_day == date(2026, 12, 4)


def test_a_new_extent_alone_keeps_the_end_date(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.agency, LAST_DAY, share_of_full_time=50, effective_from=date(2026, 12, 1)))
    assert change.kind is ChangeKind.TERMS
    c.sign(change.change_id)
    terms = c.e.deal.engagement().terms
    assert terms.share_of_full_time == 50 and terms.end_date == LAST_DAY and terms.rate_changes == ()


def test_a_moved_end_date_asks_for_next_assignments_again(c: Changed) -> None:
    import dataclasses

    engagement = c.e.deal.engagement()
    c.db.items[("engagement", c.e.id)] = dataclasses.replace(engagement, next_assignments_suggested_at=c.e.clock())
    change = c.agreed(c.propose(c.e.client))
    c.sign(change.change_id)
    assert c.e.deal.engagement().next_assignments_suggested_at is None


# --- declined, withdrawn, lapsed -------------------------------------------------------------------------------


def test_a_decline_closes_the_change_tells_everyone_and_frees_the_engagement_for_another(c: Changed) -> None:
    change = c.propose(c.e.client)
    declined = changes.answer_change(c.ports, c.e.consultant, c.e.id, change.change_id, agree=False, reason="Other plans")
    assert declined.status is ChangeStatus.DECLINED and declined.close_reason == "Other plans"
    assert c.e.deal.engagement().open_change_id is None and c.e.deal.engagement().terms.end_date == LAST_DAY
    assert everyone(c) <= c.notified("engagement_change_declined")
    with pytest.raises(Conflict):
        c.agree(c.e.agency, declined)
    assert c.propose(c.e.client, date(2027, 2, 28)).status is ChangeStatus.PROPOSED


def test_the_proposer_withdraws_and_addenda_out_are_voided(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.client))
    withdrawn = changes.withdraw_change(c.ports, c.e.client, c.e.id, change.change_id, "Changed our mind")
    assert withdrawn.status is ChangeStatus.WITHDRAWN
    assert all(c.addendum(change.change_id, p).status is ContractStatus.VOIDED for p in ContractParty)
    assert c.e.deal.engagement().open_change_id is None
    assert everyone(c) <= c.notified("engagement_change_withdrawn")


def test_once_an_addendum_is_signed_only_staff_withdraw(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.client))
    c.sign(change.change_id, (ContractParty.AGENCY,))
    with pytest.raises(Conflict):
        changes.withdraw_change(c.ports, c.e.client, c.e.id, change.change_id, "Changed our mind")
    withdrawn = changes.withdraw_change(c.ports, c.e.staff, c.e.id, change.change_id, "The client will not sign")
    assert withdrawn.status is ChangeStatus.WITHDRAWN
    assert c.addendum(change.change_id, ContractParty.CLIENT).status is ContractStatus.VOIDED
    assert c.addendum(change.change_id, ContractParty.AGENCY).status is ContractStatus.COMPLETED
    assert c.e.deal.engagement().terms.end_date == LAST_DAY


def test_the_end_waits_for_addenda_being_signed_and_an_unanswered_change_lapses_with_it() -> None:
    c = Changed(signed(date(2026, 11, 30)))
    change = c.agreed(c.propose(c.e.client))
    c.e.clock.advance(days=4)  # 2026-12-01: the old last day is over
    assert engagement_end.end_due_engagements(c.e.deal.ports) == 0  # held: the extension is being signed
    c.sign(change.change_id)
    assert c.e.deal.engagement().status is EngagementStatus.ACTIVE and c.e.deal.engagement().terms.end_date == EXTENDED

    other = Changed(signed(LAST_DAY))
    proposed = other.propose(other.e.agency)
    other.e.clock.advance(days=35)
    assert engagement_end.end_due_engagements(other.e.deal.ports) == 1
    assert other.stored(proposed.change_id).status is ChangeStatus.LAPSED
    assert other.e.deal.engagement().open_change_id is None


def test_addenda_that_end_unsigned_no_longer_hold_the_end_and_staff_may_send_them_again(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.client))
    c.decline(change.change_id, ContractParty.CLIENT, c.e.client)
    assert c.addendum(change.change_id, ContractParty.CLIENT).status is ContractStatus.DECLINED
    assert c.e.staff.user_id in c.notified("contract_unsigned_agent") | c.notified("contract_unsigned")

    # Only staff send an addendum that ended unsigned again: a party's replayed agreement sends nothing.
    c.agree(c.e.consultant, change)
    assert c.addendum(change.change_id, ContractParty.CLIENT).status is ContractStatus.DECLINED
    again = changes.resend_addenda(c.ports, c.e.staff, c.e.id, change.change_id)
    resent = c.addendum(again.change_id, ContractParty.CLIENT)
    assert resent.version == 2 and resent.status is ContractStatus.SENT
    c.sign(change.change_id)
    assert c.stored(change.change_id).status is ChangeStatus.SIGNED

    # Declined and never sent again: the end is no longer held, and the change lapses with it.
    other = Changed(signed(LAST_DAY))
    stuck = other.agreed(other.propose(other.e.client))
    other.decline(stuck.change_id, ContractParty.AGENCY, other.e.agency)
    other.e.clock.advance(days=35)
    assert engagement_end.end_due_engagements(other.e.deal.ports) == 1
    assert other.stored(stuck.change_id).status is ChangeStatus.LAPSED


# --- what a change may be --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end_date", "more", "field"),
    [
        (TODAY - timedelta(days=1), {}, "end_date"),  # an early end in the past
        (LAST_DAY, {}, "end_date"),  # nothing changes
        (LAST_DAY, {"rate_minor": 100_000, "effective_from": date(2026, 12, 1)}, "rate_minor"),  # the same rate
        (EXTENDED, {"rate_minor": 120_000}, "effective_from"),  # a rate from no day
        (EXTENDED, {"effective_from": date(2027, 1, 1)}, "effective_from"),  # a day for nothing
        (EXTENDED, {"share_of_full_time": 50, "effective_from": TODAY - timedelta(days=1)}, "effective_from"),  # retroactive
        (EXTENDED, {"share_of_full_time": 50, "effective_from": date(2027, 4, 1)}, "effective_from"),  # after the end
    ],
)
def test_a_change_that_does_not_fit_is_refused_with_the_field(c: Changed, end_date: date, more: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        c.propose(c.e.client, end_date, **more)
    assert field in {issue.field for issue in refused.value.issues}
    assert c.e.deal.engagement().open_change_id is None and c.db.list_changes(c.e.id) == []


def test_a_fixed_fee_has_no_rate_to_change() -> None:
    c = Changed(signed(LAST_DAY, pricing=Pricing.FIXED, rate_minor=None, milestones=_milestones()))
    with pytest.raises(InvalidInput):
        c.propose(c.e.client, rate_minor=1, effective_from=date(2027, 1, 1))
    with pytest.raises(InvalidInput):  # its milestone is due on the last day: the fee would need changing too
        c.propose(c.e.client, date(2026, 12, 15))
    assert c.propose(c.e.client).kind is ChangeKind.EXTENSION


def _milestones() -> tuple[Any, ...]:
    from chalicelib.domain.contracts import Milestone

    return (Milestone("1", "Delivery", 5_000_000, LAST_DAY),)


def test_one_change_is_open_at_a_time_and_only_on_an_active_engagement(c: Changed) -> None:
    c.propose(c.e.client)
    with pytest.raises(Conflict):
        c.propose(c.e.agency, date(2027, 2, 28))
    from tests.unit.test_contracts import make_deal

    contracting = make_deal()
    with pytest.raises(Conflict):
        changes.propose_change(
            ChangePorts(contracting.ports, contracting.db), contracting.scene.buyer, contracting.engagement_id, ProposedTerms(EXTENDED), "x"
        )


def test_a_new_rate_never_reprices_time_already_invoiced(c: Changed) -> None:
    consultant, time = c.e.consultant, c.e.time
    c.e.clock.advance(days=3)  # 2026-11-30: November's last day, so November is submitted and invoiced today
    timesheets.report_time(time, consultant, c.e.id, date(2026, 11, 30), minutes=480, day_share=None, description="Work")
    timesheets.submit_period(time, consultant, c.e.id, "2026-11")
    timesheets.confirm_period(time, c.e.agency, c.e.id, "2026-11")
    with pytest.raises(Conflict, match="already invoiced"):
        c.propose(c.e.client, rate_minor=120_000, effective_from=date(2026, 11, 30))
    assert c.propose(c.e.client, rate_minor=120_000, effective_from=date(2026, 12, 1)).status is ChangeStatus.PROPOSED


# --- who may do what ---------------------------------------------------------------------------------------


def test_strangers_learn_nothing_and_staff_read_but_neither_propose_nor_answer(c: Changed) -> None:
    change = c.propose(c.e.client)
    for stranger in STRANGERS.values():
        with pytest.raises(NotFound):
            changes.get_change(c.ports, stranger, c.e.id, change.change_id)
        with pytest.raises(NotFound):
            changes.list_changes(c.ports, stranger, c.e.id)
        with pytest.raises(NotFound):
            c.propose(stranger)
        with pytest.raises(NotFound):
            c.agree(stranger, change)
        with pytest.raises(NotFound):
            changes.withdraw_change(c.ports, stranger, c.e.id, change.change_id, "x")
    assert changes.get_change(c.ports, c.e.staff, c.e.id, change.change_id).change_id == change.change_id
    with pytest.raises(Forbidden):
        c.agree(c.e.staff, change)
    with pytest.raises(Forbidden):
        changes.propose_change(c.ports, c.e.staff, c.e.id, ProposedTerms(EXTENDED), "x")
    with pytest.raises(Forbidden):  # a party, but not the proposer
        changes.withdraw_change(c.ports, c.e.agency, c.e.id, change.change_id, "x")
    with pytest.raises(Forbidden):
        changes.resend_addenda(c.ports, c.e.client, c.e.id, change.change_id)
    with pytest.raises(NotFound):
        changes.get_change(c.ports, c.e.client, c.e.id, "01JNOSUCHCHANGE00000000000")


def test_a_colleague_of_the_client_answers_for_the_company(c: Changed) -> None:
    change = c.propose(c.e.consultant)
    colleague = Principal("01JCOLLEAGUE0000000000000A", frozenset({Role.CLIENT}), c.e.client.org_id)
    assert ChangeParty.CLIENT not in c.agree(colleague, change).waiting_for


def test_the_addenda_are_read_by_their_parties_only(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.client))
    engagement = c.e.deal.engagement()
    seen = {
        name: {a.party for a in changes.visible_addenda(c.ports, who, engagement, change)}
        for name, who in {"client": c.e.client, "agency": c.e.agency, "consultant": c.e.consultant, "staff": c.e.staff}.items()
    }
    assert seen == {
        "client": {ContractParty.CLIENT},
        "agency": {ContractParty.AGENCY},
        "consultant": set(),
        "staff": set(ContractParty),
    }


# --- replays and races -----------------------------------------------------------------------------------------


def test_the_same_answer_again_is_a_replay_and_another_answer_a_conflict(c: Changed) -> None:
    change = c.propose(c.e.client)
    c.agree(c.e.agency, change)
    assert ChangeParty.AGENCY in c.agree(c.e.agency, change).answers
    with pytest.raises(Conflict):
        changes.answer_change(c.ports, c.e.agency, c.e.id, change.change_id, agree=False, reason="no")
    # The proposer's own agreement is recorded with the proposal.
    assert c.agree(c.e.client, change).status is ChangeStatus.PROPOSED


def test_a_replayed_last_agreement_sends_addenda_a_failed_send_left(c: Changed) -> None:
    change = c.agree(c.e.agency, c.propose(c.e.client))
    provider = c.e.deal.ports.providers("builtin")
    original = provider.create_envelope

    def down(*args: Any) -> Any:
        raise RuntimeError("provider down")

    provider.create_envelope = down
    with pytest.raises(RuntimeError):
        c.agree(c.e.consultant, change)
    provider.create_envelope = original
    assert c.stored(change.change_id).status is ChangeStatus.SIGNING
    assert all(c.addendum(change.change_id, p).status is ContractStatus.DRAFT for p in ContractParty)
    c.agree(c.e.consultant, change)
    assert all(c.addendum(change.change_id, p).status is ContractStatus.SENT for p in ContractParty)


def test_two_proposals_at_once_open_one_change(c: Changed) -> None:
    undo = racing(c.db, lambda: c.propose(c.e.agency, date(2027, 2, 28)))
    try:
        with pytest.raises(Conflict):
            c.propose(c.e.client)
    finally:
        undo()
    assert len(c.db.list_changes(c.e.id)) == 1


def test_the_last_two_agreements_at_once_send_one_pair_of_addenda(c: Changed) -> None:
    change = c.propose(c.e.client)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def answer(who: Principal) -> None:
        barrier.wait()
        try:
            c.agree(who, change)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=answer, args=(who,)) for who in (c.e.agency, c.e.consultant)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(e, Conflict) for e in errors)
    final = c.stored(change.change_id)
    if not errors:
        assert final.status is ChangeStatus.SIGNING
    addenda = [x for x in c.db._all("contract") if x.change_id == change.change_id]
    assert len(addenda) == (2 if final.status is ChangeStatus.SIGNING else 0)
    assert len([x for x in c.db._all("esign") if x.contract_id in {a.contract_id for a in addenda}]) == len(addenda)


def test_a_new_rate_joins_the_rates_agreed_before_in_day_order_and_replaces_one_of_the_same_day(c: Changed) -> None:
    import dataclasses

    later = RateChange(date(2027, 3, 1), 130_000)
    terms = dataclasses.replace(c.e.deal.engagement().terms, end_date=EXTENDED, rate_changes=(later,))
    applied = ProposedTerms(EXTENDED, rate_minor=120_000, effective_from=date(2027, 1, 1)).applied_to(terms)
    assert applied.rate_changes == (RateChange(date(2027, 1, 1), 120_000), later)
    assert [applied.rate_on(d) for d in (date(2026, 12, 31), date(2027, 2, 1), date(2027, 3, 1))] == [100_000, 120_000, 130_000]
    replaced = ProposedTerms(EXTENDED, rate_minor=125_000, effective_from=date(2027, 3, 1)).applied_to(terms)
    assert replaced.rate_changes == (RateChange(date(2027, 3, 1), 125_000),)


def test_a_new_rate_starts_no_earlier_than_one_agreed_before(c: Changed) -> None:
    c.sign(c.agreed(c.propose(c.e.client, rate_minor=120_000, effective_from=date(2026, 12, 15))).change_id)
    with pytest.raises(InvalidInput) as refused:
        c.propose(c.e.client, rate_minor=110_000, effective_from=date(2026, 12, 1))
    assert {i.field for i in refused.value.issues} == {"effective_from"}
    share = c.e.deal.engagement().terms.share_of_full_time
    with pytest.raises(InvalidInput) as same:
        c.propose(c.e.client, share_of_full_time=share, effective_from=date(2027, 1, 1))
    assert {i.field for i in same.value.issues} == {"share_of_full_time"}
    assert c.propose(c.e.client, rate_minor=110_000, effective_from=date(2026, 12, 15)).status is ChangeStatus.PROPOSED


def test_no_time_is_reported_after_an_early_end_being_signed_nor_an_agreement_given_after_its_day(c: Changed) -> None:
    early = c.agreed(c.propose(c.e.client, date(2026, 11, 28)))
    c.e.clock.advance(days=2)  # 2026-11-29
    with pytest.raises(Conflict, match="early end"):
        timesheets.report_time(c.e.time, c.e.consultant, c.e.id, date(2026, 11, 29), minutes=60, day_share=None, description="x")
    timesheets.report_time(c.e.time, c.e.consultant, c.e.id, date(2026, 11, 28), minutes=60, day_share=None, description="x")
    changes.withdraw_change(c.ports, c.e.client, c.e.id, early.change_id, "Not like this")

    late = c.propose(c.e.client, date(2026, 11, 30))
    c.agree(c.e.agency, late)
    c.e.clock.advance(days=2)  # 2026-12-01: the proposed last day is over before the last agreement
    with pytest.raises(Conflict, match="no longer fits"):
        c.agree(c.e.consultant, late)
    assert c.stored(late.change_id).status is ChangeStatus.PROPOSED
    assert not [x for x in c.db._all("contract") if x.change_id == late.change_id]


def test_addenda_are_not_sent_again_over_time_reported_after_the_early_end(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.client, date(2026, 11, 28)))
    c.decline(change.change_id, ContractParty.AGENCY, c.e.agency)
    c.e.clock.advance(days=2)
    # Nothing out for signature: the day after the proposed end is reported, so sending it again is refused.
    timesheets.report_time(c.e.time, c.e.consultant, c.e.id, date(2026, 11, 29), minutes=60, day_share=None, description="x")
    with pytest.raises(Conflict, match="after the proposed last day"):
        changes.resend_addenda(c.ports, c.e.staff, c.e.id, change.change_id)


def test_a_withdrawal_refused_for_a_signature_on_its_way_voids_nothing(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.client))
    c.e.deal.deliver()
    envelope = c.db.get_envelope(c.addendum(change.change_id, ContractParty.CLIENT).envelope_id)
    for recipient in envelope.recipients:  # signed at the provider; its webhook not delivered yet
        token = c.e.deal._token(envelope, recipient.email)
        who = c.e.deal.principal(recipient.user_id)
        signing.sign(c.e.deal.signing, who, envelope.envelope_id, token, recipient.name, envelope.document_sha256, SIGNER_CTX)
    for who in (c.e.client, c.e.staff):
        with pytest.raises(Conflict, match="just signed"):
            changes.withdraw_change(c.ports, who, c.e.id, change.change_id, "Changed our mind")
    agency_addendum = c.addendum(change.change_id, ContractParty.AGENCY)
    assert agency_addendum.status is ContractStatus.SENT
    assert c.db.get_envelope(agency_addendum.envelope_id).status is EnvelopeState.SENT  # not voided at the provider either
    c.e.deal.deliver()
    assert c.addendum(change.change_id, ContractParty.CLIENT).status is ContractStatus.COMPLETED
    withdrawn = changes.withdraw_change(c.ports, c.e.staff, c.e.id, change.change_id, "The agency will not sign")
    assert withdrawn.status is ChangeStatus.WITHDRAWN
    assert c.addendum(change.change_id, ContractParty.AGENCY).status is ContractStatus.VOIDED


def test_the_jobs_send_addenda_a_failed_send_left_and_the_end_waits_for_them() -> None:
    c = Changed(signed(date(2026, 11, 30)))
    change = c.agree(c.e.agency, c.propose(c.e.client))
    provider = c.e.deal.ports.providers("builtin")
    original = provider.create_envelope
    provider.create_envelope = lambda *args: (_ for _ in ()).throw(RuntimeError("provider down"))
    try:
        with pytest.raises(RuntimeError):
            c.agree(c.e.consultant, change)
        assert changes.send_agreed_addenda(c.ports) == 0  # still down: logged, tried again next run
    finally:
        provider.create_envelope = original
    c.e.clock.advance(days=4)
    assert engagement_end.end_due_engagements(c.e.deal.ports) == 0  # held: the addenda are yet to go out
    assert all(c.addendum(change.change_id, p).status is ContractStatus.DRAFT for p in ContractParty)
    assert changes.send_agreed_addenda(c.ports) == 1
    assert all(c.addendum(change.change_id, p).status is ContractStatus.SENT for p in ContractParty)
    assert changes.send_agreed_addenda(c.ports) == 0  # nothing left to send
    c.sign(change.change_id)
    assert c.e.deal.engagement().terms.end_date == EXTENDED and engagement_end.end_due_engagements(c.e.deal.ports) == 0


def test_a_change_still_proposed_at_the_end_lapses_and_everyone_is_told(c: Changed) -> None:
    change = c.propose(c.e.agency)
    c.e.clock.advance(days=35)
    assert engagement_end.end_due_engagements(c.e.deal.ports) == 1
    assert c.stored(change.change_id).status is ChangeStatus.LAPSED
    assert everyone(c) <= c.notified("engagement_change_lapsed")


def _failing_sends(c: Changed, fail: int, after: int = 0) -> Any:
    """After ``after`` envelopes made, the provider's next ``fail`` fail (then it works again); returns the undo."""
    provider = c.e.deal.ports.providers("builtin")
    original, calls = provider.create_envelope, []

    def create(*args: Any) -> Any:
        calls.append(1)
        if after < len(calls) <= after + fail:
            raise RuntimeError("provider down")
        return original(*args)

    provider.create_envelope = create
    return lambda: setattr(provider, "create_envelope", original)


def test_a_draft_left_beside_an_addendum_that_ended_unsigned_waits_for_staff(c: Changed) -> None:
    change = c.agree(c.e.agency, c.propose(c.e.client, rate_minor=120_000, effective_from=date(2026, 11, 30)))
    undo = _failing_sends(c, fail=1, after=1)  # the first addendum goes out, the second does not
    try:
        with pytest.raises(RuntimeError):
            c.agree(c.e.consultant, change)
    finally:
        undo()
    kinds = {p: c.addendum(change.change_id, p).status for p in ContractParty}
    assert sorted(kinds.values()) == [ContractStatus.DRAFT, ContractStatus.SENT]
    sent_party = next(p for p, s in kinds.items() if s is ContractStatus.SENT)
    c.decline(change.change_id, sent_party, c.e.agency if sent_party is ContractParty.AGENCY else c.e.client)
    # Nothing is being signed now: the time of the rate's day is invoiced at the old rate...
    c.e.clock.advance(days=3)  # 2026-11-30
    timesheets.report_time(c.e.time, c.e.consultant, c.e.id, date(2026, 11, 30), minutes=60, day_share=None, description="x")
    timesheets.submit_period(c.e.time, c.e.consultant, c.e.id, "2026-11")
    timesheets.confirm_period(c.e.time, c.e.agency, c.e.id, "2026-11")
    # ...so the draft left behind is sent by nobody, and staff may no longer send both again.
    assert changes.send_agreed_addenda(c.ports) == 0
    c.agree(c.e.consultant, change)
    unsent = next(p for p in ContractParty if p is not sent_party)
    assert c.addendum(change.change_id, unsent).status is ContractStatus.DRAFT
    with pytest.raises(Conflict, match="already invoiced"):
        changes.resend_addenda(c.ports, c.e.staff, c.e.id, change.change_id)


def test_time_reported_while_staff_send_an_early_end_again_refuses_the_send(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.client, date(2026, 11, 28)))
    c.decline(change.change_id, ContractParty.AGENCY, c.e.agency)
    c.e.clock.advance(days=2)  # 2026-11-29

    def report() -> None:
        timesheets.report_time(c.e.time, c.e.consultant, c.e.id, date(2026, 11, 29), minutes=60, day_share=None, description="x")

    undo = racing(c.db, report, when=lambda writes: any(getattr(e, "change_id", None) == change.change_id for e, _ in writes.writes))
    try:
        with pytest.raises(Conflict, match="after the proposed last day"):
            changes.resend_addenda(c.ports, c.e.staff, c.e.id, change.change_id)
    finally:
        undo()
    assert c.addendum(change.change_id, ContractParty.AGENCY).version == 1


def test_a_change_lapsing_at_the_end_voids_its_addendum_still_out(c: Changed) -> None:
    change = c.agreed(c.propose(c.e.client))
    c.decline(change.change_id, ContractParty.AGENCY, c.e.agency)
    c.e.clock.advance(days=35)
    assert engagement_end.end_due_engagements(c.e.deal.ports) == 1
    assert c.stored(change.change_id).status is ChangeStatus.LAPSED
    client_addendum = c.addendum(change.change_id, ContractParty.CLIENT)
    assert client_addendum.status is ContractStatus.VOIDED
    assert c.db.get_envelope(client_addendum.envelope_id).status is EnvelopeState.VOIDED


def test_addenda_never_sent_hold_the_end_no_longer_than_signing_may_take() -> None:
    c = Changed(signed(date(2026, 11, 30)))
    change = c.agree(c.e.agency, c.propose(c.e.client))
    _failing_sends(c, fail=1000)  # down for good
    with pytest.raises(RuntimeError):
        c.agree(c.e.consultant, change)
    c.e.clock.advance(days=4)
    assert engagement_end.end_due_engagements(c.e.deal.ports) == 0
    c.e.clock.advance(days=11)  # agreed 15 days ago
    assert engagement_end.end_due_engagements(c.e.deal.ports) == 1
    assert c.stored(change.change_id).status is ChangeStatus.LAPSED


def test_the_consultants_export_carries_the_changes_of_their_engagements(c: Changed) -> None:
    from chalicelib.services import privacy

    change = c.propose(c.e.client)
    changes.answer_change(c.ports, c.e.consultant, c.e.id, change.change_id, agree=False, reason="Other plans")
    world = c.e.deal.scene.world
    export = privacy.export_personal_data(world.profiles, world.consents.audit, c.e.consultant, world.db, world.db, world.db, world.db)
    [exported] = export.engagement_changes
    assert exported.change_id == change.change_id and exported.answers[ChangeParty.CONSULTANT].reason == "Other plans"
