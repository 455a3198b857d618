"""JSON Resume ↔ the profile and the resume. Pure functions: no storage, no taxonomy (the service
normalises skills and writes).

Nothing given is lost: what has no field here is kept (the unmapped rest of the document on the profile,
an entry's unmapped fields on its resume item) and put back in its place on export, and a value we
normalise (a partial date ``2020``, a level word ``Master``, a URL) is kept as written and exported as
written for as long as it still means the stored value.

Stored shapes (JSON, camelCase like JSON Resume):

* ``Profile.json_resume_extras``: ``{"document": <the document without what we map>,
  "asWritten": {"name": ..., "countryCode": ...}, "languages": [{"code": "sv", "index": 0, "entry": {...}}],
  "otherLanguages": [{"index": 1, "entry": {...}, "second": true}]}`` (entries that are no language the
  profile can hold; ``second``: a second entry of a language it holds)
* ``ResumeItem.imported``: ``{"extra": {<unmapped fields of the entry>}, "asWritten": {...}}``, and for
  skills ``"group"`` (the entry a keyword came from) and ``"name"`` (the stored name it was imported as).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, is_dataclass
from functools import cache
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, TypeAdapter, ValidationError

from chalicelib.domain.profiles import Profile
from chalicelib.domain.resume import DEFAULT_MAX_ITEMS, MAX_ITEMS, ResumeItem, ResumePart
from chalicelib.errors import FieldIssue, InvalidInput
from chalicelib.schemas.json_resume import (
    EXTENSION,
    FLUENCY_WORDS,
    SKILL_LEVEL_WORDS,
    JsonResume,
    language_code,
    language_level,
    language_name,
    parse_partial_date,
    skill_level,
)
from chalicelib.schemas.profiles import ProfileIn
from chalicelib.schemas.resume import PART_MODELS, SkillIn

# Bounds on what is kept as given: the profile item must stay well inside DynamoDB's 400 KB, and one
# import's transactions inside 4 MB (100 items of at most ~30 KB each).
MAX_EXTRAS_BYTES = 200_000
MAX_ITEM_EXTRAS_BYTES = 16_000

SECTIONS: dict[str, ResumePart] = {
    "work": ResumePart.EXPERIENCE,
    "education": ResumePart.EDUCATION,
    "awards": ResumePart.AWARDS,
    "certificates": ResumePart.CERTIFICATES,
    "projects": ResumePart.PORTFOLIO,
}
SECTION_OF = {part: section for section, part in SECTIONS.items()}

# JSON Resume key, our field, and how the value is normalised ("text", "date", "url").
_FIELDS: dict[ResumePart, tuple[tuple[str, str, str], ...]] = {
    ResumePart.EXPERIENCE: (
        ("name", "organisation", "text"),
        ("position", "role", "text"),
        ("summary", "description", "text"),
        ("startDate", "start", "date"),
        ("endDate", "end", "date"),
    ),
    ResumePart.EDUCATION: (
        ("institution", "institution", "text"),
        ("studyType", "degree", "text"),
        ("area", "field_of_study", "text"),
        ("startDate", "start", "date"),
        ("endDate", "end", "date"),
    ),
    ResumePart.AWARDS: (
        ("title", "title", "text"),
        ("date", "awarded_on", "date"),
        ("awarder", "issuer", "text"),
        ("summary", "description", "text"),
    ),
    ResumePart.CERTIFICATES: (("name", "name", "text"), ("date", "issued_on", "date"), ("issuer", "issuer", "text"), ("url", "url", "url")),
    ResumePart.PORTFOLIO: (("name", "title", "text"), ("description", "description", "text"), ("url", "url", "url")),
}
# Our fields JSON Resume has no place for: in the entry's x-customersonly object.
_EXTENSION_FIELDS: dict[ResumePart, tuple[tuple[str, str], ...]] = {
    ResumePart.EXPERIENCE: (("skillsUsed", "skills_used"),),
    ResumePart.EDUCATION: (("description", "description"),),
    ResumePart.AWARDS: (),
    ResumePart.CERTIFICATES: (("expiresOn", "expires_on"), ("credentialId", "credential_id")),
    ResumePart.PORTFOLIO: (("fileId", "file_id"),),
}
_PROFILE_PATHS = {
    "name": "basics.name",
    "title": "basics.label",
    "summary": "basics.summary",
    "city": "basics.location.city",
    "country": "basics.location.countryCode",
    "languages": "languages",
    "remote_preference": f"{EXTENSION}.remotePreference",
    "availability": f"{EXTENSION}.availability",
    "expected_hourly_rate": f"{EXTENSION}.expectedHourlyRate",
}
_BASICS_TEXT = (("name", "name"), ("label", "title"), ("summary", "summary"))
_LOCATION_TEXT = (("city", "city"), ("countryCode", "country"))


@dataclass
class ImportedItem:
    part: ResumePart
    body: BaseModel  # the part's validated In-model, as a form edit would give it
    imported: dict[str, Any] | None
    path: str  # where the entry is in the document, e.g. "work.2" or "skills.0.keywords.3"
    skill_id: str | None = None  # skills: the id x-customersonly named, used when the taxonomy knows it

    def field_path(self, name: str) -> str:
        """The document path of a dotted In-model field (a service's issue names it so)."""
        return _field_path(self.part, self.path, tuple(name.split(".")) if name else ())


@dataclass
class ImportPlan:
    profile: ProfileIn
    extras: dict[str, Any] | None
    items: list[ImportedItem] = field(default_factory=list)
    # A document without x-customersonly says nothing about the letter, availability, rate and remote
    # preference: they are left as they are. With it, its fields replace them (absent = cleared).
    extension_given: bool = False


# --- export --------------------------------------------------------------------------------------------


def to_json_resume(profile: Profile, items: Iterable[ResumeItem], email: str) -> dict[str, Any]:
    """The profile and resume as a JSON Resume document; ``items`` in display order."""
    extras = profile.json_resume_extras or {}
    doc: dict[str, Any] = copy.deepcopy(extras.get("document") or {})
    written = extras.get("asWritten") or {}
    by_part: dict[ResumePart, list[ResumeItem]] = {part: [] for part in ResumePart}
    for item in items:
        by_part[item.part].append(item)

    basics = doc.get("basics") or {}
    for key, attr in _BASICS_TEXT:
        _put(basics, key, _as_written(written.get(key), getattr(profile, attr), _text))
    basics["email"] = email
    location = basics.get("location") or {}
    for key, attr in _LOCATION_TEXT:
        _put(location, key, _as_written(written.get(key), getattr(profile, attr), _country if key == "countryCode" else _text))
    if location:
        basics["location"] = location
    doc["basics"] = basics

    for section, part in SECTIONS.items():
        if by_part[part]:
            doc[section] = [_entry(part, item) for item in by_part[part]]
    if by_part[ResumePart.SKILLS]:
        doc["skills"] = _skill_entries(by_part[ResumePart.SKILLS])
    languages = _language_entries(profile, extras.get("languages") or [], extras.get("otherLanguages") or [])
    if languages:
        doc["languages"] = languages

    extension: dict[str, Any] = {}
    if by_part[ResumePart.LETTER]:
        extension["letter"] = by_part[ResumePart.LETTER][0].content["text"]
    if profile.availability:
        available_from = profile.availability.available_from
        extension["availability"] = {
            "availableFrom": available_from.isoformat() if available_from else None,
            "shareOfFullTime": profile.availability.share_of_full_time,
        }
    if profile.expected_hourly_rate:
        rate = profile.expected_hourly_rate
        extension["expectedHourlyRate"] = {"amountMinor": rate.amount_minor, "currency": rate.currency}
    if profile.remote_preference:
        extension["remotePreference"] = profile.remote_preference.value
    if extension:
        doc[EXTENSION] = extension
    return doc


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def _text(value: str) -> str | None:
    return value.strip() or None


def _country(value: str) -> str | None:
    return value.strip().upper() or None


def _date(value: str) -> str:
    return parse_partial_date(value).isoformat()


@cache
def _url_adapter() -> TypeAdapter[AnyHttpUrl]:
    return TypeAdapter(AnyHttpUrl)


def _url(value: str) -> str | None:
    try:
        return str(_url_adapter().validate_python(value))
    except ValidationError:
        return None


_NORMALISE: dict[str, Callable[[str], str | None]] = {"text": _text, "date": _date, "url": _url}


def _as_written(written: Any, current: Any, normalise: Callable[[str], Any]) -> Any:
    """The value as imported while it still means the stored one; else the stored one."""
    if isinstance(written, str) and normalise(written) == current:
        return written
    return current


def _entry(part: ResumePart, item: ResumeItem) -> dict[str, Any]:
    imported = item.imported or {}
    out: dict[str, Any] = copy.deepcopy(imported.get("extra") or {})
    written = imported.get("asWritten") or {}
    for key, name, kind in _FIELDS[part]:
        _put(out, key, _as_written(written.get(key), item.content.get(name), _NORMALISE[kind]))
    extension = {}
    for key, name in _EXTENSION_FIELDS[part]:
        value = item.content.get(name)
        if name == "skills_used":
            value = [skill["name"] for skill in value or []]
        if value not in (None, []):
            extension[key] = value
    if extension:
        out[EXTENSION] = extension
    return out


def _skill_entries(skills: list[ResumeItem]) -> list[dict[str, Any]]:
    """One entry per group (its skills as keywords), and one per skill added outside any group."""
    groups: dict[tuple[str, str], list[ResumeItem]] = {}
    for item in skills:
        group = (item.imported or {}).get("group")
        groups.setdefault(("group", group) if group is not None else ("skill", item.item_id), []).append(item)
    entries = []
    for (kind, name), members in groups.items():
        first = members[0].imported or {}
        entry: dict[str, Any] = copy.deepcopy(first.get("extra") or {})
        if kind == "group":
            entry.update(name=name, keywords=[_skill_name(m) for m in members])
        else:
            entry["name"] = _skill_name(members[0])
        level, word = members[0].content["level"], (first.get("asWritten") or {}).get("level")
        entry["level"] = word if isinstance(word, str) and skill_level(word) == level else SKILL_LEVEL_WORDS[level]
        details = []
        for m in members:
            detail: dict[str, Any] = {"name": _skill_name(m), "level": m.content["level"], "years": m.content.get("years", 0)}
            _put(detail, "skillId", m.content.get("skill_id"))
            details.append(detail)
        entry[EXTENSION] = {"skills": details}
        entries.append(entry)
    return entries


def _skill_name(item: ResumeItem) -> str:
    imported = item.imported or {}
    written = (imported.get("asWritten") or {}).get("name")
    name: str = item.content["name"]
    # As written ("k8s") while the skill is still the one it was imported as ("Kubernetes").
    return written if isinstance(written, str) and imported.get("name") == name else name


def _language_entries(profile: Profile, stored: list[dict[str, Any]], others: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The profile's languages, and the entries an import could not read as one, in the document's order;
    languages added since come last.

    A kept entry the platform could not read (an unknown language, no or an unknown fluency) stays, until the
    form adds its language: then it is that language's entry, in its place. A second entry of a language
    the profile holds (Cantonese beside Mandarin) stays beside it, and goes when the form removes it."""
    given = {s["code"]: s for s in stored}
    held = {language.code for language in profile.languages}
    placed: list[tuple[float, dict[str, Any]]] = []
    adopted: dict[str, dict[str, Any]] = {}
    for other in others:
        code = _entry_language(other["entry"])
        if other.get("second") and code in held:
            placed.append((other["index"], copy.deepcopy(other["entry"])))
        elif not other.get("second") and code in held and code not in given:
            adopted.setdefault(code, other)
        elif not other.get("second"):
            placed.append((other["index"], copy.deepcopy(other["entry"])))
    for language in profile.languages:
        source = given.get(language.code) or adopted.get(language.code) or {}
        entry = copy.deepcopy(source.get("entry") or {})
        if _entry_language(entry) != language.code:
            entry["language"] = language_name(language.code)
        written_level = entry.get("fluency")
        keep = isinstance(written_level, str) and language_level(written_level) == language.level
        entry["fluency"] = written_level if keep else FLUENCY_WORDS[language.level]
        placed.append((source.get("index", float("inf")), entry))
    return [entry for _, entry in sorted(placed, key=lambda p: p[0])]


def _entry_language(entry: dict[str, Any]) -> str | None:
    return language_code(entry["language"]) if isinstance(entry.get("language"), str) else None


# --- import --------------------------------------------------------------------------------------------


class _Issues:
    def __init__(self) -> None:
        self.issues: list[FieldIssue] = []

    def add(self, path: str, message: str, code: str = "invalid") -> None:
        self.issues.append(FieldIssue(path, message, code))

    def validate(self, model: type[BaseModel], data: dict[str, Any], path_of: Callable[[tuple[Any, ...]], str]) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False, include_context=False):
                missing = error["type"] == "missing"
                message = "required here (JSON Resume leaves it optional, the platform needs it)" if missing else error["msg"]
                self.add(path_of(tuple(error["loc"])), message, error["type"])
            return None


def _camel(name: Any) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name) if isinstance(name, str) else str(name)


def _field_path(part: ResumePart, prefix: str, loc: tuple[Any, ...]) -> str:
    """An In-model error location as a document path: ("start",) in work.2 → "work.2.startDate"."""
    if not loc:
        return prefix
    name, rest = loc[0], [_camel(p) for p in loc[1:]]
    if part is ResumePart.LETTER:
        key = f"{EXTENSION}.letter"
        return ".".join([key, *rest])
    if part is ResumePart.SKILLS:
        key = {"name": "", "level": "level", "years": f"{EXTENSION}.skills"}.get(name, str(name))
    else:
        keys = {field: key for key, field, _ in _FIELDS[part]} | {field: f"{EXTENSION}.{key}" for key, field in _EXTENSION_FIELDS[part]}
        key = keys.get(name, str(name))
    return ".".join(p for p in (prefix, key, *rest) if p)


def _profile_path(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "basics"
    head = _PROFILE_PATHS.get(loc[0], str(loc[0]))
    rest = [{"code": "language", "level": "fluency"}.get(p, p) if head == "languages" else p for p in loc[1:]]
    return ".".join([head, *(_camel(p) for p in rest)])


def _bounded(value: dict[str, Any], limit: int) -> bool:
    return len(json.dumps(value, separators=(",", ":"))) <= limit


def from_json_resume(document: JsonResume, current: Profile | None) -> ImportPlan:
    """Validates a document into what an import stores; every problem at once, named by its document path.

    ``current`` gives the platform-only profile fields when the document has no x-customersonly."""
    issues = _Issues()
    doc = document.document()
    items: list[ImportedItem] = []
    for section, part in SECTIONS.items():
        entries = doc.get(section) or []
        if len(entries) > MAX_ITEMS.get(part, DEFAULT_MAX_ITEMS):
            issues.add(section, f"at most {MAX_ITEMS.get(part, DEFAULT_MAX_ITEMS)} entries", "too_long")
            continue
        for n, entry in enumerate(entries):
            item = _import_entry(issues, part, f"{section}.{n}", entry)
            if item is not None:
                items.append(item)
    skills = _import_skills(issues, doc.get("skills") or [])
    if len(skills) > MAX_ITEMS[ResumePart.SKILLS]:
        issues.add("skills", f"at most {MAX_ITEMS[ResumePart.SKILLS]} skills, counting each keyword", "too_long")
    items += skills

    extension = doc.get(EXTENSION)
    if extension is not None and extension.get("letter") is not None:
        letter = issues.validate(PART_MODELS[ResumePart.LETTER], {"text": extension["letter"]}, lambda loc: f"{EXTENSION}.letter")
        if letter is not None:
            items.append(ImportedItem(ResumePart.LETTER, letter, None, f"{EXTENSION}.letter"))

    profile, extras = _import_profile(issues, doc, current)
    if extras is not None and not _bounded(extras, MAX_EXTRAS_BYTES):
        issues.add("body", f"the fields kept as given (other sections, unknown fields) exceed {MAX_EXTRAS_BYTES} bytes", "too_long")
    if issues.issues or profile is None:
        raise InvalidInput("The JSON Resume is not valid here; see errors.", issues=issues.issues)
    return ImportPlan(profile, extras, items, extension_given=extension is not None)


def _import_entry(issues: _Issues, part: ResumePart, path: str, entry: dict[str, Any]) -> ImportedItem | None:
    data: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, name, kind in _FIELDS[part]:
        value = entry.get(key)
        if value is None:
            continue
        normalised = _NORMALISE[kind](value) if kind != "url" else (value.strip() or None)
        if normalised is not None:
            data[name] = normalised
        written[key] = value
    extension = entry.get(EXTENSION) or {}
    for key, name in _EXTENSION_FIELDS[part]:
        if key in extension:
            data[name] = extension[key]
    body = issues.validate(PART_MODELS[part], data, lambda loc: _field_path(part, path, loc))
    mapped = {key for key, _, _ in _FIELDS[part]} | {EXTENSION}
    imported = _imported({k: v for k, v in entry.items() if k not in mapped}, _changed(written, body, part))
    if imported is not None and not _bounded(imported, MAX_ITEM_EXTRAS_BYTES):
        issues.add(path, f"the fields kept as given exceed {MAX_ITEM_EXTRAS_BYTES} bytes", "too_long")
    return ImportedItem(part, body, imported, path) if body is not None else None


def _changed(written: dict[str, str], body: BaseModel | None, part: ResumePart) -> dict[str, str]:
    """The values as written that the stored ones would not reproduce on export (``2020`` → 2020-01-01)."""
    if body is None:
        return {}
    content = body.model_dump(mode="json")
    names = {key: name for key, name, _ in _FIELDS[part]}
    return {key: value for key, value in written.items() if value != content.get(names[key])}


def _imported(extra: dict[str, Any], written: dict[str, Any], **more: Any) -> dict[str, Any] | None:
    imported = {"extra": extra, "asWritten": written, **more}
    kept = {k: v for k, v in imported.items() if v not in (None, {}, [])}
    return kept or None


def _import_skills(issues: _Issues, entries: list[dict[str, Any]]) -> list[ImportedItem]:
    """An entry with keywords is a group of skills (each keyword one skill); without, it is one skill."""
    items = []
    for n, entry in enumerate(entries):
        extra = {k: v for k, v in entry.items() if k not in ("name", "level", "keywords", EXTENSION)}
        if not _bounded(extra, MAX_ITEM_EXTRAS_BYTES):  # kept on each of the entry's skills: bounded per entry
            issues.add(f"skills.{n}", f"the fields kept as given exceed {MAX_ITEM_EXTRAS_BYTES} bytes", "too_long")
            continue
        details = {d["name"].strip().casefold(): (j, d) for j, d in enumerate((entry.get(EXTENSION) or {}).get("skills", []))}
        word = entry.get("level")
        keywords = entry.get("keywords") or []
        if keywords:
            names = [(f"skills.{n}.keywords.{k}", keyword) for k, keyword in enumerate(keywords)]
            group = entry.get("name")
        elif entry.get("name") is None:
            issues.add(f"skills.{n}.name", "required: a skill's name, or a group name with keywords", "missing")
            continue
        else:
            names, group = [(f"skills.{n}.name", entry["name"])], None
        for path, name in names:
            j, detail = details.get(name.strip().casefold(), (None, None))
            data = {"name": name, "level": skill_level(word), "years": 0}
            if detail is not None:  # the exact values an export wrote: they win over the level word
                data.update(level=detail["level"], years=detail.get("years", 0))

            def path_of(loc: tuple[Any, ...], n: int = n, path: str = path, j: int | None = j) -> str:
                if loc and loc[0] in ("level", "years") and j is not None:
                    return f"skills.{n}.{EXTENSION}.skills.{j}.{loc[0]}"
                return path if not loc or loc[0] == "name" else f"skills.{n}.{loc[0]}"

            body = issues.validate(SkillIn, data, path_of)
            if body is None:
                continue
            written = {"name": name, **({"level": word} if word is not None else {})}
            imported = _imported(extra, written, group=group)
            items.append(ImportedItem(ResumePart.SKILLS, body, imported, path, detail.get("skillId") if detail else None))
    return items


def _import_profile(issues: _Issues, doc: dict[str, Any], current: Profile | None) -> tuple[ProfileIn | None, dict[str, Any] | None]:
    basics = copy.deepcopy(doc.get("basics") or {})
    location = basics.get("location") or {}
    data: dict[str, Any] = {}
    written: dict[str, str] = {}
    for source, key, name in [*((basics, k, n) for k, n in _BASICS_TEXT), *((location, k, n) for k, n in _LOCATION_TEXT)]:
        value = source.pop(key, None)
        if value is None:
            continue
        normalised = (_country if key == "countryCode" else _text)(value)
        _put(data, name, normalised)
        if normalised != value:  # kept only where an export would not reproduce it
            written[key] = value
    basics.pop("email", None)  # the account's e-mail is changed only through the account, and exported from it
    if location:
        basics["location"] = location
    else:
        basics.pop("location", None)

    # A language the profile can hold (a known language, a readable level, listed once) becomes one; any
    # other entry (Klingon, no fluency, Cantonese after Mandarin) is kept as given and exported in place.
    languages: list[dict[str, str]] = []
    given: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for n, entry in enumerate(doc.get("languages") or []):
        code = _entry_language(entry)
        level = language_level(entry["fluency"]) if isinstance(entry.get("fluency"), str) else None
        second = any(known["code"] == code for known in languages)
        if code is None or level is None or second:
            others.append({"index": n, "entry": entry, **({"second": True} if second else {})})
            continue
        languages.append({"code": code, "level": level.value})
        given.append({"code": code, "index": n, "entry": entry})
    data["languages"] = languages

    extension = doc.get(EXTENSION)
    if extension is not None:
        data.update({k: v for k, v in _snake(extension).items() if k != "letter"})
    elif current is not None:
        data.update(
            remote_preference=current.remote_preference,
            availability=_plain(current.availability),
            expected_hourly_rate=_plain(current.expected_hourly_rate),
        )
    profile = issues.validate(ProfileIn, data, _profile_path)

    mapped = (*SECTIONS, "skills", "languages")
    # An empty mapped section ("awards": []) is kept as given: an export then shows it until it fills.
    rest = {k: v for k, v in doc.items() if k not in (*mapped, "basics", EXTENSION) or (k in mapped and v == [])}
    if basics:
        rest["basics"] = basics
    kept = {"document": rest, "asWritten": written, "languages": given, "otherLanguages": others}
    extras = {k: v for k, v in kept.items() if v}
    return profile, extras or None


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), k): _snake(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
