"""Request payloads shared by unit and functional tests."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain.profiles import RemotePreference
from chalicelib.matching.filters import MatchFilters
from chalicelib.services.notices import CURRENT_PRIVACY_NOTICE_VERSION

OPEN_FILTERS = MatchFilters(None, None, date.max.toordinal(), (), tuple(m.value for m in RemotePreference), None, remote_ok=True)
"""Filters every candidate passes: for tests of retrieval alone."""

PASSWORD = "Correct-horse-battery-9"
# How mails in Swedish introduce the codes that English ones introduce with "<label> code: ".
SWEDISH_CODE_LABELS = {"invitation": "inbjudningskoden", "verification": "verifieringskoden"}
_counter = itertools.count(1000)


def unique_org_number() -> str:
    return f"556{next(_counter):03d}-{next(_counter) % 10000:04d}"


def consent_fields() -> dict[str, Any]:
    return {"privacy_notice_version": CURRENT_PRIVACY_NOTICE_VERSION, "accept_privacy_notice": True}


def organisation(name: str = "Acme Consulting AB", number: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "organisation_number": number or unique_org_number(),
        "country": "SE",
        "vat_number": "SE556677889901",
        "address": {"line1": "Drottninggatan 1", "postal_code": "111 51", "city": "Stockholm", "country": "SE"},
        "billing_email": "billing@acme.example",
    }


def agency_registration(email: str = "admin@acme.example", number: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "organisation": organisation(number=number),
        "admin": {"name": "Anna Admin", "email": email, "password": PASSWORD},
        **consent_fields(),
        **extra,
    }


def client_registration(email: str = "buyer@client.example", number: str | None = None) -> dict[str, Any]:
    return {
        "company": organisation("Client Industries AB", number),
        "user": {"name": "Bo Buyer", "email": email, "password": PASSWORD},
        **consent_fields(),
    }


def consultant_registration(email: str = "cecilia@consultant.example", code: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Cecilia Consultant", "email": email, "password": PASSWORD, **consent_fields(), **extra}
    if code is None:
        body.setdefault("independent", True)
    else:
        body["invitation_code"] = code
    return body


def assignment_form(start: date | None = None, **change: Any) -> dict[str, Any]:
    """A valid assignment; it starts six weeks from today unless told otherwise."""
    begins = start or datetime.now(UTC).date() + timedelta(weeks=6)
    return {
        "title": "Platform engineer for a payments migration",
        "description": "Move our payment services to Kubernetes on AWS.",
        "required_skills": ["k8s", "Terraform", "AWS"],
        "nice_to_have_skills": ["Go"],
        "seniority": "senior",
        "start_date": begins.isoformat(),
        "end_date": (begins + timedelta(days=180)).isoformat(),
        "share_of_full_time": 80,
        "city": "Stockholm",
        "country": "se",
        "work_modes": ["hybrid", "remote"],
        "languages": [{"code": "sv", "min_level": "B2"}, {"code": "en", "min_level": "C1"}],
        "max_hourly_rate": {"amount_minor": 120000, "currency": "SEK"},
        **change,
    }
