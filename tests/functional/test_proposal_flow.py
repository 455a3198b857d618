"""Issue 5's "done when", through the HTTP API on moto with the event pump delivering the mail: staff
shortlist two matched consultants; one pair consents at a rate, the other declines; the client receives a
proposal with exactly the consented candidate, redacted, with the rate and the commission; an interview is
booked with the Consultant Agent and the invitations arrive in the local outbox; the client accepts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from tests import builders
from tests.conftest import LocalStack
from tests.functional.conftest import Actor, Api, Pump, invited_consultant, new_agency, new_client, new_staff

pytestmark = pytest.mark.functional
RATE = {"amount_minor": 110_000, "currency": "SEK"}


def _posted_assignment(api: Api, pump: Pump, staff: Actor, skill: str) -> tuple[Actor, str]:
    client = new_client(api, pump)
    assert api.post(f"/client-companies/{client.org_id}/approve", {}, token=staff.token).status == 200
    return client, _published(api, client, skill)


def _published(api: Api, client: Actor, skill: str) -> str:
    form = builders.assignment_form(required_skills=[skill, "k8s"], nice_to_have_skills=[], languages=[])
    assignment_id = str(api.post(f"/client-companies/{client.org_id}/assignments", form, token=client.token).body["assignment_id"])
    assert api.post(f"/assignments/{assignment_id}/publish", token=client.token).status == 200
    return assignment_id


def _consultant(api: Api, pump: Pump, agency: Actor, name: str, skill: str) -> Actor:
    person = invited_consultant(api, pump, agency)
    profile = {
        "name": name,
        "title": "Platform engineer",
        "summary": f"Kubernetes for banks. Reach me at {person.email}.",
        "country": "SE",
        "remote_preference": "remote",
        "expected_hourly_rate": {"amount_minor": 100_000, "currency": "SEK"},
    }
    assert api.request("PUT", "/me/profile", json_body=profile, token=person.token).status == 200
    for s in (skill, "Kubernetes"):
        assert api.post("/me/resume/skills", {"name": s, "level": 4, "years": 5}, token=person.token).status == 201
    return person


def _shortlisted(api: Api, pump: Pump, local_aws: LocalStack, people: int) -> dict[str, Any]:
    staff = new_staff(api, local_aws)
    skill = f"skill-{uuid4().hex[:8]}"
    client, assignment_id = _posted_assignment(api, pump, staff, skill)
    agency = new_agency(api, pump)
    consultants = [_consultant(api, pump, agency, f"Person{n} Surname{n}", skill) for n in range(people)]
    pump.drain()  # indexed from the stream
    run = api.post(f"/assignments/{assignment_id}/matches?limit=10", token=staff.token)
    assert run.status == 201, run.body
    candidacies = [_shortlist(api, staff, assignment_id, run.body["run_id"], person) for person in consultants]
    return {
        "skill": skill,
        "staff": staff,
        "client": client,
        "agency": agency,
        "consultants": consultants,
        "assignment_id": assignment_id,
        "ids": candidacies,
    }


def _shortlist(api: Api, staff: Actor, assignment_id: str, run_id: str, person: Actor) -> str:
    shortlisted = api.post(
        f"/assignments/{assignment_id}/candidacies", {"match_run_id": run_id, "consultant_id": person.user_id}, token=staff.token
    )
    assert shortlisted.status == 201, shortlisted.body
    assert shortlisted.body["status"] == "suggested"
    return str(shortlisted.body["candidacy_id"])


def test_from_shortlist_to_an_accepted_candidate_with_an_interview(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    scene = _shortlisted(api, pump, local_aws, 2)
    staff, client, agency = scene["staff"], scene["client"], scene["agency"]
    (alice, bob), (first, second) = scene["consultants"], scene["ids"]

    for candidacy_id in (first, second):
        asked = api.post(f"/candidacies/{candidacy_id}/consent-requests", {}, token=staff.token)
        assert asked.status == 200 and asked.body["status"] == "consent_requested", asked.body
    # The agency sets the rate; both parties are asked again, by e-mail and in-app.
    rated = api.request("PUT", f"/candidacies/{first}/rate", json_body={"hourly_rate": RATE}, token=agency.token)
    assert rated.status == 200 and rated.body["rate"]["client_rate"] == RATE and rated.body["rate_version"] == 2
    mails = pump.mails_to(alice.email)
    assert mails and "1100.00 SEK" in mails[-1]["body"]
    assert (
        api.post(f"/candidacies/{first}/consent", {"hourly_rate": {"amount_minor": 100_000, "currency": "SEK"}}, token=alice.token).status
        == 409
    )
    for who in (alice, agency):
        consented = api.post(f"/candidacies/{first}/consent", {"hourly_rate": RATE}, token=who.token)
        assert consented.status == 200, consented.body
    assert consented.body["status"] == "consented"
    declined = api.post(f"/candidacies/{second}/decline", {"reason": "Booked until summer"}, token=bob.token)
    assert declined.status == 200 and declined.body["status"] == "declined"

    sent = api.post(f"/assignments/{scene['assignment_id']}/proposals", {"candidacy_ids": [first, second]}, token=staff.token)
    assert sent.status == 201, sent.body
    assert sent.body["proposal"]["candidate_count"] == 1 and [s["candidacy_id"] for s in sent.body["skipped"]] == [second]
    proposal_id = sent.body["proposal"]["proposal_id"]
    pump.drain()
    assert any(m["subject"].startswith("New candidates for") for m in pump.mails_to(client.email))

    # What the client sees: exactly the consented candidate, redacted, with the rate and the commission.
    listed = api.get(f"/client-companies/{client.org_id}/proposals", token=client.token)
    assert [p["proposal_id"] for p in listed.body["items"]] == [proposal_id]
    proposal = api.get(f"/proposals/{proposal_id}", token=client.token)
    [card] = proposal.body["candidates"]
    assert card["candidacy_id"] == first and card["display_name"] == "Person0 S." and card["status"] == "sent"
    assert card["rate"] == {
        "client_rate": RATE,
        "commission_bps": 1500,
        "commission": {"amount_minor": 16_500, "currency": "SEK"},
        "agency_net": {"amount_minor": 93_500, "currency": "SEK"},
    }
    profile = api.get(f"/proposals/{proposal_id}/candidates/{first}", token=client.token)
    assert profile.status == 200 and alice.email not in str(profile.body) and "Surname0" not in str(profile.body)
    assert {s["name"] for s in profile.body["skills"]} >= {"Kubernetes"}
    assert api.get(f"/proposals/{proposal_id}/candidates/{second}", token=client.token).status == 404

    # An interview with the Consultant Agent; every invitee gets an iCalendar invitation in the local outbox.
    agent = new_staff(api, local_aws)
    assert api.request("PUT", f"/consultants/{alice.user_id}/agent", json_body={"agent_id": agent.user_id}, token=staff.token).status == 200
    start = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    slots = [
        {"starts_at": (start + timedelta(hours=h)).isoformat(), "ends_at": (start + timedelta(hours=h + 1)).isoformat()} for h in (0, 24)
    ]
    requested = api.post(
        f"/proposals/{proposal_id}/candidates/{first}/interviews", {"slots": slots, "location": "Teams"}, token=client.token
    )
    assert requested.status == 201, requested.body
    interview_id = requested.body["interview_id"]
    booked = api.post(f"/interviews/{interview_id}/schedule", {"starts_at": slots[1]["starts_at"]}, token=alice.token)
    assert booked.status == 200 and booked.body["status"] == "scheduled" and booked.body["agent_id"] == agent.user_id, booked.body
    for person in (client, alice, agent):
        invitations = [a for m in pump.mails_to(person.email) for a in m["attachments"] if a["content_type"].startswith("text/calendar")]
        assert invitations and "METHOD:REQUEST" in invitations[-1]["content"], person.email

    accepted = api.post(f"/proposals/{proposal_id}/candidates/{first}/accept", token=client.token)
    assert accepted.status == 200 and accepted.body["status"] == "accepted"
    # The disclosure is in the consultant's own export.
    export = api.get("/me/export", token=alice.token).body
    [disclosure] = export["disclosures"]
    assert disclosure["client_id"] == client.org_id and disclosure["proposal_id"] == proposal_id
    assert [c["candidacy_id"] for c in export["candidacies"]] == [first] and export["candidacies"][0]["status"] == "accepted"
    assert [i["interview_id"] for i in export["interviews"]] == [interview_id]
    assert export["consultant_agent"]["agent_id"] == agent.user_id


def test_illegal_moves_are_409_with_the_current_state_and_outsiders_get_404(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    scene = _shortlisted(api, pump, local_aws, 1)
    staff, client, agency, [alice], [candidacy_id] = scene["staff"], scene["client"], scene["agency"], scene["consultants"], scene["ids"]
    early = api.post(f"/candidacies/{candidacy_id}/consent", {"hourly_rate": RATE}, token=alice.token)
    assert early.status == 409 and early.body["current_state"] == "suggested"
    assert early.headers["Content-Type"].startswith("application/problem+json")
    other_agency, other_client = new_agency(api, pump), new_client(api, pump)
    for outsider in (other_agency, invited_consultant(api, pump, agency)):
        assert api.get(f"/candidacies/{candidacy_id}", token=outsider.token).status == 404
    assert api.get(f"/candidacies/{candidacy_id}", token=client.token).status == 403  # clients see proposals, not candidacies
    assert api.get(f"/client-companies/{client.org_id}/proposals", token=other_client.token).status == 404
    assert api.post(f"/candidacies/{candidacy_id}/consent", {"hourly_rate": {"amount_minor": "x"}}, token=alice.token).status == 422
    assert api.get(f"/candidacies/{candidacy_id}", token=staff.token).body["status"] == "suggested"


def test_a_withdrawal_racing_a_send_never_leaks_the_profile_on_dynamodb(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    """Sends and withdrawals at once, several times, on moto's DynamoDB through the real adapters: whoever
    wins, the client never holds a profile whose consent was withdrawn before the send."""
    scene = _shortlisted(api, pump, local_aws, 1)
    _race_once(api, scene, scene["assignment_id"], scene["ids"][0], local_aws)
    for _ in range(3):  # the same people, a new assignment each time
        assignment_id = _published(api, scene["client"], scene["skill"])
        run = api.post(f"/assignments/{assignment_id}/matches?limit=10", token=scene["staff"].token)
        candidacy_id = _shortlist(api, scene["staff"], assignment_id, run.body["run_id"], scene["consultants"][0])
        _race_once(api, scene, assignment_id, candidacy_id, local_aws)


def _race_once(api: Api, scene: dict[str, Any], assignment_id: str, candidacy_id: str, local_aws: LocalStack) -> None:
    from chalicelib.domain.consent import ConsentAction
    from chalicelib.domain.identity import Principal, RequestContext, Role
    from chalicelib.errors import Conflict
    from chalicelib.services import candidacies, proposals

    ports = local_aws.container.candidacies  # type: ignore[attr-defined]
    [alice] = scene["consultants"]
    api.post(f"/candidacies/{candidacy_id}/consent-requests", {}, token=scene["staff"].token)
    rate = {"amount_minor": 100_000, "currency": "SEK"}
    for who in (alice, scene["agency"]):
        assert api.post(f"/candidacies/{candidacy_id}/consent", {"hourly_rate": rate}, token=who.token).status == 200
    staff = Principal(scene["staff"].user_id, frozenset({Role.STAFF}))
    consultant = Principal(alice.user_id, frozenset({Role.CONSULTANT}), scene["agency"].org_id)
    barrier = threading.Barrier(2)
    outcome: dict[str, Any] = {}

    def send() -> None:
        barrier.wait()
        try:
            outcome["send"] = proposals.send_proposal(ports, staff, assignment_id, [candidacy_id], None)
        except Conflict as exc:
            outcome["send"] = exc

    def withdraw() -> None:
        barrier.wait()
        candidacies.withdraw_candidacy(
            ports, consultant, candidacy_id, None, RequestContext(), on_withdraw=proposals.revoke_from_client(ports)
        )

    threads = [threading.Thread(target=send), threading.Thread(target=withdraw)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = ports.ledger.list_for_subject(alice.user_id)
    withdrawal = next(e for e in entries if e.action is ConsentAction.WITHDRAWN and e.candidacy_id == candidacy_id)
    for disclosure in ports.profiles.list_disclosures(alice.user_id):
        if disclosure.candidacy_id == candidacy_id:
            assert disclosure.at <= withdrawal.at
    if isinstance(outcome["send"], proposals.SendOutcome):
        proposal_id = outcome["send"].proposal.proposal_id
        assert api.get(f"/proposals/{proposal_id}/candidates/{candidacy_id}", token=scene["client"].token).status == 404
