"""A consultant's profile ("My Profile"): who they are, where and how they work, when, and at what rate.

The resume (letter, experience, education, skills, portfolio, awards, certificates) comes in its own
parts; the profile is the card a match and a proposal start from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.money import HourlyRate


class RemotePreference(StrEnum):
    ON_SITE = "on_site"
    HYBRID = "hybrid"
    REMOTE = "remote"


class LanguageLevel(StrEnum):
    """CEFR levels, and native."""

    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"
    NATIVE = "native"


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, e.g. "sv"
    level: LanguageLevel


@dataclass(frozen=True)
class Availability:
    available_from: date | None  # None: available now
    share_of_full_time: int  # percent, 1-100


class ProfileStatus(StrEnum):
    ACTIVE = "active"


@dataclass
class Profile:
    user_id: str
    agency_id: str | None
    name: str
    created_at: datetime
    updated_at: datetime
    updated_by: str
    title: str | None = None
    summary: str | None = None
    city: str | None = None
    country: str | None = None
    remote_preference: RemotePreference | None = None
    languages: list[Language] = field(default_factory=list)
    availability: Availability | None = None
    expected_hourly_rate: HourlyRate | None = None
    status: ProfileStatus = ProfileStatus.ACTIVE
    # What the last imported JSON Resume held that the profile and resume have no field for (other
    # sections, phone, social profiles, words as written), so that an export gives it back. Kept
    # across profile edits; see chalicelib.schemas.json_resume.
    json_resume_extras: dict[str, Any] | None = None
