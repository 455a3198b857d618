"""Request payloads shared by unit and functional tests."""

from __future__ import annotations

import itertools
from typing import Any

from chalicelib.services.notices import CURRENT_PRIVACY_NOTICE_VERSION

PASSWORD = "Correct-horse-battery-9"
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
