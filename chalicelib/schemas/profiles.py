"""My Profile, as web forms send it and as the API shows it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints, field_validator

from chalicelib.domain.money import CURRENCIES
from chalicelib.domain.profiles import LanguageLevel, RemotePreference
from chalicelib.schemas.base import CountryCode, Name, RequestModel, ResponseModel, lower_case
from chalicelib.schemas.consents import HourlyRateOut

LanguageCode = Annotated[str, BeforeValidator(lower_case), StringConstraints(pattern=r"^[a-z]{2}$")]
Currency = Literal["SEK", "EUR", "NOK", "DKK", "GBP", "USD"]
assert set(Currency.__args__) == set(CURRENCIES)  # type: ignore[attr-defined]


class LanguageIn(RequestModel):
    code: LanguageCode
    level: LanguageLevel


class AvailabilityIn(RequestModel):
    available_from: date | None = None
    share_of_full_time: int = Field(ge=1, le=100, description="percent of full time")


class HourlyRateIn(RequestModel):
    amount_minor: int = Field(ge=0, le=100_000_000, description="minor units per hour, e.g. öre or cents")
    currency: Currency


class ProfileIn(RequestModel):
    """The whole profile; a PUT replaces it (fields left out are cleared)."""

    name: Name
    title: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None
    summary: Annotated[str, StringConstraints(min_length=1, max_length=4000)] | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    country: CountryCode | None = None
    remote_preference: RemotePreference | None = None
    languages: list[LanguageIn] = Field(default_factory=list, max_length=20)
    availability: AvailabilityIn | None = None
    expected_hourly_rate: HourlyRateIn | None = None

    @field_validator("languages")
    @classmethod
    def _one_entry_per_language(cls, languages: list[LanguageIn]) -> list[LanguageIn]:
        if len({language.code for language in languages}) != len(languages):
            raise ValueError("each language may be listed once")
        return languages


class LanguageOut(ResponseModel):
    code: str
    level: LanguageLevel


class AvailabilityOut(ResponseModel):
    available_from: date | None
    share_of_full_time: int


class MissingItem(ResponseModel):
    key: str
    label: str
    weight: int


class CompletenessResponse(ResponseModel):
    score: int = Field(ge=0, le=100)
    missing: list[MissingItem]


class ProfileResponse(ResponseModel):
    user_id: str
    agency_id: str | None
    name: str
    title: str | None
    summary: str | None
    city: str | None
    country: str | None
    remote_preference: RemotePreference | None
    languages: list[LanguageOut]
    availability: AvailabilityOut | None
    expected_hourly_rate: HourlyRateOut | None
    stored: bool = Field(description="false until the profile is saved for the first time")
    updated_at: datetime | None
