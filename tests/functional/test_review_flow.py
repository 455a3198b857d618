"""Issue 8 §4 through the HTTP API on moto with the event pump: an engagement whose last day is over is ended by
the scheduled jobs (the client and the consultant are mailed), its last days' time is still reported and
confirmed, both sides review each other blind, both see both once both are in, the agency reads them, staff
hide one, and the consultant's export carries them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LocalStack
from tests.functional.conftest import Api, Pump, new_agency
from tests.functional.test_contract_flow import _accepted, _sign

pytestmark = pytest.mark.functional


def _ended_yesterday(api: Api, pump: Pump, local_aws: LocalStack) -> dict[str, Any]:
    """An engagement signed with its last day yesterday, then ended by the scheduled jobs."""
    from chalicelib.events.jobs import run_proposal_jobs

    scene = _accepted(api, pump, local_aws)
    staff, client, agency = scene["staff"], scene["client"], scene["agency"]
    engagement_id = scene["engagement_id"]
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    terms = api.get(f"/engagements/{engagement_id}", token=staff.token).body["terms"]
    form = {k: terms[k] for k in ("pricing", "currency", "rate_minor", "share_of_full_time", "scope", "payment_terms_days")}
    form |= {"start_date": (yesterday - timedelta(days=60)).isoformat(), "end_date": yesterday.isoformat(), "reporting_period": "month"}
    assert api.request("PUT", f"/engagements/{engagement_id}/terms", json_body=form, token=staff.token).status == 200
    assert api.post(f"/engagements/{engagement_id}/contracts/send", {}, token=staff.token).status == 200
    pump.drain()
    for who, name in ((client, "Bo Buyer"), (agency, "Anna Admin"), (staff, "Stina Staff")):
        _sign(api, pump, who, name)
    pump.drain()
    active = api.get(f"/engagements/{engagement_id}", token=staff.token).body
    assert active["status"] == "active" and active["ended_at"] is None

    assert run_proposal_jobs()["engagements_ended"] >= 1  # what `proposal_jobs` runs every few minutes
    pump.drain()
    return {**scene, "yesterday": yesterday}


def test_an_engagement_ends_by_the_job_and_both_sides_review_each_other(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    from chalicelib.events.jobs import run_proposal_jobs

    scene = _ended_yesterday(api, pump, local_aws)
    staff, client, agency, person = scene["staff"], scene["client"], scene["agency"], scene["person"]
    engagement_id, yesterday = scene["engagement_id"], scene["yesterday"]
    ended = api.get(f"/engagements/{engagement_id}", token=client.token).body
    today = datetime.now(UTC).date()
    assert ended["status"] == "ended" and ended["ended_at"].startswith(today.isoformat()) and ended["time_reporting_open"]
    for who in (client, person):
        told = [m for m in pump.mails_to(who.email) if m["subject"].startswith("Engagement ended")]
        assert len(told) == 1 and f"/engagements/{engagement_id}/reviews" in told[0]["body"]
    assert not [m for m in pump.mails_to(agency.email) if m["subject"].startswith("Engagement ended")]
    run_proposal_jobs()
    pump.drain()
    assert len([m for m in pump.mails_to(person.email) if m["subject"].startswith("Engagement ended")]) == 1  # once

    # The last day's time is still reported, submitted and confirmed; the day after is outside the engagement.
    day = {"day": yesterday.isoformat(), "minutes": 300, "description": "Handover"}
    assert api.request("PUT", f"/engagements/{engagement_id}/time", json_body=day, token=person.token).status == 200
    after = {**day, "day": today.isoformat()}
    assert api.request("PUT", f"/engagements/{engagement_id}/time", json_body=after, token=person.token).status == 422
    period = yesterday.strftime("%Y-%m")
    assert api.post(f"/engagements/{engagement_id}/periods/submit", {"period": period}, token=person.token).status == 200
    confirmed = api.post(f"/engagements/{engagement_id}/periods/confirm", {"period": period}, token=agency.token)
    assert confirmed.status == 200, confirmed.body

    # The client writes first: blind to the consultant and the agency, editable by the client.
    before = api.get(f"/engagements/{engagement_id}/reviews", token=client.token).body
    assert before["my_side"] == "client" and before["submitted"] == [] and before["reviews_close_at"]
    written = api.post(f"/engagements/{engagement_id}/reviews", {"rating": 4, "text": "Steady work"}, token=client.token)
    assert written.status == 201 and written.body["revealed"] is False and written.body["editable"] is True, written.body
    client_review = written.body["review_id"]
    assert api.post(f"/engagements/{engagement_id}/reviews", {"rating": 1, "text": "Again"}, token=client.token).status == 409
    stranger = new_agency(api, pump)
    for who in (person, agency, stranger):
        assert api.get(f"/reviews/{client_review}", token=who.token).status == 404
    standing = api.get(f"/engagements/{engagement_id}/reviews", token=person.token).body
    assert standing["submitted"] == ["client"] and standing["reviews"] == [] and standing["my_side"] == "consultant"
    edited = api.request("PUT", f"/reviews/{client_review}", json_body={"rating": 5, "text": "Excellent work"}, token=client.token)
    assert edited.status == 200 and edited.body["rating"] == 5
    assert api.request("PUT", f"/reviews/{client_review}", json_body={"rating": 9, "text": "x"}, token=client.token).status == 422

    # The consultant's review makes both visible to both, at once.
    theirs = api.post(f"/engagements/{engagement_id}/reviews", {"rating": 5, "text": "Clear goals"}, token=person.token)
    assert theirs.status == 201 and theirs.body["revealed"] is True
    consultant_review = theirs.body["review_id"]
    seen = api.get(f"/reviews/{client_review}", token=person.token).body
    assert (seen["text"], seen["revealed"], seen["written_by"], seen["editable"]) == ("Excellent work", True, None, False)
    assert api.get(f"/reviews/{consultant_review}", token=client.token).body["text"] == "Clear goals"
    for who in (client, person, agency, staff):
        listed = api.get(f"/engagements/{engagement_id}/reviews", token=who.token).body["reviews"]
        assert sorted(r["author_side"] for r in listed) == ["client", "consultant"]
    assert api.get(f"/engagements/{engagement_id}/reviews", token=stranger.token).status == 404
    locked = api.request("PUT", f"/reviews/{client_review}", json_body={"rating": 1, "text": "Too late"}, token=client.token)
    assert locked.status == 409 and locked.body["current_state"] == "revealed"
    for who in (client, person):
        assert [m for m in pump.mails_to(who.email) if m["subject"].startswith("A review of you is visible")]

    # The consultant's reviews from clients, with the rating, for the agency (and the consultant, and staff).
    mine = api.get(f"/consultants/{person.user_id}/reviews", token=agency.token).body
    assert [r["review_id"] for r in mine["items"]] == [client_review] and mine["rating"] == {"count": 1, "average": 5.0}
    assert api.get(f"/consultants/{person.user_id}/reviews", token=client.token).status == 404

    # Staff hide the client's review: gone for the consultant and the agency and from the rating; its author
    # sees it hidden, with the reason.
    assert api.post(f"/reviews/{client_review}/hide", {"reason": "Names a third person"}, token=agency.token).status == 403
    hidden = api.post(f"/reviews/{client_review}/hide", {"reason": "Names a third person"}, token=staff.token)
    assert hidden.status == 200 and hidden.body["hidden"]["by"] == staff.user_id
    for who in (person, agency):
        assert api.get(f"/reviews/{client_review}", token=who.token).status == 404
    assert api.get(f"/consultants/{person.user_id}/reviews", token=person.token).body == {
        "consultant_id": person.user_id,
        "rating": {"count": 0, "average": None},
        "items": [],
    }
    own = api.get(f"/reviews/{client_review}", token=client.token).body
    assert own["hidden"] == {"at": hidden.body["hidden"]["at"], "reason": "Names a third person", "by": None}
    assert api.post(f"/reviews/{client_review}/hide", {"reason": "again"}, token=staff.token).status == 409

    # The consultant's GDPR export: the review they wrote, and the one of them (revealed; hidden, so marked).
    exported = {r["review_id"]: r for r in api.get("/me/export", token=person.token).body["reviews"]}
    assert set(exported) == {client_review, consultant_review}
    assert exported[consultant_review]["written_by"] == person.user_id and exported[client_review]["written_by"] is None
    assert exported[client_review]["hidden"]["reason"] == "Names a third person"
