"""Candidacies, disclosure consents, proposals and interviews: the path from a match to an accepted
candidate, each refusal on the way, and that no profile reaches a client without both consents."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.domain.assignments import Assignment, AssignmentStatus, MatchRun
from chalicelib.domain.consent import ConsentAction, ConsentPurpose, in_force
from chalicelib.domain.identity import Principal, RequestContext, Role
from chalicelib.domain.money import HourlyRate, RateBreakdown
from chalicelib.domain.proposals import CandidacyStatus, InterviewOutcome, InterviewStatus, Party, Slot
from chalicelib.domain.resume import ResumePart
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.schemas.profiles import ProfileIn
from chalicelib.services import assignments, candidacies, consents, interviews, matching, profiles, proposals
from chalicelib.services.candidacies import CandidacyPorts
from chalicelib.services.matching import IndexingPorts, MatchingPorts
from chalicelib.services.ports import Changes
from tests.fakes import InMemoryMatchIndex, World, make_world
from tests.unit.test_assignments import client, post
from tests.unit.test_profiles import FULL
from tests.unit.test_registration import CTX, invite, principal_of, register_agency, register_invited, staff
from tests.unit.test_resume import EXAMPLES, add

RATE = HourlyRate(100_000, "SEK")


@dataclass
class Scene:
    world: World
    ports: CandidacyPorts
    agency_admin: Principal
    consultants: list[Principal]
    buyer: Principal
    assignment: Assignment
    run: MatchRun
    staff: Principal

    def shortlist(self, n: int, rate: HourlyRate | None = None) -> str:
        c = candidacies.shortlist(self.ports, self.staff, self.assignment.assignment_id, self.run.run_id, self.consultants[n].user_id, rate)
        return c.candidacy_id

    def asked(self, n: int) -> str:
        candidacy_id = self.shortlist(n)
        candidacies.request_consents(self.ports, self.staff, candidacy_id, None)
        return candidacy_id

    def consent(self, who: Principal, candidacy_id: str, rate: HourlyRate = RATE) -> Any:
        return candidacies.answer_request(self.ports, who, candidacy_id, consent=True, rate_seen=rate, reason=None, ctx=CTX)

    def consented(self, n: int) -> str:
        candidacy_id = self.asked(n)
        self.consent(self.consultants[n], candidacy_id)
        self.consent(self.agency_admin, candidacy_id)
        return candidacy_id

    def send(self, *candidacy_ids: str) -> proposals.SendOutcome:
        return proposals.send_proposal(self.ports, self.staff, self.assignment.assignment_id, list(candidacy_ids), None)

    def mails(self, to: str) -> list[Any]:
        return [m for m in self.world.db.outbox() if m.to == to]


NAMES = ["Cecilia Lindqvist", "Hugo Berg", "Ines Holm"]


def make_scene(people: int = 2) -> Scene:
    world = make_world()
    index = InMemoryMatchIndex()
    indexing = IndexingPorts(world.db, world.db, world.consents.ledger, index)
    agency = register_agency(world)
    consultants = []
    for n in range(people):
        email = f"c{n}@consultant.example"
        person = principal_of(register_invited(world, email, invite(world, agency, email)))
        form = {**FULL, "name": NAMES[n], "expected_hourly_rate": {"amount_minor": RATE.amount_minor, "currency": "SEK"}}
        form["summary"] = "Ten years of AWS. Mail me at cecilia@home.example or call +46 70 123 45 67."
        profiles.save_my_profile(world.profiles, person, ProfileIn.model_validate(form))
        for skill in ("Kubernetes", "Terraform", "AWS"):
            add(world, person, person.user_id, ResumePart.SKILLS, {"name": skill, "level": 4, "years": 3})
        add(world, person, person.user_id, ResumePart.EXPERIENCE, EXAMPLES[ResumePart.EXPERIENCE])
        add(world, person, person.user_id, ResumePart.PORTFOLIO, EXAMPLES[ResumePart.PORTFOLIO])
        matching.reindex_consultant(indexing, person.user_id)
        consultants.append(person)
    buyer = client(world)
    assert buyer.org_id is not None
    assignment = post(world, buyer, buyer.org_id)
    assignments.move_assignment(world.assignments, buyer, assignment.assignment_id, AssignmentStatus.OPEN)
    reviewer = staff(world)
    run = matching.run_match(
        MatchingPorts(world.assignments, indexing, "in-memory", "test"),
        reviewer,
        assignment.assignment_id,
        limit=10,
        offset=0,
        min_required_coverage=0.0,
    ).run
    ports = CandidacyPorts(world.assignments, world.db, world.db, world.consents.ledger, commission_bps=1500)
    return Scene(world, ports, principal_of(agency), consultants, buyer, assignment, run, reviewer)


@pytest.fixture
def scene() -> Scene:
    return make_scene()


def test_the_full_path_from_shortlist_to_an_accepted_candidate(scene: Scene) -> None:
    cecilia, hugo = scene.consultants
    first, second = scene.asked(0), scene.asked(1)
    # Both parties are asked, by e-mail and in-app, with the client, the assignment and the rate's breakdown.
    [request] = scene.mails("c0@consultant.example")[-1:]
    assert "1000.00 SEK" in request.text and "150.00 SEK" in request.text and "850.00 SEK" in request.text
    assert scene.mails("admin@acme.example")

    scene.consent(cecilia, first)
    half = scene.ports.proposals.get_candidacy(first)
    assert half is not None and half.status is CandidacyStatus.CONSENT_REQUESTED  # the agency has not answered
    both = scene.consent(scene.agency_admin, first)
    assert both.status is CandidacyStatus.CONSENTED and both.consented_by_both and both.expires_at is None
    declined = candidacies.answer_request(scene.ports, hugo, second, consent=False, rate_seen=None, reason="busy", ctx=CTX)
    assert declined.status is CandidacyStatus.DECLINED and declined.declined_by == "consultant"

    # Each consent is a ledger entry naming the client, the assignment and the rate.
    [given] = in_force(scene.world.consents.ledger.list_for_subject(cecilia.user_id), ConsentPurpose.PROFILE_DISCLOSURE)
    assert (given.given.client_id, given.given.assignment_id, given.given.hourly_rate) == (
        scene.buyer.org_id,
        scene.assignment.assignment_id,
        RATE,
    )
    assert scene.agency_admin.org_id is not None
    assert in_force(scene.world.consents.ledger.list_for_subject(scene.agency_admin.org_id), ConsentPurpose.PROFILE_DISCLOSURE)

    outcome = scene.send(first, second)
    assert outcome.proposal.candidacy_ids == (first,)
    assert [(s.candidacy_id, s.reason) for s in outcome.skipped] == [(second, "the candidacy is declined")]
    assert scene.mails("buyer@client.example")

    # The client sees exactly the consented candidate, redacted, with the rate and the commission.
    assert scene.buyer.org_id is not None
    [listed] = proposals.list_client_proposals(scene.ports, scene.buyer, scene.buyer.org_id)
    view = proposals.get_proposal(scene.ports, scene.buyer, listed.proposal_id)
    [card] = view.candidates
    assert (card.display_name, card.title, card.disclosed) == ("Cecilia L.", "Cloud architect", True)
    assert card.breakdown == RateBreakdown(RATE, 1500, 15_000, 85_000)
    profile = proposals.candidate_profile(scene.ports, scene.buyer, listed.proposal_id, first)
    assert profile.summary is not None and "cecilia@home.example" not in profile.summary and "123 45" not in profile.summary
    assert [s["name"] for s in profile.skills] == ["Kubernetes", "Terraform", "AWS"] and profile.experience
    assert "Lindqvist" not in repr(profile) and "c0@consultant.example" not in repr(profile) and "'url'" not in repr(profile)
    with pytest.raises(NotFound):
        proposals.candidate_profile(scene.ports, scene.buyer, listed.proposal_id, second)

    # The disclosure is recorded in the person's partition, with the consents it rested on, and audited.
    [disclosure] = scene.world.db.list_disclosures(cecilia.user_id)
    assert disclosure.client_id == scene.buyer.org_id and given.given.entry_id in disclosure.consent_entry_ids
    assert any(a.action.value == "profile.disclosed" for a in scene.world.consents.audit.list_for_subject(cecilia.user_id))

    # An interview with the Consultant Agent: everyone invited gets an iCalendar invitation.
    agent = staff(scene.world)
    interviews.set_consultant_agent(scene.ports, scene.staff, cecilia.user_id, agent.user_id, "Knows AWS clients well")
    start = scene.world.clock() + timedelta(days=3)
    slots = [Slot(start, start + timedelta(hours=1)), Slot(start + timedelta(days=1), start + timedelta(days=1, hours=1))]
    asked = interviews.request_interview(scene.ports, scene.buyer, listed.proposal_id, first, slots, "Teams")
    assert asked.status is InterviewStatus.REQUESTED
    booked = interviews.schedule_interview(scene.ports, cecilia, asked.interview_id, slots[1].starts_at)
    assert booked.status is InterviewStatus.SCHEDULED and booked.agent_id == agent.user_id and booked.slot == slots[1]
    candidacy = scene.ports.proposals.get_candidacy(first)
    assert candidacy is not None and candidacy.status is CandidacyStatus.INTERVIEW_SCHEDULED
    for address in ("buyer@client.example", "c0@consultant.example", "staff@customersonly.example"):
        [invitation] = [m for m in scene.mails(address) if m.attachments]
        [ics] = invitation.attachments
        assert (
            ics.content_type.startswith("text/calendar") and f"UID:{booked.calendar_uid}" in ics.content and "METHOD:REQUEST" in ics.content
        )

    # Each copy names only its recipient: nobody learns the other side's name or address before a contract.
    def everything_mailed_to(address: str) -> str:
        return "".join(m.text + "".join(a.content for a in m.attachments) for m in scene.mails(address)).replace("\r\n ", "")

    assert "c0@consultant.example" not in everything_mailed_to("buyer@client.example")
    assert "Lindqvist" not in everything_mailed_to("buyer@client.example")
    assert "buyer@client.example" not in everything_mailed_to("c0@consultant.example")

    scene.world.clock.advance(days=5)
    done = interviews.record_outcome(scene.ports, agent, asked.interview_id, InterviewOutcome.POSITIVE, "Strong on EKS")
    assert done.status is InterviewStatus.COMPLETED and done.notes == "Strong on EKS"

    accepted = proposals.decide(scene.ports, scene.buyer, listed.proposal_id, first, accept=True, reason=None)
    assert accepted.status is CandidacyStatus.ACCEPTED
    assert (
        proposals.decide(scene.ports, scene.buyer, listed.proposal_id, first, accept=True, reason=None).status is CandidacyStatus.ACCEPTED
    )
    with pytest.raises(Conflict) as refused:
        proposals.decide(scene.ports, scene.buyer, listed.proposal_id, first, accept=False, reason="changed our mind")
    assert refused.value.current_state == "accepted"


def test_the_rate_is_the_agencys_and_a_new_one_voids_both_consents(scene: Scene) -> None:
    cecilia = scene.consultants[0]
    candidacy_id = scene.consented(0)
    with pytest.raises(NotFound):  # the consultant sees the rate; the agency sets it
        candidacies.set_rate(scene.ports, cecilia, candidacy_id, HourlyRate(110_000, "SEK"))
    with pytest.raises(InvalidInput):  # in the assignment's currency
        candidacies.set_rate(scene.ports, scene.agency_admin, candidacy_id, HourlyRate(110_000, "EUR"))
    changed = candidacies.set_rate(scene.ports, scene.agency_admin, candidacy_id, HourlyRate(110_000, "SEK"))
    assert changed.status is CandidacyStatus.CONSENT_REQUESTED and changed.answers == {} and changed.rate_version == 2
    # The consents at the old rate are withdrawn in the ledger, and both parties are asked again.
    assert not in_force(scene.world.consents.ledger.list_for_subject(cecilia.user_id), ConsentPurpose.PROFILE_DISCLOSURE)
    assert "1100.00 SEK" in scene.mails("c0@consultant.example")[-1].text
    with pytest.raises(Conflict):  # consenting to the rate seen before the change is refused
        scene.consent(cecilia, candidacy_id, RATE)
    with pytest.raises(Conflict):
        scene.send(candidacy_id)
    scene.consent(cecilia, candidacy_id, HourlyRate(110_000, "SEK"))
    scene.consent(scene.agency_admin, candidacy_id, HourlyRate(110_000, "SEK"))
    scene.send(candidacy_id)
    with pytest.raises(Conflict) as fixed:
        candidacies.set_rate(scene.ports, scene.agency_admin, candidacy_id, HourlyRate(120_000, "SEK"))
    assert fixed.value.current_state == "sent"


def test_requests_expire_and_then_cannot_be_answered(scene: Scene) -> None:
    cecilia = scene.consultants[0]
    candidacy_id = scene.asked(0)
    scene.consent(cecilia, candidacy_id)
    scene.world.clock.advance(hours=71)
    assert candidacies.expire_consent_requests(scene.ports) == 0
    scene.world.clock.advance(hours=2)
    with pytest.raises(Conflict) as late:
        scene.consent(scene.agency_admin, candidacy_id)
    assert late.value.current_state == "expired"
    assert candidacies.expire_consent_requests(scene.ports) == 1
    assert candidacies.expire_consent_requests(scene.ports) == 0  # idempotent
    expired = scene.ports.proposals.get_candidacy(candidacy_id)
    assert expired is not None and expired.status is CandidacyStatus.EXPIRED
    # The half-given consent does not outlive the request, and both parties are told.
    assert not in_force(scene.world.consents.ledger.list_for_subject(cecilia.user_id), ConsentPurpose.PROFILE_DISCLOSURE)
    assert "expired" in scene.mails("c0@consultant.example")[-1].subject.lower() or scene.mails("c0@consultant.example")[-1].subject
    # Staff may ask again.
    again = candidacies.request_consents(scene.ports, scene.staff, candidacy_id, None)
    assert again.status is CandidacyStatus.CONSENT_REQUESTED and again.expires_at == scene.world.clock() + timedelta(hours=72)


def test_a_withdrawal_before_sending_keeps_the_candidate_out(scene: Scene) -> None:
    cecilia = scene.consultants[0]
    candidacy_id = scene.consented(0)
    # Withdrawing the consent from one's consent list withdraws the candidacy with it.
    [state] = in_force(scene.world.consents.ledger.list_for_subject(cecilia.user_id), ConsentPurpose.PROFILE_DISCLOSURE)
    ports = dataclasses.replace(
        scene.world.consents,
        withdraw_disclosure=lambda given, who, ctx: candidacies.withdraw_disclosure_consent(scene.ports, given, who, ctx),
    )
    withdrawn = consents.withdraw_consent(ports, cecilia, state.given.entry_id, RequestContext())
    assert withdrawn.withdrawal is not None
    candidacy = scene.ports.proposals.get_candidacy(candidacy_id)
    assert candidacy is not None and candidacy.status is CandidacyStatus.WITHDRAWN
    with pytest.raises(Conflict):
        scene.send(candidacy_id)
    assert scene.world.db.list_disclosures(cecilia.user_id) == []


def test_a_withdrawal_after_sending_revokes_the_clients_access_at_once(scene: Scene) -> None:
    candidacy_id = scene.consented(0)
    proposal = scene.send(candidacy_id).proposal
    start = scene.world.clock() + timedelta(days=2)
    slot = Slot(start, start + timedelta(hours=1))
    interview = interviews.request_interview(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, [slot], None)
    interviews.schedule_interview(scene.ports, scene.agency_admin, interview.interview_id, start)

    candidacies.withdraw_candidacy(
        scene.ports, scene.agency_admin, candidacy_id, "placed elsewhere", CTX, on_withdraw=proposals.revoke_from_client(scene.ports)
    )
    [card] = proposals.get_proposal(scene.ports, scene.buyer, proposal.proposal_id).candidates
    assert (card.status, card.disclosed, card.display_name, card.breakdown) == (CandidacyStatus.WITHDRAWN, False, None, None)
    with pytest.raises(NotFound):
        proposals.candidate_profile(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id)
    # The agency's consent is withdrawn in the ledger; the interview is cancelled with a calendar cancellation.
    assert scene.agency_admin.org_id is not None
    assert not in_force(scene.world.consents.ledger.list_for_subject(scene.agency_admin.org_id), ConsentPurpose.PROFILE_DISCLOSURE)
    cancelled = scene.ports.proposals.get_interview(interview.interview_id)
    assert cancelled is not None and cancelled.status is InterviewStatus.CANCELLED and cancelled.sequence == 1
    [*_, last] = [m for m in scene.mails("buyer@client.example") if m.attachments]
    assert "METHOD:CANCEL" in last.attachments[0].content and "SEQUENCE:1" in last.attachments[0].content


def test_a_withdrawal_landing_between_the_sends_read_and_its_commit_is_caught_by_the_transaction(scene: Scene) -> None:
    cecilia = scene.consultants[0]
    first, second = scene.consented(0), scene.consented(1)
    [state] = in_force(scene.world.consents.ledger.list_for_subject(cecilia.user_id), ConsentPurpose.PROFILE_DISCLOSURE)
    db = scene.world.db
    real_commit = db.commit
    raced = []

    def commit_after_a_withdrawal(changes: Any) -> None:
        if not raced and any(getattr(e, "proposal_id", None) for e, _ in changes.writes):
            raced.append(True)
            # Only the ledger entry, as a withdrawal that has not reached the candidacy yet would leave it.
            from chalicelib.domain.consent import withdrawal_of

            real_commit(consents_changes(withdrawal_of(state.given, actor_id=cecilia.user_id, at=scene.world.clock())))
        real_commit(changes)

    db.commit = commit_after_a_withdrawal  # type: ignore[method-assign]
    outcome = scene.send(first, second)
    assert raced and outcome.proposal.candidacy_ids == (second,)
    assert [s.candidacy_id for s in outcome.skipped] == [first]
    assert db.list_disclosures(cecilia.user_id) == []


def consents_changes(entry: Any) -> Any:
    from chalicelib.services.accounts import record_consent
    from chalicelib.services.ports import Changes

    return record_consent(Changes(), entry, index_follows=False)


def test_concurrent_sends_and_withdrawals_never_leak_a_profile() -> None:
    for _ in range(10):
        race_a_send_with_a_withdrawal()


def race_a_send_with_a_withdrawal() -> None:
    scene = make_scene(1)
    cecilia = scene.consultants[0]
    candidacy_id = scene.consented(0)
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def send() -> None:
        barrier.wait()
        try:
            results["send"] = scene.send(candidacy_id)
        except Conflict as exc:
            results["send"] = exc

    def withdraw() -> None:
        barrier.wait()
        on_withdraw = proposals.revoke_from_client(scene.ports)
        results["withdraw"] = candidacies.withdraw_candidacy(scene.ports, cecilia, candidacy_id, None, CTX, on_withdraw=on_withdraw)

    threads = [threading.Thread(target=send), threading.Thread(target=withdraw)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    withdrawal = next(e for e in scene.world.consents.ledger.list_for_subject(cecilia.user_id) if e.action is ConsentAction.WITHDRAWN)
    for disclosure in scene.world.db.list_disclosures(cecilia.user_id):
        assert disclosure.at <= withdrawal.at  # disclosed only while the consent was in force
    final = scene.ports.proposals.get_candidacy(candidacy_id)
    assert final is not None and final.status is CandidacyStatus.WITHDRAWN
    if isinstance(results["send"], proposals.SendOutcome):
        [card] = proposals.get_proposal(scene.ports, scene.buyer, results["send"].proposal.proposal_id).candidates
        assert card.status is CandidacyStatus.WITHDRAWN and not card.disclosed


def test_who_may_do_what(scene: Scene) -> None:
    cecilia, hugo = scene.consultants
    candidacy_id = scene.consented(0)
    proposal = scene.send(candidacy_id).proposal
    other_client = client(scene.world, "other@buyer.example")
    other_agency = principal_of(register_agency(scene.world, "boss@other.example"))
    for outsider in (other_client, other_agency, hugo, scene.buyer):
        with pytest.raises(NotFound):
            candidacies.visible_candidacy(scene.ports, outsider, candidacy_id)
    for outsider in (other_client, other_agency, hugo, cecilia):
        with pytest.raises(NotFound):
            proposals.get_proposal(scene.ports, outsider, proposal.proposal_id)
        with pytest.raises(NotFound):
            proposals.candidate_profile(scene.ports, outsider, proposal.proposal_id, candidacy_id)
    with pytest.raises(NotFound):
        candidacies.answer_request(scene.ports, other_agency, candidacy_id, consent=True, rate_seen=RATE, reason=None, ctx=CTX)
    with pytest.raises(NotFound):  # staff do not consent for a party
        candidacies.answer_request(scene.ports, scene.staff, candidacy_id, consent=True, rate_seen=RATE, reason=None, ctx=CTX)
    for not_staff in (cecilia, scene.agency_admin, scene.buyer):
        with pytest.raises(Forbidden):
            candidacies.shortlist(scene.ports, not_staff, scene.assignment.assignment_id, scene.run.run_id, hugo.user_id, None)
        with pytest.raises(Forbidden):
            proposals.send_proposal(scene.ports, not_staff, scene.assignment.assignment_id, [candidacy_id], None)
    assert candidacies.visible_candidacy(scene.ports, scene.agency_admin, candidacy_id).candidacy_id == candidacy_id
    assert [c.candidacy_id for c in candidacies.my_candidacies(scene.ports, cecilia)] == [candidacy_id]
    assert candidacies.my_candidacies(scene.ports, hugo) == []
    assert scene.agency_admin.org_id and other_agency.org_id
    assert [c.candidacy_id for c in candidacies.agency_candidacies(scene.ports, scene.agency_admin, scene.agency_admin.org_id)] == [
        candidacy_id
    ]
    with pytest.raises(NotFound):
        candidacies.agency_candidacies(scene.ports, other_agency, scene.agency_admin.org_id)
    interview = interviews.request_interview(
        scene.ports,
        scene.buyer,
        proposal.proposal_id,
        candidacy_id,
        [Slot(scene.world.clock() + timedelta(days=1), scene.world.clock() + timedelta(days=1, hours=1))],
        None,
    )
    for outsider in (other_client, other_agency, hugo):
        with pytest.raises(NotFound):
            interviews.visible_interview(scene.ports, outsider, interview.interview_id)
    with pytest.raises(NotFound):  # the client proposes; the consultant's side picks
        interviews.schedule_interview(scene.ports, scene.buyer, interview.interview_id, interview.proposed_slots[0].starts_at)


def test_shortlisting_refusals(scene: Scene) -> None:
    hugo = scene.consultants[1]
    scene.shortlist(0)
    with pytest.raises(Conflict):
        scene.shortlist(0)  # once per consultant and assignment
    outsider = principal_of(
        register_invited(
            scene.world, "x@consultant.example", invite(scene.world, register_agency(scene.world, "a@b.example"), "x@consultant.example")
        )
    )
    with pytest.raises(InvalidInput):  # not in the run
        candidacies.shortlist(scene.ports, scene.staff, scene.assignment.assignment_id, scene.run.run_id, outsider.user_id, None)
    with pytest.raises(InvalidInput):
        candidacies.shortlist(scene.ports, scene.staff, scene.assignment.assignment_id, "01HZZZZZZZZZZZZZZZZZZZZZZZ", hugo.user_id, None)
    with pytest.raises(InvalidInput):
        scene.shortlist(1, HourlyRate(100_000, "EUR"))


def test_interview_rules_and_updates(scene: Scene) -> None:
    cecilia = scene.consultants[0]
    candidacy_id = scene.consented(0)
    proposal = scene.send(candidacy_id).proposal
    now = scene.world.clock()
    with pytest.raises(InvalidInput):
        interviews.request_interview(
            scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, [Slot(now - timedelta(hours=1), now)], None
        )
    with pytest.raises(InvalidInput):
        interviews.request_interview(
            scene.ports,
            scene.buyer,
            proposal.proposal_id,
            candidacy_id,
            [Slot(now + timedelta(days=1), now + timedelta(days=1, hours=5))],
            None,
        )
    six = [Slot(now + timedelta(days=d), now + timedelta(days=d, hours=1)) for d in range(1, 7)]
    with pytest.raises(InvalidInput):
        interviews.request_interview(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, six, None)
    slot = Slot(now + timedelta(days=1), now + timedelta(days=1, hours=1))
    interview = interviews.request_interview(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, [slot], "Room 4")
    with pytest.raises(Conflict):  # one at a time
        interviews.request_interview(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, [slot], None)
    with pytest.raises(InvalidInput):
        interviews.schedule_interview(scene.ports, cecilia, interview.interview_id, slot.starts_at + timedelta(minutes=5))
    with pytest.raises(Conflict) as not_yet:
        interviews.reschedule_interview(scene.ports, scene.buyer, interview.interview_id, slot)
    assert not_yet.value.current_state == "requested"
    interviews.schedule_interview(scene.ports, cecilia, interview.interview_id, slot.starts_at)
    later = Slot(slot.starts_at + timedelta(days=1), slot.ends_at + timedelta(days=1))
    moved = interviews.reschedule_interview(scene.ports, scene.buyer, interview.interview_id, later)
    assert moved.sequence == 1 and moved.slot == later
    [*_, update] = [m for m in scene.mails("c0@consultant.example") if m.attachments]
    assert "SEQUENCE:1" in update.attachments[0].content and f"UID:{interview.calendar_uid}" in update.attachments[0].content
    with pytest.raises(Forbidden):
        interviews.record_outcome(scene.ports, scene.buyer, interview.interview_id, InterviewOutcome.POSITIVE, None)
    with pytest.raises(Conflict):  # not held yet
        interviews.record_outcome(scene.ports, scene.staff, interview.interview_id, InterviewOutcome.POSITIVE, None)
    cancelled = interviews.cancel_interview(scene.ports, cecilia, interview.interview_id, "ill")
    assert cancelled.status is InterviewStatus.CANCELLED and cancelled.sequence == 2
    back = scene.ports.proposals.get_candidacy(candidacy_id)
    assert back is not None and back.status is CandidacyStatus.SENT
    assert interviews.cancel_interview(scene.ports, cecilia, interview.interview_id, "ill").sequence == 2  # a double click


def test_the_agent_is_set_by_staff_and_seen_by_the_consultant_side(scene: Scene) -> None:
    cecilia, hugo = scene.consultants
    agent = staff(scene.world)
    with pytest.raises(InvalidInput):
        interviews.set_consultant_agent(scene.ports, scene.staff, cecilia.user_id, hugo.user_id, None)
    with pytest.raises(Forbidden):
        interviews.set_consultant_agent(scene.ports, scene.agency_admin, cecilia.user_id, agent.user_id, None)
    interviews.set_consultant_agent(scene.ports, scene.staff, cecilia.user_id, agent.user_id, "hand-over")
    for who in (cecilia, scene.agency_admin, scene.staff):
        assert interviews.get_consultant_agent(scene.ports, who, cecilia.user_id).agent_id == agent.user_id
    with pytest.raises(NotFound):
        interviews.get_consultant_agent(scene.ports, hugo, cecilia.user_id)
    assert [m for m in scene.mails("c0@consultant.example") if "agent" in m.text.lower()]


def test_an_independent_consultant_answers_for_both_parties_at_once() -> None:
    scene = make_scene(1)
    candidacy_id = scene.asked(0)
    both = Principal(scene.consultants[0].user_id, frozenset({Role.CONSULTANT, Role.AGENCY_ADMIN}), scene.agency_admin.org_id)
    answered = scene.consent(both, candidacy_id)
    assert answered.status is CandidacyStatus.CONSENTED and set(answered.answers) == {Party.CONSULTANT, Party.AGENCY}


def test_the_commission_split_never_loses_a_minor_unit() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.integers(0, 10**9), st.integers(0, 10_000))
    def split(net: int, bps: int) -> None:
        breakdown = RateBreakdown.of(HourlyRate(net, "SEK"), bps)
        assert breakdown.commission_minor + breakdown.agency_net_minor == net
        assert abs(breakdown.commission_minor * 10_000 - net * bps) <= 5_000  # rounded to the nearest unit, half up

    split()
    assert RateBreakdown.of(HourlyRate(5, "SEK"), 1000).commission_minor == 1  # 0.5 rounds up
    assert RateBreakdown.of(HourlyRate(4, "SEK"), 1000).commission_minor == 0


def test_an_agency_with_many_admins_is_asked_all_the_same() -> None:
    """More people to tell than one transaction holds: the change commits, and every one is told."""
    from chalicelib.domain.accounts import User

    scene = make_scene(1)
    assert scene.agency_admin.org_id is not None
    for n in range(60):
        admin = User(
            f"admin-{n}",
            f"admin{n}@acme.example",
            f"Admin {n}",
            frozenset({Role.AGENCY_ADMIN}),
            scene.world.clock(),
            org_id=scene.agency_admin.org_id,
        )
        scene.world.db.commit(Changes().insert(admin))
    candidacy_id = scene.asked(0)
    asked = scene.ports.proposals.get_candidacy(candidacy_id)
    assert asked is not None and asked.status is CandidacyStatus.CONSENT_REQUESTED
    assert all(scene.mails(f"admin{n}@acme.example") for n in range(60))
    assert [n.kind for n in scene.world.db.list_notifications("admin-59")] == ["disclosure_consent_requested"]


def test_a_client_decline_ends_the_consents_and_the_interviews_with_the_candidacy(scene: Scene) -> None:
    cecilia = scene.consultants[0]
    candidacy_id = scene.consented(0)
    proposal = scene.send(candidacy_id).proposal
    start = scene.world.clock() + timedelta(days=2)
    slot = Slot(start, start + timedelta(hours=1))
    interview = interviews.request_interview(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, [slot], None)
    interviews.schedule_interview(scene.ports, cecilia, interview.interview_id, start)
    with pytest.raises(InvalidInput):  # a reason is required
        proposals.decide(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, accept=False, reason=None)
    declined = proposals.decide(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, accept=False, reason="Too far away")
    assert declined.status is CandidacyStatus.DECLINED and declined.declined_by == "client"
    assert (
        proposals.decide(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, accept=False, reason="x").status
        is CandidacyStatus.DECLINED
    )
    assert not in_force(scene.world.consents.ledger.list_for_subject(cecilia.user_id), ConsentPurpose.PROFILE_DISCLOSURE)
    cancelled = scene.ports.proposals.get_interview(interview.interview_id)
    assert cancelled is not None and cancelled.status is InterviewStatus.CANCELLED
    later = Slot(start + timedelta(days=1), start + timedelta(days=1, hours=1))
    with pytest.raises(Conflict):
        interviews.reschedule_interview(scene.ports, scene.buyer, interview.interview_id, later)


def test_staff_propose_the_first_rate_and_the_agency_sets_it_after(scene: Scene) -> None:
    candidacy_id = scene.shortlist(0, HourlyRate(90_000, "SEK"))
    asked = candidacies.request_consents(scene.ports, scene.staff, candidacy_id, HourlyRate(95_000, "SEK"))
    assert asked.rate == HourlyRate(95_000, "SEK")
    with pytest.raises(Conflict) as refused:
        candidacies.request_consents(scene.ports, scene.staff, candidacy_id, HourlyRate(99_000, "SEK"))
    assert refused.value.current_state == "consent_requested"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Mail me at a.b@x.se today", "Mail me at [removed] today"),
        ("a [at] y [dot] se", "[removed]"),
        ("see linkedin.com/in/cecilia-l", "see [removed]"),
        ("skype: cecilia.l", "[removed]"),
        ("call +46 70 123 45 67 or 070-1234567", "call [removed] or [removed]"),
        ("https://x.se/a and www.me.se", "[removed] and [removed]"),
        ("2019-2021 with ASP.NET and Node.js, 2015 - 2020, 100000 users", "2019-2021 with ASP.NET and Node.js, 2015 - 2020, 100000 users"),
    ],
)
def test_contact_data_is_taken_out_of_what_a_client_reads(text: str, kept: str) -> None:
    assert proposals.without_contact_data(text) == kept


def test_erasing_a_consultant_withdraws_their_candidacies_before_their_records_go(scene: Scene) -> None:
    from chalicelib.services import erasure

    cecilia = scene.consultants[0]
    candidacy_id = scene.consented(0)
    proposal = scene.send(candidacy_id).proposal
    start = scene.world.clock() + timedelta(days=2)
    interview = interviews.request_interview(
        scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, [Slot(start, start + timedelta(hours=1))], None
    )
    interviews.schedule_interview(scene.ports, cecilia, interview.interview_id, start)
    ports = dataclasses.replace(
        scene.world.erasure, withdraw_candidacies=lambda user_id: candidacies.withdraw_for_erasure(scene.ports, user_id)
    )

    erasure.request_erasure_by_staff(ports, scene.staff, cecilia.user_id)
    assert erasure.run_erasure(ports, cecilia.user_id)
    assert scene.ports.proposals.get_candidacy(candidacy_id) is None and scene.ports.proposals.get_interview(interview.interview_id) is None
    [card] = proposals.get_proposal(scene.ports, scene.buyer, proposal.proposal_id).candidates
    assert card.status is CandidacyStatus.WITHDRAWN and card.display_name is None
    # The client was told, and its calendar entry cancelled, before the records went.
    [*_, cancellation] = [m for m in scene.mails("buyer@client.example") if m.attachments]
    assert "METHOD:CANCEL" in cancellation.attachments[0].content
    assert any(n.kind == "candidate_withdrawn" for n in scene.world.db.list_notifications(scene.buyer.user_id))
    assert scene.world.consents.ledger.list_for_subject(cecilia.user_id) == []  # pseudonymised, withdrawals included
