"""JSON Resume (https://jsonresume.org, schema v1.3.1) as the API accepts and gives it, and the words it uses.

Every object of the standard allows fields of its own, so these models do too: what the platform has no
place for is kept and given back, not dropped (see ``json_resume_mapping``). Only the standard fields are
typed, so that whatever is stored is still valid JSON Resume when exported. Our own parts (the letter,
availability, rate, remote preference, and per-entry fields the standard lacks) travel in objects named
``x-customersonly``, which are ours and strict.

Words that JSON Resume leaves free (language names, fluency, skill levels) are read with the tables below.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from chalicelib.domain.profiles import LanguageLevel, RemotePreference

EXTENSION = "x-customersonly"
MAX_DEPTH = 12  # nesting of the document, counting every object and list


def parse_partial_date(text: str) -> date:
    """``2020``, ``2020-05`` or ``2020-05-17``; a partial date stands for its first day."""
    parts = [int(p) for p in text.split("-")]
    return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


_DATE = re.compile(r"^[1-2][0-9]{3}(-[0-1][0-9](-[0-3][0-9])?)?$")


def _json_resume_date(value: str) -> str:
    try:
        if _DATE.fullmatch(value):
            parse_partial_date(value)
            return value
    except ValueError:
        pass
    raise ValueError("not a date: use YYYY, YYYY-MM or YYYY-MM-DD")


PartialDate = Annotated[str, AfterValidator(_json_resume_date)]


class _Open(BaseModel):
    """A JSON Resume object: the standard's fields typed, any other field kept as given."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class _Extension(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, defer_build=True)


class AvailabilityExtension(_Extension):
    available_from: date | None = None
    share_of_full_time: int


class HourlyRateExtension(_Extension):
    amount_minor: int = Field(description="minor units per hour")
    currency: str


class ResumeExtension(_Extension):
    """What the platform holds beyond JSON Resume. A document without it leaves these as they are;
    with it, a field left out is cleared."""

    letter: str | None = None
    availability: AvailabilityExtension | None = None
    expected_hourly_rate: HourlyRateExtension | None = None
    remote_preference: RemotePreference | None = None


class WorkExtension(_Extension):
    skills_used: list[str] = Field(default_factory=list)


class EducationExtension(_Extension):
    description: str | None = None


class CertificateExtension(_Extension):
    expires_on: date | None = None
    credential_id: str | None = None


class ProjectExtension(_Extension):
    file_id: str | None = None


class SkillDetail(_Extension):
    name: str
    skill_id: str | None = None
    level: int
    years: int = 0


class SkillExtension(_Extension):
    skills: list[SkillDetail] = Field(default_factory=list, description="exact level and years per skill; wins over `level`")


class Location(_Open):
    address: str | None = None
    postalCode: str | None = None
    city: str | None = None
    countryCode: str | None = None
    region: str | None = None


class SocialProfile(_Open):
    network: str | None = None
    username: str | None = None
    url: str | None = None


class Basics(_Open):
    name: str = Field(description="required here (optional in JSON Resume): the profile's name")
    label: str | None = None
    image: str | None = None
    email: str | None = Field(None, description="on export the account's e-mail; an import never changes it")
    phone: str | None = None
    url: str | None = None
    summary: str | None = None
    location: Location | None = None
    profiles: list[SocialProfile] | None = None


class Work(_Open):
    name: str | None = None
    location: str | None = None
    description: str | None = None
    position: str | None = None
    url: str | None = None
    startDate: PartialDate | None = None
    endDate: PartialDate | None = None
    summary: str | None = None
    highlights: list[str] | None = None
    x_customersonly: WorkExtension | None = Field(None, alias=EXTENSION)


class Volunteer(_Open):
    organization: str | None = None
    position: str | None = None
    url: str | None = None
    startDate: PartialDate | None = None
    endDate: PartialDate | None = None
    summary: str | None = None
    highlights: list[str] | None = None


class Education(_Open):
    institution: str | None = None
    url: str | None = None
    area: str | None = None
    studyType: str | None = None
    startDate: PartialDate | None = None
    endDate: PartialDate | None = None
    score: str | None = None
    courses: list[str] | None = None
    x_customersonly: EducationExtension | None = Field(None, alias=EXTENSION)


class Award(_Open):
    title: str | None = None
    date: PartialDate | None = None
    awarder: str | None = None
    summary: str | None = None


class Certificate(_Open):
    name: str | None = None
    date: PartialDate | None = None
    url: str | None = None
    issuer: str | None = None
    x_customersonly: CertificateExtension | None = Field(None, alias=EXTENSION)


class Publication(_Open):
    name: str | None = None
    publisher: str | None = None
    releaseDate: PartialDate | None = None
    url: str | None = None
    summary: str | None = None


class SkillEntry(_Open):
    name: str | None = None
    level: str | None = None
    keywords: list[str] | None = None
    x_customersonly: SkillExtension | None = Field(None, alias=EXTENSION)


class LanguageEntry(_Open):
    language: str | None = None
    fluency: str | None = None


class Interest(_Open):
    name: str | None = None
    keywords: list[str] | None = None


class Reference(_Open):
    name: str | None = None
    reference: str | None = None


class Project(_Open):
    name: str | None = None
    description: str | None = None
    highlights: list[str] | None = None
    keywords: list[str] | None = None
    startDate: PartialDate | None = None
    endDate: PartialDate | None = None
    url: str | None = None
    roles: list[str] | None = None
    entity: str | None = None
    type: str | None = None
    x_customersonly: ProjectExtension | None = Field(None, alias=EXTENSION)


class Meta(_Open):
    canonical: str | None = None
    version: str | None = None
    lastModified: str | None = None


class JsonResume(_Open):
    """A resume in JSON Resume form. An import replaces the profile's basics and the whole resume."""

    schema_: str | None = Field(None, alias="$schema")
    basics: Basics
    work: list[Work] | None = None
    volunteer: list[Volunteer] | None = None
    education: list[Education] | None = None
    awards: list[Award] | None = None
    certificates: list[Certificate] | None = None
    publications: list[Publication] | None = None
    skills: list[SkillEntry] | None = None
    languages: list[LanguageEntry] | None = None
    interests: list[Interest] | None = None
    references: list[Reference] | None = None
    projects: list[Project] | None = None
    meta: Meta | None = None
    x_customersonly: ResumeExtension | None = Field(None, alias=EXTENSION)

    @model_validator(mode="before")
    @classmethod
    def _bounded_nesting(cls, data: Any) -> Any:
        # Unknown fields are kept, so their shape is bounded here (their size by the body limit).
        stack = [(data, 1)]
        while stack:
            value, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
            stack.extend((child, depth + 1) for child in children)
        return data

    def document(self) -> dict[str, Any]:
        """The document as given (validated), with our extension objects in their camelCase form."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# --- languages: English names and ISO 639-1 codes, for the languages consultancies meet ---------------

LANGUAGE_NAMES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "bs": "Bosnian",
    "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "ga": "Irish", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ko": "Korean", "ku": "Kurdish",
    "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian", "ms": "Malay", "nl": "Dutch", "no": "Norwegian",
    "pa": "Punjabi", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "so": "Somali", "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "ti": "Tigrinya", "tl": "Tagalog", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip
_LANGUAGE_CODES = {name.casefold(): code for code, name in LANGUAGE_NAMES.items()} | {
    "mandarin": "zh", "cantonese": "zh", "farsi": "fa", "filipino": "tl", "bokmål": "no", "nynorsk": "no",
    "flemish": "nl", "castilian": "es",
}  # fmt: skip


def language_code(text: str) -> str | None:
    """ "Swedish", "swedish (native)", "sv" or "sv-SE" → "sv"; None when unknown."""
    key = text.split("(")[0].strip().casefold()
    if key in _LANGUAGE_CODES:
        return _LANGUAGE_CODES[key]
    code = re.fullmatch(r"([a-z]{2})(?:[-_][a-z0-9]{2,8})?", key)
    return code.group(1) if code else None


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


# Checked in order: the first phrase found in the (case-folded) fluency decides.
_FLUENCY_PHRASES: tuple[tuple[str, LanguageLevel], ...] = (
    ("native", LanguageLevel.NATIVE),
    ("bilingual", LanguageLevel.NATIVE),
    ("mother tongue", LanguageLevel.NATIVE),
    ("full professional", LanguageLevel.C2),
    ("professional working", LanguageLevel.C1),
    ("fluent", LanguageLevel.C1),
    ("advanced", LanguageLevel.C1),
    ("limited working", LanguageLevel.B2),
    ("upper intermediate", LanguageLevel.B2),
    ("upper-intermediate", LanguageLevel.B2),
    ("conversational", LanguageLevel.B1),
    ("intermediate", LanguageLevel.B1),
    ("elementary", LanguageLevel.A2),
    ("basic", LanguageLevel.A2),
    ("beginner", LanguageLevel.A1),
)
FLUENCY_WORDS: dict[LanguageLevel, str] = {
    LanguageLevel.A1: "Beginner (A1)",
    LanguageLevel.A2: "Elementary (A2)",
    LanguageLevel.B1: "Intermediate (B1)",
    LanguageLevel.B2: "Upper intermediate (B2)",
    LanguageLevel.C1: "Professional working (C1)",
    LanguageLevel.C2: "Full professional (C2)",
    LanguageLevel.NATIVE: "Native speaker",
}


def language_level(fluency: str) -> LanguageLevel | None:
    """A CEFR level written anywhere ("C1", "Fluent (C1)") wins; then the phrases above; None when unknown."""
    text = fluency.casefold()
    cefr = re.search(r"\b([abc][12])\b", text)
    if cefr:
        return LanguageLevel(cefr.group(1).upper())
    return next((level for phrase, level in _FLUENCY_PHRASES if phrase in text), None)


# --- skill levels: JSON Resume's free words ↔ our 1..5 --------------------------------------------------

DEFAULT_SKILL_LEVEL = 3
_SKILL_LEVELS = {
    "beginner": 1, "novice": 1, "elementary": 2, "basic": 2, "intermediate": 3, "competent": 3, "proficient": 3,
    "advanced": 4, "experienced": 4, "expert": 5, "master": 5,
}  # fmt: skip
SKILL_LEVEL_WORDS = {1: "Beginner", 2: "Elementary", 3: "Intermediate", 4: "Advanced", 5: "Expert"}


def skill_level(word: str | None) -> int:
    """ "Master" → 5, "4" → 4; an unknown or missing word counts as intermediate (3)."""
    text = (word or "").strip().casefold()
    if re.fullmatch(r"[1-5]", text):
        return int(text)
    return next((_SKILL_LEVELS[w] for w in re.findall(r"[a-z]+", text) if w in _SKILL_LEVELS), DEFAULT_SKILL_LEVEL)
