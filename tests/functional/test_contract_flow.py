"""Issue 6's "done when", through the HTTP API on moto with the event pump: an accepted candidate yields two
contracts as PDFs, both are signed with the built-in signature (links from the local outbox), the built-in
signature's webhooks reach /webhooks/esign signed as DocuSign's do and activate the engagement once, and
the signed PDFs with their evidence page can be downloaded by their parties, and by nobody else."""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

import pytest
import requests

from tests.conftest import LocalStack
from tests.functional.conftest import Actor, Api, Pump
from tests.functional.test_proposal_flow import RATE, _shortlisted

pytestmark = pytest.mark.functional


def _accepted(api: Api, pump: Pump, local_aws: LocalStack) -> dict[str, Any]:
    scene = _shortlisted(api, pump, local_aws, 1)
    staff, client, agency = scene["staff"], scene["client"], scene["agency"]
    [person], [candidacy_id] = scene["consultants"], scene["ids"]
    assert api.post(f"/candidacies/{candidacy_id}/consent-requests", {}, token=staff.token).status == 200
    assert api.request("PUT", f"/candidacies/{candidacy_id}/rate", json_body={"hourly_rate": RATE}, token=agency.token).status == 200
    for who in (person, agency):
        assert api.post(f"/candidacies/{candidacy_id}/consent", {"hourly_rate": RATE}, token=who.token).status == 200
    sent = api.post(f"/assignments/{scene['assignment_id']}/proposals", {"candidacy_ids": [candidacy_id]}, token=staff.token)
    proposal_id = sent.body["proposal"]["proposal_id"]
    accepted = api.post(f"/proposals/{proposal_id}/candidates/{candidacy_id}/accept", {}, token=client.token)
    assert accepted.status == 200 and accepted.body["engagement_id"], accepted.body
    return {**scene, "person": person, "engagement_id": accepted.body["engagement_id"]}


def _sign(api: Api, pump: Pump, signer: Actor, name: str) -> None:
    links = [m for m in pump.mails_to(signer.email) if "/sign/" in m["body"]]
    assert links, f"no signing link for {signer.email}"
    for mail in links:
        envelope_id, token = re.search(r"/sign/(\w+)\?token=([\w-]+)", mail["body"]).groups()  # type: ignore[union-attr]
        view = api.get(f"/signing/{envelope_id}?token={token}", token=signer.token)
        assert view.status == 200, view.body
        if view.body["signer_state"] != "waiting":
            continue
        # The signer reviews the PDF through its link and signs the hash of what they read.
        pdf = requests.get(view.body["document_url"], timeout=10).content
        assert hashlib.sha256(pdf).hexdigest() == view.body["document_sha256"]
        form = {"token": token, "typed_name": name, "document_sha256": view.body["document_sha256"], "agree": True}
        signed = api.post(f"/signing/{envelope_id}/sign", form, token=signer.token)
        assert signed.status == 200 and signed.body["signer_state"] == "signed", signed.body
        assert api.post(f"/signing/{envelope_id}/sign", form, token=signer.token).status == 409  # the link is spent


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_an_accepted_candidate_is_contracted_signed_and_activated_once(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    scene = _accepted(api, pump, local_aws)
    staff, client, agency, person = scene["staff"], scene["client"], scene["agency"], scene["person"]
    engagement_id = scene["engagement_id"]

    before = api.get(f"/engagements/{engagement_id}", token=client.token)
    assert before.status == 200 and before.body["status"] == "contracting" and before.body["terms"]["rate_minor"] == RATE["amount_minor"]
    assert before.body["terms"]["commission_minor"] + before.body["terms"]["agency_net_minor"] == RATE["amount_minor"]
    assert api.post(f"/engagements/{engagement_id}/contracts/send", {}, token=client.token).status == 403
    sent = api.post(f"/engagements/{engagement_id}/contracts/send", {}, token=staff.token)
    assert sent.status == 200, sent.body
    assert sorted(c["party"] for c in sent.body["contracts"]) == ["agency", "client"]
    assert {c["status"] for c in sent.body["contracts"]} == {"sent"}
    pump.drain()  # the built-in signature's envelope-sent events go through the webhook (stale: sent already)

    # Each counterparty sees its own contract only; the consultant sees the engagement, not the contracts.
    client_view = api.get(f"/engagements/{engagement_id}", token=client.token).body
    agency_view = api.get(f"/engagements/{engagement_id}", token=agency.token).body
    assert [c["party"] for c in client_view["contracts"]] == ["client"]
    assert [c["party"] for c in agency_view["contracts"]] == ["agency"]
    assert api.get(f"/engagements/{engagement_id}", token=person.token).body["contracts"] == []
    client_contract = client_view["contracts"][0]["contract_id"]
    agency_contract = agency_view["contracts"][0]["contract_id"]
    assert api.get(f"/engagements/{engagement_id}/contracts/{agency_contract}", token=client.token).status == 404
    assert api.get(f"/engagements/{engagement_id}/contracts/{client_contract}", token=agency.token).status == 404

    draft = api.get(f"/engagements/{engagement_id}/contracts/{client_contract}/document?kind=document", token=client.token)
    assert draft.status == 200
    content = requests.get(draft.body["url"], timeout=10).content
    assert content.startswith(b"%PDF-") and hashlib.sha256(content).hexdigest() == draft.body["sha256"]

    _sign(api, pump, client, "Bo Buyer")
    pump.drain()
    assert api.get(f"/engagements/{engagement_id}/contracts/{client_contract}", token=client.token).body["status"] == "partly_signed"
    _sign(api, pump, agency, "Anna Admin")
    _sign(api, pump, staff, "Stina Staff")
    pump.drain()

    active = api.get(f"/engagements/{engagement_id}", token=staff.token).body
    assert active["status"] == "active" and active["time_reporting_open"] is True
    assert {c["status"] for c in active["contracts"]} == {"completed"}
    told = [m for m in pump.mails_to(person.email) if m["subject"].startswith("Contracts signed")]
    assert len(told) == 1  # activated exactly once
    assert api.get(f"/assignments/{scene['assignment_id']}", token=client.token).body["status"] == "filled"

    for who, contract_id in ((client, client_contract), (agency, agency_contract), (staff, client_contract)):
        link = api.get(f"/engagements/{engagement_id}/contracts/{contract_id}/document?kind=signed", token=who.token)
        assert link.status == 200, link.body
        signed = requests.get(link.body["url"], timeout=10).content
        assert hashlib.sha256(signed).hexdigest() == link.body["sha256"]
        text = _pdf_text(signed)
        original = api.get(f"/engagements/{engagement_id}/contracts/{contract_id}", token=who.token).body["document_sha256"]
        # The evidence page names the signers and the hash of what they signed (a long hash may wrap).
        assert "Stina Staff" in text and original in re.sub(r"\s", "", text)
    # The consultant's GDPR export lists the engagement with its terms.
    exported = api.get("/me/export", token=person.token).body["engagements"]
    assert [(e["engagement_id"], e["status"], e["terms"]["rate_minor"]) for e in exported] == [
        (engagement_id, "active", RATE["amount_minor"])
    ]
    for outsider in (person,):
        assert api.get(f"/engagements/{engagement_id}/contracts/{client_contract}/document", token=outsider.token).status == 404


def test_a_forged_webhook_is_refused_with_nothing_stored(api: Api) -> None:
    body = b'{"event":"envelope-completed","data":{"envelopeId":"AAAA"}}'
    forged = api.request(
        "POST", "/webhooks/esign", raw=body, headers={"Content-Type": "application/json", "X-DocuSign-Signature-1": "bm9wZQ=="}
    )
    assert forged.status == 401 and forged.headers["Content-Type"] == "application/problem+json"
    unsigned = api.request("POST", "/webhooks/esign", raw=body, headers={"Content-Type": "application/json"})
    assert unsigned.status == 401
