"""Issue 8 §3 through the HTTP API on moto with the event pump: the consultant proposes to extend an active
engagement at a new rate, the agency and the client agree, both addenda are signed through the built-in
signature's links, and the engagement then runs on the new terms; the client's early end is declined."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import LocalStack
from tests.functional.conftest import Api, Pump
from tests.functional.test_contract_flow import _sign
from tests.functional.test_evaluation_flow import _active_since_two_weeks

pytestmark = pytest.mark.functional


def test_an_engagement_is_extended_at_a_new_rate_through_two_signed_addenda(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    scene = _active_since_two_weeks(api, pump, local_aws)
    staff, client, agency, person, today = scene["staff"], scene["client"], scene["agency"], scene["person"], scene["today"]
    engagement_id = scene["engagement_id"]
    base = f"/engagements/{engagement_id}/changes"
    before = api.get(f"/engagements/{engagement_id}", token=person.token).body["terms"]
    new_end, rate_from = today + timedelta(days=270), today + timedelta(days=30)

    # Malformed and unfitting proposals are refused field by field, and store nothing.
    assert api.post(base, {"end_date": "soon", "reason": "x"}, token=person.token).status == 422
    nothing = api.post(base, {"end_date": before["end_date"], "reason": "x"}, token=person.token)
    assert nothing.status == 422 and nothing.body["errors"], nothing.body
    assert api.get(base, token=person.token).body["items"] == []

    proposal = {"end_date": new_end.isoformat(), "rate_minor": 120_000, "effective_from": rate_from.isoformat(), "reason": "Phase two"}
    proposed = api.post(base, proposal, token=person.token)
    assert proposed.status == 201, proposed.body
    change = proposed.body
    assert change["kind"] == "extension" and change["status"] == "proposed" and change["waiting_for"] == ["agency", "client"]
    assert change["new_terms"]["rate_changes"] == [
        {"effective_from": rate_from.isoformat(), "rate_minor": 120_000, "commission_minor": 18_000, "agency_net_minor": 102_000}
    ]
    change_id = change["change_id"]
    assert api.post(base, proposal, token=client.token).status == 409  # one open change at a time
    pump.drain()
    for who in (agency, client):
        assert [m for m in pump.mails_to(who.email) if "change" in m["subject"].lower()], who.email

    assert api.post(f"{base}/{change_id}/agree", None, token=agency.token).body["status"] == "proposed"
    agreed = api.post(f"{base}/{change_id}/agree", None, token=client.token)
    assert agreed.status == 200 and agreed.body["status"] == "signing", agreed.body
    # Each party reads its own addendum; the consultant signs none.
    assert [a["party"] for a in agreed.body["addenda"]] == ["client"]
    assert {a["party"] for a in api.get(f"{base}/{change_id}", token=staff.token).body["addenda"]} == {"agency", "client"}
    assert api.get(f"{base}/{change_id}", token=person.token).body["addenda"] == []

    pump.drain()
    for who, name in ((client, "Bo Buyer"), (agency, "Anna Admin"), (staff, "Stina Staff")):
        _sign(api, pump, who, name)
    pump.drain()
    signed = api.get(f"{base}/{change_id}", token=staff.token).body
    assert signed["status"] == "signed" and all(a["status"] == "completed" for a in signed["addenda"]), signed
    addendum = signed["addenda"][0]
    link = api.get(f"/engagements/{engagement_id}/contracts/{addendum['contract_id']}/document?kind=signed", token=staff.token)
    assert link.status == 200 and link.body["sha256"] == addendum["signed_document_sha256"]

    engagement = api.get(f"/engagements/{engagement_id}", token=agency.token).body
    assert engagement["status"] == "active" and engagement["terms"]["end_date"] == new_end.isoformat()
    assert engagement["terms"]["rate_minor"] == before["rate_minor"] and engagement["terms"]["rate_changes"][0]["rate_minor"] == 120_000
    # The contracts in force are the two signed at the start; the addenda sit beside them.
    assert all(c["change_id"] is None for c in engagement["contracts"])
    pump.drain()
    assert [m for m in pump.mails_to(person.email) if "changed" in m["subject"].lower() or "ändrat" in m["subject"].lower()]

    # Another change: the client's early end, declined by the consultant.
    early = api.post(base, {"end_date": (today + timedelta(days=20)).isoformat(), "reason": "Budget"}, token=client.token)
    assert early.status == 201 and early.body["kind"] == "early_end", early.body
    declined = api.post(f"{base}/{early.body['change_id']}/decline", {"reason": "Notice period"}, token=person.token)
    assert declined.status == 200 and declined.body["status"] == "declined"
    assert api.get(f"/engagements/{engagement_id}", token=client.token).body["terms"]["end_date"] == new_end.isoformat()
    assert [c["status"] for c in api.get(base, token=client.token).body["items"]] == ["signed", "declined"]
