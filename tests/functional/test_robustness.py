"""Hostile and careless input: always a clean problem+json 4xx, never a 500, nothing half-stored."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.domain.identity import RequestContext
from chalicelib.errors import Conflict
from chalicelib.schemas.accounts import AgencyRegistrationRequest
from chalicelib.services.accounts import AccountPorts
from chalicelib.services.registration import register_agency
from tests import builders
from tests.conftest import LocalStack, unique_email
from tests.functional.conftest import Api, Pump, new_agency, new_staff

pytestmark = pytest.mark.functional
REGISTER = "/registrations/agency"


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        (b"[" * 50_000, "application/json", 400),
        (b"[1, 2, 3]", "application/json", 422),
        (b'"just a string"', "application/json", 422),
        (b"null", "application/json", 422),
        (b"x" * 70_000, "application/json", 413),
        (b"<xml/>", "application/xml", 415),
        (b"a=1", "text/plain", 415),
        (b"admin.email=not-an-email", "application/x-www-form-urlencoded", 422),
    ],
)
def test_bad_bodies_get_clean_problems(api: Api, raw: bytes, content_type: str, status: int) -> None:
    reply = api.request("POST", REGISTER, raw=raw, headers={"Content-Type": content_type})
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.body["status"] == status and reply.body["title"] and reply.body["type"].startswith("https://")


def test_wrong_types_and_unknown_fields_are_named_field_by_field(api: Api) -> None:
    payload = builders.agency_registration(unique_email())
    payload["organisation"]["address"]["city"] = 42
    payload["admin"]["password"] = ["list"]
    payload["accept_privacy_notice"] = "maybe"
    payload["is_staff"] = True
    reply = api.post(REGISTER, payload)
    assert reply.status == 422
    assert reply.error_fields == {"organisation.address.city", "admin.password", "accept_privacy_notice", "is_staff"}
    assert builders.PASSWORD not in json.dumps(reply.body)  # input is never echoed


@pytest.mark.parametrize("path", ["/organisations/..%2F..%2Fetc", "/organisations/not-an-id", "/consent-documents/' OR 1=1 --"])
def test_malformed_ids_are_simply_not_found(api: Api, pump: Pump, path: str) -> None:
    agency = new_agency(api, pump)
    reply = api.get(path, token=agency.token)
    assert reply.status == 404


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic abc", "Bearer a.b.c", "Bearer " + "x" * 5000])
def test_bad_tokens_are_401(api: Api, header: str) -> None:
    reply = api.get("/me", headers={"Authorization": header})
    assert reply.status == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_method_is_a_problem_too(api: Api) -> None:
    reply = api.request("DELETE", "/health")
    assert reply.status == 405 and reply.headers["Content-Type"] == "application/problem+json"


def _race(ports: AccountPorts, bodies: list[AgencyRegistrationRequest]) -> list[str]:
    def attempt(body: AgencyRegistrationRequest) -> str:
        try:
            return register_agency(ports, body, RequestContext()).user.user_id
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(attempt, bodies))


def test_concurrent_registrations_with_one_email_create_exactly_one_account(local_aws: LocalStack) -> None:
    email = unique_email("race")
    ports = local_aws.container.accounts
    bodies = [AgencyRegistrationRequest.model_validate(builders.agency_registration(email)) for _ in range(6)]
    winners = [o for o in _race(ports, bodies) if o != "conflict"]
    assert len(winners) == 1
    assert ports.accounts.claim_owner("email", email) == winners[0]
    found = ports.identity.find_user(email)
    assert found is not None and found.subject == winners[0]
    numbers = [f"SE:{b.organisation.organisation_number.replace('-', '')}" for b in bodies]
    assert len([n for n in numbers if ports.accounts.claim_owner("organisation_number", n)]) == 1


def test_concurrent_registrations_of_one_organisation_roll_the_losers_back_entirely(local_aws: LocalStack) -> None:
    # Distinct e-mails pass Cognito, so the losers fail in the DynamoDB transaction and must be compensated.
    ports = local_aws.container.accounts
    number = builders.unique_org_number()
    emails = [unique_email("org-race") for _ in range(5)]
    outcomes = _race(ports, [AgencyRegistrationRequest.model_validate(builders.agency_registration(e, number)) for e in emails])
    winners = [(e, o) for e, o in zip(emails, outcomes, strict=True) if o != "conflict"]
    assert len(winners) == 1
    for email, outcome in zip(emails, outcomes, strict=True):
        if outcome == "conflict":
            assert ports.identity.find_user(email) is None  # compensated
            assert ports.accounts.claim_owner("email", email) is None
    assert (
        ports.accounts.claim_owner("organisation_number", f"SE:{number.replace('-', '')}") == ports.accounts.get_user(winners[0][1]).org_id
    )  # type: ignore[union-attr]


def test_logs_carry_a_correlation_id_and_no_personal_data(api: Api) -> None:
    email = unique_email("private")
    from chalicelib.logging import logger

    captured = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(captured)  # type: ignore[attr-defined]
    try:
        reply = api.post(REGISTER, builders.agency_registration(email), headers={"X-Correlation-Id": "trace-123"})
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    assert reply.status == 201 and reply.headers["X-Correlation-Id"] == "trace-123"
    logs = [json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")]
    assert logs and all(entry["correlation_id"] == "trace-123" for entry in logs)
    text = captured.getvalue()
    for secret in (email, "Anna Admin", builders.PASSWORD, "Drottninggatan"):
        assert secret not in text


def test_cors_only_for_configured_origins(api: Api) -> None:
    allowed = api.request("OPTIONS", REGISTER, headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    assert allowed.status == 204 and allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    refused = api.request("OPTIONS", REGISTER, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert api.get("/health", headers={"Origin": "https://evil.example"}).headers.get("Access-Control-Allow-Origin") is None
    assert api.get("/health", headers={"Origin": "http://localhost:3000"}).headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_an_agency_registers_from_a_plain_web_form_with_dotted_field_names(api: Api) -> None:
    email = unique_email("form")
    form = {
        "organisation.name": "Form Consulting AB",
        "organisation.organisation_number": builders.unique_org_number(),
        "organisation.country": "se",
        "organisation.address.line1": "Storgatan 2",
        "organisation.address.postal_code": "41101",
        "organisation.address.city": "Göteborg",
        "organisation.address.country": "SE",
        "organisation.billing_email": "billing@form.example",
        "organisation.vat_number": "",
        "admin.name": "Frida Form",
        "admin.email": email,
        "admin.password": builders.PASSWORD,
        "privacy_notice_version": builders.consent_fields()["privacy_notice_version"],
        "accept_privacy_notice": "on",
    }
    reply = api.request("POST", REGISTER, form=form)
    assert reply.status == 201, reply.body
    assert reply.body["organisation"]["address"]["city"] == "Göteborg" and reply.body["organisation"]["vat_number"] is None
    assert reply.body["organisation"]["country"] == "SE"
    missing = api.request("POST", REGISTER, form={k: v for k, v in form.items() if k != "admin.email"})
    assert missing.status == 422 and missing.error_fields == {"admin.email"}


def test_a_form_posted_with_every_field_blank_is_an_empty_form_not_a_missing_body(api: Api, pump: Pump) -> None:
    """A browser posts no bytes for such a form: the API fuzzing found it answered 400 "body required"."""
    blank = {"Content-Type": "application/x-www-form-urlencoded"}
    required = api.request("POST", REGISTER, raw=b"", headers=blank)
    assert required.status == 422
    assert required.error_fields == {"organisation", "admin", "privacy_notice_version", "accept_privacy_notice"}
    agency = new_agency(api, pump)
    unchanged = api.request("PATCH", "/me", raw=b"", headers=blank, token=agency.token)
    assert unchanged.status == 200 and unchanged.body["user"]["email"] == agency.email


def test_dates_are_iso_text_not_unix_times(api: Api, local_aws: LocalStack) -> None:
    """The API fuzzing's ``?due_before=0`` was read as 1970-01-01."""
    staff = new_staff(api, local_aws)
    reply = api.get("/evaluations?due_before=0", token=staff.token)
    assert reply.status == 422 and reply.error_fields == {"query.due_before"}
    assert api.get("/evaluations?due_before=2026-01-31", token=staff.token).status == 200
