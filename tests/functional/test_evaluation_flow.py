"""Issue 8 §2 through the HTTP API on moto with the event pump: an active engagement gets its first evaluation
round from the scheduled job (two weeks after the start), the client and the consultant are reminded once,
the client's low score escalates to the consultant's agent, who resolves it; the consultant assesses
themself, the agent checks in, and each party reads its share of the round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LocalStack
from tests.functional.conftest import Api, Pump
from tests.functional.test_contract_flow import _accepted, _sign

pytestmark = pytest.mark.functional


def _active_since_two_weeks(api: Api, pump: Pump, local_aws: LocalStack) -> dict[str, Any]:
    scene = _accepted(api, pump, local_aws)
    staff, client, agency, person = scene["staff"], scene["client"], scene["agency"], scene["person"]
    engagement_id = scene["engagement_id"]
    today = datetime.now(UTC).date()
    terms = api.get(f"/engagements/{engagement_id}", token=staff.token).body["terms"]
    form = {k: terms[k] for k in ("pricing", "currency", "rate_minor", "share_of_full_time", "scope", "payment_terms_days")}
    form |= {"start_date": (today - timedelta(days=14)).isoformat(), "end_date": (today + timedelta(days=180)).isoformat()}
    assert api.request("PUT", f"/engagements/{engagement_id}/terms", json_body=form, token=staff.token).status == 200
    assert api.post(f"/engagements/{engagement_id}/contracts/send", {}, token=staff.token).status == 200
    pump.drain()
    for who, name in ((client, "Bo Buyer"), (agency, "Anna Admin"), (staff, "Stina Staff")):
        _sign(api, pump, who, name)
    pump.drain()
    assert api.get(f"/engagements/{engagement_id}", token=staff.token).body["status"] == "active"
    # The staff member is the consultant's Consultant Agent.
    agent = api.request("PUT", f"/consultants/{person.user_id}/agent", json_body={"agent_id": staff.user_id}, token=staff.token)
    assert agent.status == 200, agent.body
    return {**scene, "today": today}


def test_a_scheduled_round_a_low_score_escalated_to_the_agent_and_resolved(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    from chalicelib.events.jobs import run_proposal_jobs
    from chalicelib.services import evaluations

    scene = _active_since_two_weeks(api, pump, local_aws)
    staff, client, agency, person = scene["staff"], scene["client"], scene["agency"], scene["person"]
    engagement_id, today = scene["engagement_id"], scene["today"]
    ports = local_aws.container.evaluations  # type: ignore[attr-defined]

    # Nothing before the job runs; the schedule says when.
    before = api.get(f"/engagements/{engagement_id}/evaluations", token=client.token).body
    assert before["items"] == [] and before["next_due_date"] == today.isoformat()
    assert (before["schedule"]["first_after_days"], before["schedule"]["every_days"], before["schedule"]["set_at"]) == (14, 30, None)

    assert run_proposal_jobs()["evaluation_rounds_opened"] >= 1  # EventBridge's schedule, or `make proposal-jobs`
    assert run_proposal_jobs()["evaluation_rounds_opened"] == 0
    [evaluation] = api.get(f"/engagements/{engagement_id}/evaluations", token=client.token).body["items"]
    evaluation_id = evaluation["evaluation_id"]
    assert (evaluation["due_date"], evaluation["status"], evaluation["given"]) == (today.isoformat(), "open", [])
    assert evaluation["deadline"] == (today + timedelta(days=7)).isoformat()
    due = api.get(f"/evaluations?due_before={(today + timedelta(days=1)).isoformat()}", token=staff.token).body["items"]
    assert evaluation_id in [e["evaluation_id"] for e in due]
    assert [r.evaluation_id for r in evaluations.agent_due_evaluations(ports, staff.user_id)] == [evaluation_id]

    # The client's user and the consultant are told it is due, once however often the job runs.
    run_proposal_jobs()
    assert len([m for m in pump.mails_to(client.email) if m["subject"].startswith("Time to evaluate")]) == 1
    assert len([m for m in pump.mails_to(person.email) if m["subject"].startswith("Time for your self-assessment")]) == 1

    # The client rates low: a low score needs its comment, and the rating is given once.
    low = {"quality": {"score": 4}, "communication": {"score": 2}, "expertise": {"score": 4}, "reliability": {"score": 3}}
    refused = api.post(f"/evaluations/{evaluation_id}/client-rating", low, token=client.token)
    assert refused.status == 422 and "communication.comment" in refused.error_fields
    low["communication"]["comment"] = "Status updates stopped after the first week."  # type: ignore[index]
    rated = api.post(f"/evaluations/{evaluation_id}/client-rating", low, token=client.token)
    assert rated.status == 200, rated.body
    assert rated.body["given"] == ["client_rating"] and rated.body["client_rating"]["average"] == 3.25
    assert api.post(f"/evaluations/{evaluation_id}/client-rating", low, token=client.token).status == 409

    # The agent has an escalation, in the workspace and in the staff list, and an e-mail about it.
    [escalation] = evaluations.agent_open_escalations(ports, staff.user_id)
    assert (escalation.reason.value, escalation.evaluation_id) == ("low_score", evaluation_id)
    listed = api.get("/escalations?status=open", token=staff.token).body["items"]
    assert escalation.escalation_id in [e["escalation_id"] for e in listed]
    assert any("Status updates stopped" in m["body"] for m in pump.mails_to(staff.email) if m["subject"].startswith("Escalation"))
    assert api.get("/escalations?status=open", token=client.token).status == 403

    resolved = api.post(
        f"/escalations/{escalation.escalation_id}/resolve", {"note": "Agreed weekly updates with the client."}, token=staff.token
    )
    assert resolved.status == 200 and resolved.body["status"] == "resolved" and resolved.body["resolved_by"] == staff.user_id
    assert api.post(f"/escalations/{escalation.escalation_id}/resolve", {"note": "again"}, token=staff.token).status == 409
    assert evaluations.agent_open_escalations(ports, staff.user_id) == []
    open_now = api.get("/escalations?status=open", token=staff.token).body["items"]
    assert escalation.escalation_id not in [e["escalation_id"] for e in open_now]

    # The consultant assesses themself, the agent checks in: the round is complete.
    assessed = api.post(f"/evaluations/{evaluation_id}/self-assessment", {"text": "I will send weekly updates."}, token=person.token)
    assert assessed.status == 200, assessed.body
    check_in = {"notes": "Consultant was on sick leave in week two.", "feedback": "Keep the client posted every Friday."}
    done = api.post(f"/evaluations/{evaluation_id}/check-in", check_in, token=staff.token)
    assert done.status == 200 and done.body["status"] == "completed" and done.body["check_in"]["by_agent"] is True
    assert any("every Friday" in m["body"] for m in pump.mails_to(person.email) if m["subject"].startswith("Feedback"))
    assert evaluations.agent_due_evaluations(ports, staff.user_id) == []

    # Each reads their share: the rating is everyone's; the self-assessment and feedback the consultant's and
    # staff's; the agent's notes staff's alone.
    def seen(token: str) -> tuple[bool, bool, str | None, str | None]:
        body = api.get(f"/evaluations/{evaluation_id}", token=token).body
        check = body["check_in"]
        assert body["given"] == ["client_rating", "self_assessment", "check_in"]
        return (
            body["client_rating"] is not None,
            body["self_assessment"] is not None,
            check and check["feedback"],
            check and check["notes"],
        )

    assert seen(staff.token) == (True, True, check_in["feedback"], check_in["notes"])
    assert seen(person.token) == (True, True, check_in["feedback"], None)
    # The consultant's export holds all of it, the agent's notes and the escalation included (data about them).
    exported = api.get("/me/export", token=person.token).body
    [round_exported] = [e for e in exported["evaluations"] if e["evaluation_id"] == evaluation_id]
    assert round_exported["check_in"]["notes"] == check_in["notes"] and round_exported["self_assessment"]["text"]
    assert [e["escalation_id"] for e in exported["escalations"]] == [escalation.escalation_id]
    assert seen(agency.token) == seen(client.token) == (True, False, None, None)


def test_staff_set_an_engagements_cadence_within_bounds(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    scene = _accepted(api, pump, local_aws)
    staff, client, engagement_id = scene["staff"], scene["client"], scene["engagement_id"]
    path = f"/engagements/{engagement_id}/evaluation-schedule"
    for wrong, field in (
        ({"first_after_days": 0}, "first_after_days"),
        ({"every_days": 6}, "every_days"),
        ({"every_days": 10, "respond_within_days": 10}, "body"),
        ({"first_after_days": "soon"}, "first_after_days"),
        ({"cadence": "monthly"}, "cadence"),
    ):
        reply = api.request("PUT", path, json_body=wrong, token=staff.token)
        assert reply.status == 422 and field in reply.error_fields, (wrong, reply.body)
    assert api.request("PUT", path, json_body={"every_days": 14}, token=client.token).status == 403
    reply = api.request("PUT", path, json_body={"first_after_days": 7, "every_days": 14, "respond_within_days": 5}, token=staff.token)
    assert reply.status == 200, reply.body
    assert reply.body["schedule"]["every_days"] == 14 and reply.body["schedule"]["set_by"] == staff.user_id
    assert api.get(f"/engagements/{engagement_id}/evaluations", token=client.token).body["schedule"]["respond_within_days"] == 5
