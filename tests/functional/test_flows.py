"""The issue's "done when" flows through the HTTP API, on moto, with the event pump delivering events."""

from __future__ import annotations

import json
from urllib.parse import urlparse
from uuid import uuid4

import pytest
import requests

from tests import builders
from tests.builders import OPEN_FILTERS
from tests.conftest import LocalStack, unique_email
from tests.functional.conftest import (
    Api,
    Pump,
    invited_consultant,
    login,
    mailed_code,
    new_agency,
    new_client,
    new_independent,
    new_staff,
    register,
)

pytestmark = pytest.mark.functional
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def test_health_and_openapi(api: Api) -> None:
    health = api.get("/health")
    assert health.status == 200 and health.body["status"] == "ok" and health.body["version"]
    document = api.get("/openapi.json")
    assert document.status == 200 and document.body["openapi"].startswith("3.1")
    assert document.body["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_agency_invites_a_consultant_who_registers_with_a_web_form_and_both_log_in(api: Api, pump: Pump) -> None:
    agency = new_agency(api, pump)
    email = unique_email("consultant")
    invited = api.post(f"/agencies/{agency.org_id}/invitations", {"email": email}, token=agency.token)
    assert invited.status == 201 and invited.body["status"] == "open"
    assert "code" not in invited.body  # the code reaches the consultant's mailbox only
    [mail] = pump.mails_to(email)
    code = mailed_code(mail)

    form = {
        "name": "Cecilia Consultant",
        "email": email,
        "password": builders.PASSWORD,
        "invitation_code": code,
        "privacy_notice_version": builders.consent_fields()["privacy_notice_version"],
        "accept_privacy_notice": "on",
    }
    registered = api.request("POST", "/registrations/consultant", form=form)
    assert registered.status == 201, registered.body
    assert registered.body["organisation"]["org_id"] == agency.org_id

    me = api.get("/me", token=login(api, email))
    assert me.body["user"]["roles"] == ["consultant"] and me.body["organisation"]["org_id"] == agency.org_id
    assert api.get("/me", token=agency.token).body["user"]["roles"] == ["agency_admin"]
    members = api.get(f"/organisations/{agency.org_id}/members", token=agency.token).body["items"]
    assert {m["email"] for m in members} == {agency.email, email}
    [listed] = api.get(f"/agencies/{agency.org_id}/invitations", token=agency.token).body["items"]
    assert listed["status"] == "used" and "code" not in listed
    # Nothing is sent twice; besides the invitation, the new consultant heard who their Consultant Agent is.
    later = pump.mails_to(email)
    assert later[0] == mail and len(later) == 2 and "is now the agent for" in later[1]["subject"]

    again = api.request("POST", "/registrations/consultant", form={**form, "email": unique_email()})
    assert again.status == 422 and again.error_fields == {"invitation_code"}  # used already


def test_an_independent_consultant_confirms_the_email_logs_in_and_later_joins_an_agency(api: Api, pump: Pump) -> None:
    email = unique_email("independent")
    registered = api.post("/registrations/consultant", builders.consultant_registration(email))
    assert registered.status == 201 and registered.body["user"]["status"] == "pending_verification"
    pending = api.get("/me", token=login(api, email))
    assert pending.status == 401 and "Confirm your e-mail" in pending.body["detail"]
    [mail] = pump.mails_to(email)
    assert api.post("/registrations/verify-email", {"email": email, "code": "y" * 32}).status == 422
    assert api.post("/registrations/resend-verification", {"email": unique_email()}).status == 202  # says nothing about the address
    verified = api.post("/registrations/verify-email", {"email": email, "code": mailed_code(mail, "verification")})
    assert verified.status == 200 and verified.body["status"] == "active"
    token = login(api, email)
    me = api.get("/me", token=token).body
    assert set(me["user"]["roles"]) == {"consultant", "agency_admin"} and me["organisation"]["independent"] is True

    agency = new_agency(api, pump)
    assert api.post(f"/agencies/{agency.org_id}/invitations", {"email": email}, token=agency.token).status == 201
    code = mailed_code(pump.mails_to(email)[-1])
    joined = api.post("/me/invitations/accept", {"invitation_code": code}, token=token)
    assert joined.status == 200 and joined.body["org_id"] == agency.org_id
    me = api.get("/me", token=login(api, email)).body
    assert me["user"]["roles"] == ["consultant"] and me["organisation"]["org_id"] == agency.org_id
    assert api.post("/me/invitations/accept", {"invitation_code": code}, token=token).status == 422  # used


def test_on_behalf_consent_is_uploaded_verified_and_confirmed(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    agency, staff = new_agency(api, pump), new_staff(api, local_aws)
    consultant_email = unique_email("represented")
    created = api.post(
        f"/agencies/{agency.org_id}/consent-documents",
        {"consultant_name": "Rita Represented", "consultant_email": consultant_email},
        token=agency.token,
    )
    assert created.status == 201, created.body
    document_id, upload = created.body["document"]["document_id"], created.body["upload"]
    assert upload["fields"]["key"].startswith(f"consent-documents/{agency.org_id}/")

    # The browser posts the file straight to S3 with the presigned form.
    assert urlparse(upload["url"]).hostname == "127.0.0.1"
    posted = requests.post(upload["url"], data=upload["fields"], files={"file": ("consent.pdf", PDF, "application/pdf")}, timeout=10)
    assert posted.status_code in (200, 204)
    pump.drain()
    document = api.get(f"/consent-documents/{document_id}", token=agency.token).body
    assert document["status"] == "uploaded" and document["size_bytes"] == len(PDF) and len(document["sha256"]) == 64

    pending = api.get("/consent-documents?status=uploaded", token=staff.token).body["items"]
    assert document_id in [d["document_id"] for d in pending]
    download = api.get(f"/consent-documents/{document_id}/file", token=staff.token).body
    assert requests.get(download["url"], timeout=10).content == PDF
    verified = api.post(f"/consent-documents/{document_id}/verify", {"reason": "Signed and dated"}, token=staff.token)
    assert verified.status == 200 and verified.body["status"] == "verified" and verified.body["review_reason"] == "Signed and dated"
    assert api.post(f"/consent-documents/{document_id}/verify", {}, token=staff.token).status == 409

    [mail] = pump.mails_to(consultant_email)
    assert "represent you" in mail["subject"]
    code = mailed_code(mail)
    unconfirmed = api.post("/registrations/consultant", builders.consultant_registration(consultant_email, code))
    assert unconfirmed.status == 422 and unconfirmed.error_fields == {"confirm_agency_representation"}
    consultant = register(
        api,
        "/registrations/consultant",
        builders.consultant_registration(consultant_email, code, confirm_agency_representation=True),
        consultant_email,
    )
    assert consultant.org_id == agency.org_id
    assert api.get(f"/consent-documents/{document_id}", token=agency.token).body["status"] == "confirmed"

    # The consultant sees both consents and withdraws the agency's representation with one call.
    mine = api.get("/me/consents", token=consultant.token).body
    purposes = {c["consent"]["purpose"]: c for c in mine["consents"]}
    assert set(purposes) == {"platform_processing", "agency_representation"}
    representation = purposes["agency_representation"]["consent"]
    assert representation["document_id"] == document_id and representation["document_sha256"] == document["sha256"]
    withdrawn = api.post(f"/me/consents/{representation['entry_id']}/withdraw", token=consultant.token)
    assert withdrawn.status == 200 and withdrawn.body["in_force"] is False
    assert api.post(f"/me/consents/{representation['entry_id']}/withdraw", token=consultant.token).body == withdrawn.body

    # Staff read the subject's consents; the read itself lands in the audit log.
    seen = api.get(f"/subjects/{consultant.user_id}/consents", token=staff.token).body
    assert [e["action"] for e in seen["entries"]].count("withdrawn") == 1
    audit = api.get(f"/subjects/{consultant.user_id}/audit", token=staff.token).body["items"]
    actions = [a["action"] for a in audit]
    assert {"consent.given", "consent.withdrawn", "consent_document.confirmed", "consents.read"} <= set(actions)


def test_a_refused_file_is_reported_and_can_be_replaced(api: Api, pump: Pump) -> None:
    agency = new_agency(api, pump)
    created = api.post(
        f"/agencies/{agency.org_id}/consent-documents", {"consultant_name": "Rita", "consultant_email": unique_email()}, token=agency.token
    ).body
    upload = created["upload"]
    requests.post(
        upload["url"], data=upload["fields"], files={"file": ("x.pdf", b"<html>not a pdf</html>", "application/pdf")}, timeout=10
    ).raise_for_status()
    pump.drain()
    document_id = created["document"]["document_id"]
    document = api.get(f"/consent-documents/{document_id}", token=agency.token).body
    assert document["status"] == "upload_rejected" and "not a PDF" in document["problem"]
    renewed = api.post(f"/consent-documents/{document_id}/upload", token=agency.token)
    assert renewed.status == 200 and renewed.body["fields"]["key"] == upload["fields"]["key"]


def test_every_person_sees_and_withdraws_their_own_consents(api: Api, pump: Pump) -> None:
    agency = new_agency(api, pump)
    people = [agency, new_client(api, pump), new_independent(api, pump), invited_consultant(api, pump, agency)]
    for person in people:
        consents = api.get("/me/consents", token=person.token).body
        assert consents["subject_id"] == person.user_id
        [processing] = consents["consents"]
        assert processing["in_force"] and processing["consent"]["notice_sha256"]
        entry_id = processing["consent"]["entry_id"]
        assert api.post(f"/me/consents/{entry_id}/withdraw", token=person.token).body["in_force"] is False
        again = api.post("/me/consents", builders.consent_fields(), token=person.token)
        assert again.status == 201 and again.body["in_force"]


def test_staff_approve_a_client_company(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    client, staff = new_client(api, pump), new_staff(api, local_aws)
    assert api.get(f"/organisations/{client.org_id}", token=client.token).body["status"] == "pending_approval"
    pending = api.get("/client-companies", token=staff.token).body["items"]
    assert client.org_id in [o["org_id"] for o in pending]
    approved = api.post(f"/client-companies/{client.org_id}/approve", {}, token=staff.token)
    assert approved.status == 200 and approved.body["status"] == "active"
    assert api.post(f"/client-companies/{client.org_id}/reject", {"reason": "late"}, token=staff.token).status == 409
    assert api.get(f"/organisations/{client.org_id}", token=client.token).body["status"] == "active"


def test_a_web_form_stays_signed_in_with_the_refresh_token(api: Api, pump: Pump) -> None:
    agency = new_agency(api, pump)
    tokens = api.post("/auth/login", {"email": agency.email, "password": builders.PASSWORD}).body
    refreshed = api.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status == 200 and refreshed.body["token_type"] == "Bearer"
    assert api.get("/me", token=refreshed.body["access_token"]).body["user"]["user_id"] == agency.user_id
    assert api.post("/auth/refresh", {"refresh_token": "forged"}).status == 401
    assert api.post("/auth/login", {"email": agency.email, "password": "wrong-password-123"}).status == 401


def test_a_role_left_in_the_token_counts_for_nothing_once_the_stored_user_lost_it(
    api: Api, pump: Pump, local_aws: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.errors import UpstreamUnavailable

    independent = new_independent(api, pump)
    agency = new_agency(api, pump)
    assert api.post(f"/agencies/{agency.org_id}/invitations", {"email": independent.email}, token=agency.token).status == 201
    code = mailed_code(pump.mails_to(independent.email)[-1])

    def identity_down(email: str, role: object) -> None:
        raise UpstreamUnavailable("down")

    monkeypatch.setattr(local_aws.container.identity, "remove_from_group", identity_down)
    assert api.post("/me/invitations/accept", {"invitation_code": code}, token=independent.token).status == 200
    token = login(api, independent.email)  # Cognito still puts agency_admin in the token
    import jwt

    assert "agency_admin" in jwt.decode(token, options={"verify_signature": False})["cognito:groups"]
    # As an agency admin of its new agency it could invite people; the stored user says consultant only.
    assert api.post(f"/agencies/{agency.org_id}/invitations", {"email": unique_email()}, token=token).status == 403
    assert api.get("/me", token=token).body["user"]["roles"] == ["consultant"]


def test_a_consultant_fills_in_my_profile_and_its_agency_and_staff_read_it(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    agency = new_agency(api, pump)
    consultant = invited_consultant(api, pump, agency)
    blank = api.get("/me/profile", token=consultant.token).body
    assert blank["stored"] is False and blank["name"] == "Cecilia Consultant"
    profile = {
        "name": "Cecilia Consultant",
        "title": "Data engineer",
        "summary": "Pipelines that do not break.",
        "city": "Umeå",
        "country": "SE",
        "remote_preference": "remote",
        "languages": [{"code": "sv", "level": "native"}, {"code": "en", "level": "C1"}],
        "availability": {"available_from": "2027-02-01", "share_of_full_time": 100},
        "expected_hourly_rate": {"amount_minor": 95_000, "currency": "SEK"},
    }
    saved = api.request("PUT", "/me/profile", json_body=profile, token=consultant.token)
    assert saved.status == 200 and saved.body["stored"] and saved.body["agency_id"] == agency.org_id
    assert api.request("PUT", "/me/profile", json_body={**profile, "surprise": 1}, token=consultant.token).status == 422
    seen = api.get(f"/consultants/{consultant.user_id}/profile", token=agency.token).body
    assert seen["title"] == "Data engineer" and seen["expected_hourly_rate"] == {"amount_minor": 95_000, "currency": "SEK"}
    staff = new_staff(api, local_aws)
    assert api.get(f"/consultants/{consultant.user_id}/profile", token=staff.token).status == 200
    audit = api.get(f"/subjects/{consultant.user_id}/audit", token=staff.token).body["items"]
    assert [a["actor_id"] for a in audit if a["action"] == "profile.read"] == [staff.user_id]


def test_a_consultant_fills_every_part_of_the_resume(api: Api, pump: Pump) -> None:
    from tests.unit.test_resume import EXAMPLES

    agency = new_agency(api, pump)
    consultant = invited_consultant(api, pump, agency)
    for part, body in EXAMPLES.items():
        if part.value == "letter":
            reply = api.request("PUT", "/me/resume/letter", json_body=body, token=consultant.token)
            assert reply.status == 200, reply.body
        else:
            reply = api.post(f"/me/resume/{part.value}", body, token=consultant.token)
            assert reply.status == 201, (part, reply.body)
    whole = api.get("/me/resume", token=consultant.token).body
    assert whole["letter"]["text"] == EXAMPLES["letter"]["text"]  # type: ignore[index]
    assert whole["skills"][0]["skill_id"] == "microsoft-sql-server"
    assert [s["skill_id"] for s in whole["experience"][0]["skills_used"]] == ["kubernetes", "python", None]
    item_id = whole["education"][0]["item_id"]
    changed = api.request(
        "PUT",
        f"/me/resume/education/{item_id}",
        json_body={**EXAMPLES["education"], "degree": "PhD"},  # type: ignore[index]
        token=consultant.token,
    )
    assert changed.status == 200 and changed.body["degree"] == "PhD"
    bad = api.post("/me/resume/education", {**EXAMPLES["education"], "end": "2001-01-01"}, token=consultant.token)  # type: ignore[index]
    assert bad.status == 422 and bad.error_fields == {"end"}
    assert api.request("DELETE", f"/me/resume/education/{item_id}", token=consultant.token).status == 204
    assert api.request("DELETE", f"/me/resume/education/{item_id}", token=consultant.token).status == 404
    seen = api.get(f"/consultants/{consultant.user_id}/resume", token=agency.token).body
    assert seen["education"] == [] and seen["certificates"][0]["name"] == "AWS Solutions Architect"


def test_a_consultant_uploads_a_real_pdf_cv_and_sees_its_text_and_suggested_skills(api: Api, pump: Pump) -> None:
    from demo.documents import pdf_with_text

    agency = new_agency(api, pump)
    consultant = invited_consultant(api, pump, agency)
    cv = pdf_with_text("Cecilia Consultant - data engineer", "Skills: Apache Kafka, Kubernetes, Python, dbt")
    created = api.post("/me/files", {"purpose": "cv", "content_type": "application/pdf", "filename": "cv.pdf"}, token=consultant.token)
    assert created.status == 201 and created.body["file"]["status"] == "pending"
    upload, file_id = created.body["upload"], created.body["file"]["file_id"]
    assert upload["max_bytes"] == 10 * 1024 * 1024 and upload["content_type"] == "application/pdf"
    requests.post(upload["url"], data=upload["fields"], files={"file": ("cv.pdf", cv, "application/pdf")}, timeout=10).raise_for_status()
    pump.drain()
    file = api.get(f"/me/files/{file_id}", token=consultant.token).body
    assert file["status"] == "accepted" and "data engineer" in file["text_excerpt"]
    assert {"kafka", "kubernetes", "python", "dbt"} <= {s["skill_id"] for s in file["suggestions"]}
    decided = api.post(f"/me/files/{file_id}/suggestions", {"skill_id": "kafka", "decision": "accept"}, token=consultant.token)
    assert decided.status == 200
    assert [s["skill_id"] for s in api.get("/me/resume", token=consultant.token).body["skills"]] == ["kafka"]
    download = api.get(f"/me/files/{file_id}/download", token=consultant.token).body
    assert requests.get(download["url"], timeout=10).content == cv

    # An executable renamed .pdf is refused with a reason and its bytes removed.
    hostile = api.post("/me/files", {"purpose": "cv", "content_type": "application/pdf", "filename": "cv.pdf"}, token=consultant.token).body
    form = hostile["upload"]
    requests.post(
        form["url"], data=form["fields"], files={"file": ("cv.pdf", b"MZ\x90\x00" + b"\x00" * 500, "application/pdf")}, timeout=10
    ).raise_for_status()
    pump.drain()
    refused = api.get(f"/me/files/{hostile['file']['file_id']}", token=consultant.token).body
    assert refused["status"] == "rejected" and "program" in refused["problem"]
    assert api.request("DELETE", f"/me/files/{file_id}", token=consultant.token).status == 204


def test_a_consultant_downloads_the_export_of_everything_held_about_them(api: Api, pump: Pump) -> None:
    import io
    import zipfile

    from demo.documents import pdf_with_text

    agency = new_agency(api, pump)
    consultant = invited_consultant(api, pump, agency)
    api.request("PUT", "/me/profile", json_body={"name": "Cecilia Consultant", "title": "Architect"}, token=consultant.token)
    api.post("/me/resume/skills", {"name": "k8s", "level": 4}, token=consultant.token)
    cv = pdf_with_text("Cecilia - architect")
    form = api.post("/me/files", {"purpose": "cv", "content_type": "application/pdf", "filename": "cv.pdf"}, token=consultant.token).body
    requests.post(
        form["upload"]["url"], data=form["upload"]["fields"], files={"file": ("cv.pdf", cv, "application/pdf")}, timeout=10
    ).raise_for_status()
    pump.drain()

    export = api.get("/me/export", token=consultant.token)
    assert export.status == 200
    body = export.body
    assert body["user"]["email"] == consultant.email and body["profile"]["title"] == "Architect"
    assert body["resume"]["skills"][0]["skill_id"] == "kubernetes" and body["files"][0]["text_excerpt"].startswith("Cecilia")
    assert body["consents"][0]["purpose"] == "platform_processing" and body["disclosures"] == []
    assert body["audit"][-1]["action"] == "data.exported"

    # The files come zipped, built in the background by the stream handler (streamed to S3 in parts).
    requested = api.post("/me/export/archive", token=consultant.token)
    assert requested.status == 202 and requested.body["status"] == "preparing" and requested.body["download"] is None
    archive_id = requested.body["archive_id"]
    pump.drain()
    ready = api.get(f"/me/export/archive/{archive_id}", token=consultant.token).body
    assert ready["status"] == "ready" and ready["file_count"] == 1
    archive = zipfile.ZipFile(io.BytesIO(requests.get(ready["download"]["url"], timeout=10).content))
    assert cv in [archive.read(name) for name in archive.namelist() if name != "index.json"]
    assert api.get(f"/me/export/archive/{archive_id}", token=agency.token).status == 404  # each person their own
    assert api.get("/me/export", token=agency.token).body["resume"]["skills"] == []  # everyone may export; each only their own


def _traces_everywhere(local_aws: LocalStack, needles: list[str]) -> list[str]:
    """Every place any needle is still stored: every item of every table, every version of every object
    (key and content), and every user of the user pool."""
    import boto3

    settings = local_aws.container.settings  # type: ignore[attr-defined]
    lowered = [n.lower() for n in needles]
    found: list[str] = []
    dynamodb = boto3.client("dynamodb")
    for table in (settings.table_main, settings.table_consent_ledger, settings.table_audit_log):
        for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                text = str(item).lower()
                found += [f"{table} {item['pk' if 'pk' in item else 'subject_id']}: {n}" for n in lowered if n in text]
    s3 = boto3.client("s3")
    bucket = settings.documents_bucket
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            key = version["Key"]
            content = b"" if "Size" not in version else s3.get_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])["Body"].read()
            found += [f"s3 {key}: {n}" for n in lowered if n in key.lower() or n.encode() in content.lower()]
    cognito = boto3.client("cognito-idp")
    for page in cognito.get_paginator("list_users").paginate(UserPoolId=settings.user_pool_id):
        found += [f"cognito: {n}" for user in page["Users"] for n in lowered if n in str(user).lower()]
    return found


def test_a_consultant_asks_to_be_erased_and_nothing_is_left_behind(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    import uuid

    agency = new_agency(api, pump)
    consultant = invited_consultant(api, pump, agency)
    name = f"Erika Erasable {uuid.uuid4().hex[:8]}"
    assert api.request("PUT", "/me/profile", json_body={"name": name, "title": "Architect"}, token=consultant.token).status == 200
    api.post("/me/resume/skills", {"name": "k8s", "level": 4}, token=consultant.token)
    api.post("/me/resume/experience", {"organisation": "Volvo", "role": "Architect", "start": "2020-01-01"}, token=consultant.token)
    from demo.documents import pdf_with_text

    cv = pdf_with_text(f"{name} - architect")
    form = api.post(
        "/me/files", {"purpose": "portfolio", "content_type": "application/pdf", "filename": "work.pdf"}, token=consultant.token
    )
    requests.post(
        form.body["upload"]["url"], data=form.body["upload"]["fields"], files={"file": ("work.pdf", cv, "application/pdf")}, timeout=10
    ).raise_for_status()
    pump.drain()
    assert api.get("/me/export", token=consultant.token).status == 200
    api.post("/me/export/archive", token=consultant.token)
    pump.drain()  # the zip of the files is built under exports/
    needles = [consultant.user_id, consultant.email, name]
    assert len(_traces_everywhere(local_aws, needles)) >= 5  # the scan finds what it looks for

    wrong = api.post("/me/erasure", {"password": "not-my-password-1"}, token=consultant.token)
    assert wrong.status == 422 and wrong.error_fields == {"password"}
    assert api.get("/me", token=consultant.token).status == 200  # nothing happened
    erased = api.post("/me/erasure", {"password": builders.PASSWORD}, token=consultant.token)
    assert erased.status == 202 and erased.body["status"] == "pending" and erased.body["reason"] == "requested"
    assert api.get("/me", token=consultant.token).status == 401  # disabled at once

    pump.drain()  # the stream handler carries the erasure out
    assert _traces_everywhere(local_aws, needles) == []
    assert api.post("/auth/login", {"email": consultant.email, "password": builders.PASSWORD}).status == 401
    members = api.get(f"/organisations/{agency.org_id}/members", token=agency.token).body
    assert consultant.user_id not in str(members)


def test_a_consultant_imports_a_json_resume_exports_it_and_finds_it_in_the_personal_data_export(api: Api, pump: Pump) -> None:
    from tests.unit.test_json_resume import SAMPLE, assert_kept, assert_valid_json_resume

    agency = new_agency(api, pump)
    consultant = invited_consultant(api, pump, agency)
    document = {**SAMPLE, "basics": {**SAMPLE["basics"], "email": consultant.email}, "skills": SAMPLE["skills"][:2]}
    assert len(json.dumps(document)) < 65536 < len(json.dumps(big := {**document, "padding": "x" * 70_000}))

    imported = api.request("PUT", "/me/resume/json-resume", json_body=document, token=consultant.token)
    assert imported.status == 200, imported.body
    assert_kept(document, imported.body)
    assert_valid_json_resume(imported.body)
    exported = api.get("/me/resume/json-resume", token=consultant.token)
    assert exported.status == 200 and exported.body == imported.body
    assert api.get("/me/resume", token=consultant.token).body["experience"][0]["start"] == "2013-12-01"
    assert api.get(f"/consultants/{consultant.user_id}/resume/json-resume", token=agency.token).body == imported.body

    # A whole resume may exceed the 64 KB of a form; the import takes up to 1 MiB.
    assert api.request("PUT", "/me/resume/json-resume", json_body=big, token=consultant.token).body["padding"] == big["padding"]
    huge = {**document, "padding": "x" * (1024 * 1024)}
    assert api.request("PUT", "/me/resume/json-resume", json_body=huge, token=consultant.token).status == 413

    bad = {**document, "work": [{**SAMPLE["work"][0], "endDate": "2001"}, {"name": "Hooli"}], "awards": [{"title": "T", "date": "20-1"}]}
    refused = api.request("PUT", "/me/resume/json-resume", json_body=bad, token=consultant.token)
    assert refused.status == 422 and refused.headers["Content-Type"] == "application/problem+json"
    assert refused.error_fields == {"awards.0.date"}  # the document's own shape is checked first
    del bad["awards"]
    refused = api.request("PUT", "/me/resume/json-resume", json_body=bad, token=consultant.token)
    assert refused.status == 422 and refused.error_fields == {"work.0.endDate", "work.1.position", "work.1.startDate"}
    assert api.get("/me/resume/json-resume", token=consultant.token).body["padding"] == big["padding"]  # nothing stored

    personal = api.get("/me/export", token=consultant.token).body
    assert personal["json_resume"] == api.get("/me/resume/json-resume", token=consultant.token).body
    assert api.get("/me/export", token=agency.token).body["json_resume"] is None


def test_an_import_of_more_than_one_transaction_replaces_the_whole_resume_on_dynamodb(api: Api, pump: Pump) -> None:
    from tests.unit.test_json_resume import large

    consultant = invited_consultant(api, pump, new_agency(api, pump))
    for tag in ("old", "new"):  # the second import writes 51 items and removes 50: two transactions
        reply = api.request("PUT", "/me/resume/json-resume", json_body=large(tag, 40, 10), token=consultant.token)
        assert reply.status == 200, reply.body
    whole = api.get("/me/resume", token=consultant.token).body
    assert [w["organisation"] for w in whole["experience"]] == [f"new {n}" for n in range(40)]
    assert len(whole["skills"]) == 10 and all(s["name"].startswith("new") for s in whole["skills"])


def test_an_approved_client_posts_and_publishes_an_assignment_that_staff_see_open(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    client, other, staff = new_client(api, pump), new_client(api, pump), new_staff(api, local_aws)
    form = builders.assignment_form()
    assert api.post(f"/client-companies/{client.org_id}/assignments", form, token=client.token).status == 409  # not approved yet
    for company in (client, other):
        assert api.post(f"/client-companies/{company.org_id}/approve", {}, token=staff.token).status == 200

    posted = api.post(f"/client-companies/{client.org_id}/assignments", form, token=client.token)
    assert posted.status == 201 and posted.body["status"] == "draft"
    assert [s["skill_id"] for s in posted.body["required_skills"]] == ["kubernetes", "terraform", "aws"]
    assignment_id = posted.body["assignment_id"]
    published = api.post(f"/assignments/{assignment_id}/publish", token=client.token)
    assert published.status == 200 and published.body["status"] == "open" and published.body["published_at"]
    assert assignment_id in [a["assignment_id"] for a in api.get("/assignments?status=open", token=staff.token).body["items"]]
    mine = api.get(f"/client-companies/{client.org_id}/assignments?status=open", token=client.token).body["items"]
    assert [a["assignment_id"] for a in mine] == [assignment_id]

    # Another company's users do not see it, nor can they post for this company.
    assert api.get(f"/assignments/{assignment_id}", token=other.token).status == 404
    assert api.post(f"/client-companies/{client.org_id}/assignments", form, token=other.token).status == 404
    # A broken form is a 422 naming its fields, with nothing stored.
    broken = api.post(
        f"/client-companies/{client.org_id}/assignments", {**form, "fixed_fee": {"amount_minor": 1, "currency": "SEK"}}, token=client.token
    )
    assert broken.status == 422
    assert len(api.get(f"/client-companies/{client.org_id}/assignments", token=client.token).body["items"]) == 1
    assert api.post(f"/assignments/{assignment_id}/fill", token=client.token).body["status"] == "filled"
    assert api.post(f"/assignments/{assignment_id}/cancel", token=client.token).status == 409


def test_the_search_index_follows_profiles_consents_and_erasure_through_the_stream(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    from chalicelib.matching.candidates import wanted_skill
    from chalicelib.matching.index import TextQuery

    index = local_aws.container.match_index  # type: ignore[attr-defined]
    unique = f"skill-{uuid4().hex[:8]}"

    def findable(user_id: str) -> bool:
        pump.drain()
        return user_id in [
            h.candidate.user_id for h in index.search(TextQuery((wanted_skill(None, unique),), (), "", "", OPEN_FILTERS), 50)
        ]

    consultant = invited_consultant(api, pump, new_agency(api, pump))
    assert api.request("PUT", "/me/profile", json_body={"name": "Ivy Indexed", "title": "Engineer"}, token=consultant.token).status == 200
    assert not findable(consultant.user_id)  # not yet with the skill
    api.post("/me/resume/skills", {"name": unique, "level": 4}, token=consultant.token)
    assert findable(consultant.user_id)

    processing = api.get("/me/consents", token=consultant.token).body["consents"][0]["consent"]
    assert processing["purpose"] == "platform_processing"
    assert api.post(f"/me/consents/{processing['entry_id']}/withdraw", token=consultant.token).status == 200
    assert not findable(consultant.user_id)  # withdrawn: no longer found
    given = api.post("/me/consents", {"privacy_notice_version": "2026-11-01", "accept_privacy_notice": True}, token=consultant.token)
    assert given.status == 201 and findable(consultant.user_id)

    assert api.post("/me/erasure", {"password": builders.PASSWORD}, token=consultant.token).status == 202
    assert not findable(consultant.user_id)


def test_staff_get_explained_ranked_candidates_for_a_posted_assignment(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    client, staff = new_client(api, pump), new_staff(api, local_aws)
    assert api.post(f"/client-companies/{client.org_id}/approve", {}, token=staff.token).status == 200
    unique = f"skill-{uuid4().hex[:8]}"  # this test's own skill, so that other tests' consultants rank apart
    form = builders.assignment_form(required_skills=[unique, "k8s"], nice_to_have_skills=[], languages=[])
    assignment_id = api.post(f"/client-companies/{client.org_id}/assignments", form, token=client.token).body["assignment_id"]
    assert api.post(f"/assignments/{assignment_id}/publish", token=client.token).status == 200

    agency = new_agency(api, pump)
    strong, weak = invited_consultant(api, pump, agency), invited_consultant(api, pump, agency)
    for person, skills in ((strong, [unique, "Kubernetes"]), (weak, [unique])):
        profile = {"name": "N", "title": "Platform engineer", "country": "SE", "remote_preference": "remote"}
        assert api.request("PUT", "/me/profile", json_body=profile, token=person.token).status == 200
        for skill in skills:
            api.post("/me/resume/skills", {"name": skill, "level": 4, "years": 5}, token=person.token)
    pump.drain()  # the stream handler indexes them

    run = api.post(f"/assignments/{assignment_id}/matches?limit=5", token=staff.token)
    assert run.status == 201, run.body
    ranked = [c["user_id"] for c in run.body["items"]]
    assert ranked.index(strong.user_id) < ranked.index(weak.user_id)
    best = run.body["items"][ranked.index(strong.user_id)]
    assert {m["required_as"] for m in best["reasons"]["matched_required"]} == {unique, "Kubernetes"}
    assert best["reasons"]["rate_fit"] == "unknown" and best["reasons"]["location_fits"]
    weaker = run.body["items"][ranked.index(weak.user_id)]
    assert weaker["reasons"]["missing_required"] == ["Kubernetes"] and weaker["score"] < best["score"]
    assert run.body["engine"] == "embedded" and len(run.body["taxonomy_version"]) == 16
    assert api.post(f"/assignments/{assignment_id}/matches", token=client.token).status == 403

    # The reverse direction, for the consultant's agent.
    fitting = api.get(f"/consultants/{weak.user_id}/fitting-assignments", token=staff.token)
    assert fitting.status == 200, fitting.body
    [mine] = [f for f in fitting.body["items"] if f["assignment"]["assignment_id"] == assignment_id]
    assert mine["reasons"]["missing_required"] == ["Kubernetes"]


def test_a_person_chooses_the_language_of_their_messages(api: Api, pump: Pump) -> None:
    email = unique_email("svensk")
    agency = register(api, "/registrations/agency", builders.agency_registration(email, language="sv"), email, pump)
    assert api.get("/me", token=agency.token).body["user"]["language"] == "sv"
    changed = api.request("PATCH", "/me", json_body={"language": "en", "name": "Anna Andersson"}, token=agency.token)
    assert changed.status == 200 and changed.body["user"]["language"] == "en", changed.body
    assert api.get("/me", token=agency.token).body["user"]["name"] == "Anna Andersson"
    refused = api.request("PATCH", "/me", json_body={"language": "de"}, token=agency.token)
    assert refused.status == 422 and refused.error_fields == {"language"}


def test_a_notification_reaches_the_app_and_the_mailbox_in_the_persons_language(api: Api, pump: Pump, local_aws: LocalStack) -> None:
    from chalicelib.domain.ids import utcnow
    from chalicelib.services.notifications import notify
    from chalicelib.services.ports import Attachment, Changes

    email = unique_email("notified")
    person = register(api, "/registrations/agency", builders.agency_registration(email, language="sv"), email, pump)
    container = local_aws.container
    user = container.account_repository.get_user(person.user_id)  # type: ignore[attr-defined]
    params = {"recipient_name": user.name, "assignment_title": "Molnarkitekt", "client_name": "Kund AB", "link": "https://app.example/p/1"}
    invite = Attachment("invite.ics", "text/calendar; method=REQUEST", "BEGIN:VCALENDAR\r\nSUMMARY:Möte\r\nEND:VCALENDAR\r\n")
    changes = notify(Changes(), user, "candidate_accepted", params, utcnow(), object_type="proposal", object_id="P1", attachments=(invite,))
    container.uow.commit(changes)  # type: ignore[attr-defined]

    [mail] = [m for m in pump.mails_to(email) if m["subject"].startswith("Vald:")]  # from the outbox, by the stream
    assert mail["subject"] == "Vald: Molnarkitekt hos Kund AB" and "Hej Anna Admin" in mail["body"]
    assert [(a["filename"], a["content"]) for a in mail["attachments"]] == [("invite.ics", invite.content)]
    listed = api.get("/me/notifications?unread=true", token=person.token)
    assert listed.status == 200 and listed.body["unread_count"] == 1
    [notification] = listed.body["items"]
    assert (notification["subject"], notification["object_type"], notification["status"]) == (mail["subject"], "proposal", "unread")
    read = api.post(f"/me/notifications/{notification['notification_id']}/read", token=person.token)
    assert read.status == 200 and read.body["status"] == "read" and read.body["read_at"]
    assert api.get("/me/notifications?unread=true", token=person.token).body == {"items": [], "unread_count": 0}
    assert api.post("/me/notifications/read-all", token=person.token).body == {"marked": 0}
    exported = api.get("/me/export", token=person.token).body["notifications"]
    assert [n["notification_id"] for n in exported] == [notification["notification_id"]]
