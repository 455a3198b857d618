"""JSON Resume import and export: nothing given is lost, exports are valid JSON Resume, export → import →
export is a fixed point, bad documents are refused whole with JSON-Resume field paths."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.identity import Principal
from chalicelib.domain.profiles import LanguageLevel
from chalicelib.domain.resume import ResumePart
from chalicelib.errors import ConcurrencyConflict, Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.schemas.json_resume import JsonResume, language_code, language_level, skill_level
from chalicelib.schemas.profiles import ProfileIn
from chalicelib.schemas.resume import PART_MODELS
from chalicelib.services import json_resume, privacy, profiles, resume
from chalicelib.taxonomy import default_taxonomy
from tests.fakes import World, make_world
from tests.unit.test_profiles import staff
from tests.unit.test_registration import invite, principal_of, register_agency, register_invited

SCHEMA = Path(__file__).parents[1] / "schemas" / "json-resume" / "schema.json"
EMAIL = "richard@consultant.example"


@cache
def _validator() -> Any:
    from jsonschema import Draft7Validator

    return Draft7Validator(json.loads(SCHEMA.read_text()), format_checker=Draft7Validator.FORMAT_CHECKER)


def assert_valid_json_resume(document: dict[str, Any]) -> None:
    errors = sorted(_validator().iter_errors(document), key=str)
    assert not errors, [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def assert_kept(given: Any, exported: Any, path: str = "") -> None:
    """Every value given is in the export, in its place (the export may add to it)."""
    if isinstance(given, dict):
        assert isinstance(exported, dict), path
        for key, value in given.items():
            assert key in exported, f"{path}.{key} was lost"
            assert_kept(value, exported[key], f"{path}.{key}")
    elif isinstance(given, list):
        assert isinstance(exported, list) and len(exported) == len(given), path
        for n, (a, b) in enumerate(zip(given, exported, strict=True)):
            assert_kept(a, b, f"{path}.{n}")
    else:
        assert given == exported, f"{path}: {given!r} became {exported!r}"


# Like JSON Resume's sample, with partial dates, words of our own choosing and fields nobody defined.
SAMPLE: dict[str, Any] = {
    "$schema": "https://raw.githubusercontent.com/jsonresume/resume-schema/v1.0.0/schema.json",
    "basics": {
        "name": "Richard Hendriks",
        "label": "Programmer",
        "image": "",
        "email": EMAIL,
        "phone": "(912) 555-4321",
        "url": "http://richardhendricks.example.com",
        "summary": "Richard hails from Tulsa.",
        "location": {"address": "2712 Broadway St", "postalCode": "CA 94115", "city": "San Francisco", "countryCode": "us", "region": "CA"},
        "profiles": [{"network": "Twitter", "username": "neutralthoughts", "url": "https://www.twitter.com"}],
        "pronouns": "he/him",
    },
    "work": [
        {
            "name": "Pied Piper",
            "location": "Palo Alto, CA",
            "description": "Awesome compression company",
            "position": "CEO/President",
            "url": "http://piedpiper.example.com",
            "startDate": "2013-12",
            "endDate": "2014",
            "summary": "Middle-out compression.",
            "highlights": ["Won Techcrunch Disrupt"],
            "teamSize": 7,
            "x-internal": {"ref": [1, 2, {"deep": None}]},
        },
        {"name": "Hooli", "position": "Developer", "startDate": "2010-06-01", "summary": ""},
    ],
    "volunteer": [{"organization": "CoderDojo", "position": "Teacher", "startDate": "2012-01-01", "highlights": ["Teacher of the Month"]}],
    "education": [
        {
            "institution": "University of Oklahoma",
            "url": "https://www.ou.edu/",
            "area": "Information Technology",
            "studyType": "Bachelor",
            "startDate": "2011",
            "endDate": "2014-01-01",
            "score": "4.0",
            "courses": ["DB1101 - Basic SQL"],
        }
    ],
    "awards": [{"title": "Digital Compression Pioneer Award", "date": "2014-11", "awarder": "Techcrunch", "summary": "There is no spoon."}],
    "certificates": [{"name": "Certified Kubernetes Administrator", "date": "2020", "issuer": "CNCF", "url": "https://cncf.example.com"}],
    "publications": [{"name": "Video compression for 3d media", "publisher": "Hooli", "releaseDate": "2014-10-01"}],
    "skills": [
        {"name": "Web Development", "level": "Master", "keywords": ["HTML", "CSS", "k8s"]},
        {"name": "Compression", "level": "Wizardly", "rating": 11},
        {"name": "Kubernetes", "level": "Beginner"},  # the same skill as k8s above: kept once, the first wins
    ],
    "languages": [{"language": "English", "fluency": "Native speaker"}, {"language": "sv", "fluency": "Conversational", "since": 2019}],
    "interests": [{"name": "Wildlife", "keywords": ["Ferrets", "Unicorns"]}],
    "references": [{"name": "Erlich Bachman", "reference": "A valuable addition."}],
    "projects": [
        {
            "name": "Miss Direction",
            "description": "A mapping engine that misguides you",
            "highlights": ["Won award at AIHacks 2016"],
            "keywords": ["GoogleMaps"],
            "startDate": "2016-08-24",
            "endDate": "2016-08-24",
            "url": "http://missdirection.example.com",
            "roles": ["Team lead"],
            "entity": "Smoogle",
            "type": "application",
        }
    ],
    "meta": {"canonical": "https://example.com/resume.json", "version": "v1.0.0", "lastModified": "2017-12-24T15:53:00"},
    "customTopLevel": {"anything": ["goes", 1, True]},
}


@pytest.fixture
def world() -> World:
    return make_world()


def consultant(world: World) -> tuple[Principal, Principal]:
    agency = register_agency(world)
    person = register_invited(world, EMAIL, invite(world, agency, EMAIL))
    return principal_of(person), principal_of(agency)


def do_import(world: World, who: Principal, owner: str, document: dict[str, Any]) -> dict[str, Any]:
    result = json_resume.import_json_resume(world.profiles, default_taxonomy(), who, owner, JsonResume.model_validate(document))
    assert_valid_json_resume(result.document)
    return result.document


def do_export(world: World, who: Principal, owner: str) -> dict[str, Any]:
    document = json_resume.export_json_resume(world.profiles, who, owner).document
    assert_valid_json_resume(document)
    return document


def test_the_vendored_schema_accepts_its_own_sample_shape() -> None:
    assert_valid_json_resume(SAMPLE)


def test_an_import_keeps_everything_and_maps_what_the_platform_knows(world: World) -> None:
    me, _ = consultant(world)
    exported = do_import(world, me, me.user_id, SAMPLE)

    given = copy.deepcopy(SAMPLE)
    del given["skills"][2]  # Kubernetes was already listed as k8s: one skill (see the skills test)
    assert_kept(given, exported)
    assert do_export(world, me, me.user_id) == exported

    profile = profiles.my_profile(world.profiles, me).profile
    assert (profile.name, profile.title, profile.city, profile.country) == ("Richard Hendriks", "Programmer", "San Francisco", "US")
    assert [(lang.code, lang.level) for lang in profile.languages] == [("en", LanguageLevel.NATIVE), ("sv", LanguageLevel.B1)]
    whole = resume.get_resume(world.profiles, me, me.user_id)
    work = [i.content for i in whole.part(ResumePart.EXPERIENCE)]
    assert [(w["organisation"], w["start"], w["end"]) for w in work] == [
        ("Pied Piper", "2013-12-01", "2014-01-01"),
        ("Hooli", "2010-06-01", None),
    ]
    [education] = whole.part(ResumePart.EDUCATION)
    assert (education.content["degree"], education.content["field_of_study"], education.content["start"]) == (
        "Bachelor",
        "Information Technology",
        "2011-01-01",
    )
    skills = {i.content["name"]: i.content for i in whole.part(ResumePart.SKILLS)}
    assert skills["Kubernetes"]["skill_id"] == "kubernetes" and skills["Kubernetes"]["level"] == 5
    assert skills["Compression"]["level"] == 3  # an unknown word counts as intermediate, and is exported as written
    assert [i.content["name"] for i in whole.part(ResumePart.CERTIFICATES)] == ["Certified Kubernetes Administrator"]
    # The export carries our exact values beside JSON Resume's words.
    assert exported["skills"][0]["x-customersonly"]["skills"][2] == {"name": "k8s", "skillId": "kubernetes", "level": 5, "years": 0}
    assert exported["basics"]["email"] == EMAIL


def test_export_then_import_then_export_gives_the_same_document(world: World) -> None:
    me, _ = consultant(world)
    first = do_import(world, me, me.user_id, SAMPLE)
    assert do_import(world, me, me.user_id, first) == first


def test_the_export_shows_the_accounts_email_and_an_import_never_changes_it(world: World) -> None:
    me, _ = consultant(world)
    exported = do_import(world, me, me.user_id, {**SAMPLE, "basics": {**SAMPLE["basics"], "email": "someone@else.example"}})
    assert exported["basics"]["email"] == EMAIL
    assert world.accounts.accounts.get_user(me.user_id).email == EMAIL  # type: ignore[union-attr]


def test_form_edits_keep_what_was_imported_and_changed_values_export_as_stored(world: World) -> None:
    me, _ = consultant(world)
    do_import(world, me, me.user_id, SAMPLE)
    [first, _] = resume.get_resume(world.profiles, me, me.user_id).part(ResumePart.EXPERIENCE)
    body = {
        "organisation": "Pied Piper",
        "role": "CEO",
        "start": "2013-12-01",
        "end": "2015-02-01",
        "description": "Middle-out compression.",
    }
    resume.update_item(
        world.profiles,
        default_taxonomy(),
        me,
        me.user_id,
        ResumePart.EXPERIENCE,
        first.item_id,
        PART_MODELS[ResumePart.EXPERIENCE].model_validate(body),
    )
    full = {
        **ProfileIn.model_validate({"name": "Richard Hendriks", "country": "US", "languages": [{"code": "en", "level": "C1"}]}).model_dump()
    }
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(full))

    exported = do_export(world, me, me.user_id)
    work = exported["work"][0]
    assert (work["position"], work["startDate"], work["endDate"]) == ("CEO", "2013-12", "2015-02-01")  # unchanged date as written
    assert work["highlights"] == ["Won Techcrunch Disrupt"] and work["x-internal"] == SAMPLE["work"][0]["x-internal"]
    assert exported["basics"]["phone"] == "(912) 555-4321" and exported["references"] == SAMPLE["references"]
    assert exported["basics"]["location"] == {"address": "2712 Broadway St", "postalCode": "CA 94115", "region": "CA", "countryCode": "us"}
    assert exported["languages"] == [{"language": "English", "fluency": "Professional working (C1)"}]


def test_skills_group_by_entry_normalise_and_keep_their_words(world: World) -> None:
    me, _ = consultant(world)
    exported = do_import(world, me, me.user_id, SAMPLE)
    assert [(e["name"], e.get("keywords"), e["level"]) for e in exported["skills"]] == [
        ("Web Development", ["HTML", "CSS", "k8s"], "Master"),
        ("Compression", None, "Wizardly"),
    ]
    assert exported["skills"][1]["rating"] == 11
    [kubernetes] = [
        i for i in resume.get_resume(world.profiles, me, me.user_id).part(ResumePart.SKILLS) if i.content["skill_id"] == "kubernetes"
    ]
    resume.update_item(
        world.profiles,
        default_taxonomy(),
        me,
        me.user_id,
        ResumePart.SKILLS,
        kubernetes.item_id,
        PART_MODELS[ResumePart.SKILLS].model_validate({"name": "k8s", "level": 2, "years": 4}),
    )
    details = do_export(world, me, me.user_id)["skills"][0]["x-customersonly"]["skills"]
    assert details[2] == {"name": "k8s", "skillId": "kubernetes", "level": 2, "years": 4}
    # The exact values win over the group's word when imported again.
    again = do_import(world, me, me.user_id, do_export(world, me, me.user_id))
    assert again["skills"][0]["x-customersonly"]["skills"][2]["level"] == 2


def test_a_document_without_our_extension_leaves_letter_rate_and_availability(world: World) -> None:
    me, _ = consultant(world)
    extension = {
        "letter": "I build things.",
        "availability": {"availableFrom": "2027-01-01", "shareOfFullTime": 80},
        "expectedHourlyRate": {"amountMinor": 125000, "currency": "SEK"},
        "remotePreference": "hybrid",
    }
    first = do_import(world, me, me.user_id, {"basics": {"name": "R"}, "x-customersonly": extension})
    assert first["x-customersonly"] == extension
    assert do_import(world, me, me.user_id, {"basics": {"name": "R"}})["x-customersonly"] == extension
    # With the extension, what it leaves out is cleared.
    assert "x-customersonly" not in do_import(world, me, me.user_id, {"basics": {"name": "R"}, "x-customersonly": {}})
    assert resume.get_resume(world.profiles, me, me.user_id).part(ResumePart.LETTER) == []


def invalid(world: World, who: Principal, document: dict[str, Any]) -> dict[str, str]:
    before = copy.deepcopy(world.db.items)
    with pytest.raises(InvalidInput) as raised:
        do_import(world, who, who.user_id, document)
    assert world.db.items == before  # nothing stored
    return {i.field: i.message for i in raised.value.issues}


def test_an_invalid_document_is_refused_whole_with_json_resume_paths(world: World) -> None:
    me, _ = consultant(world)
    do_import(world, me, me.user_id, SAMPLE)
    bad = copy.deepcopy(SAMPLE)
    bad["work"][1]["endDate"] = "2009-01-01"  # before its start
    del bad["work"][0]["startDate"]
    bad["education"][0]["startDate"] = "2099-01-01"
    bad["projects"][0].pop("url")
    bad["certificates"][0]["x-customersonly"] = {"expiresOn": "2019-01-01"}
    bad["basics"]["location"]["countryCode"] = "USA"
    bad["skills"][0]["x-customersonly"] = {"skills": [{"name": "CSS", "level": 9}]}
    errors = invalid(world, me, bad)
    assert set(errors) == {
        "work.0.startDate",
        "work.1.endDate",
        "education.0.startDate",
        "projects.0",
        "certificates.0.x-customersonly.expiresOn",
        "basics.location.countryCode",
        "skills.0.x-customersonly.skills.0.level",
    }
    assert "required here" in errors["work.0.startDate"] and errors["work.1.endDate"] == "Value error, the end comes before the start"


def test_limits_and_required_fields(world: World) -> None:
    me, _ = consultant(world)
    too_many = {"basics": {"name": "R"}, "work": [{"name": "A", "position": "B", "startDate": "2020"}] * 101}
    assert invalid(world, me, too_many) == {"work": "at most 100 entries"}
    skills = {"basics": {"name": "R"}, "skills": [{"name": "Group", "keywords": [f"skill {n}" for n in range(201)]}]}
    assert set(invalid(world, me, skills)) == {"skills"}
    assert set(invalid(world, me, {"basics": {"name": " "}, "skills": [{"level": "Master"}]})) == {"basics.name", "skills.0.name"}
    huge = {"basics": {"name": "R"}, "work": [{"name": "A", "position": "B", "startDate": "2020", "highlights": ["x" * 20_000]}]}
    assert set(invalid(world, me, huge)) == {"work.0"}
    huge_group = {"basics": {"name": "R"}, "skills": [{"name": "G", "keywords": ["a", "b"], "notes": "x" * 20_000}]}
    assert set(invalid(world, me, huge_group)) == {"skills.0"}
    not_mine = {"basics": {"name": "R"}, "projects": [{"name": "P", "x-customersonly": {"fileId": "01JZZZZZZZZZZZZZZZZZZZZZZZ"}}]}
    assert set(invalid(world, me, not_mine)) == {"projects.0.x-customersonly.fileId"}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"basics": {}}, "basics.name"),
        ({}, "basics"),
        ({"basics": {"name": "R"}, "work": [{"startDate": "2020-13"}]}, "work.0.startDate"),
        ({"basics": {"name": "R"}, "work": [{"startDate": "May 2020"}]}, "work.0.startDate"),
        ({"basics": {"name": "R"}, "work": [{"highlights": "one"}]}, "work.0.highlights"),
        ({"basics": {"name": 5}}, "basics.name"),
        ({"basics": {"name": "R"}, "x-customersonly": {"rate": 1}}, "x-customersonly.rate"),
        ({"basics": {"name": "R"}, "deep": [[[[[[[[[[[[[]]]]]]]]]]]]]}, ""),
    ],
)
def test_a_document_that_is_not_json_resume_is_refused_by_its_model(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        JsonResume.model_validate(document)
    assert field in {".".join(map(str, e["loc"])) for e in raised.value.errors()}


def test_words_of_json_resume() -> None:
    assert [language_code(t) for t in ("English", "swedish (native)", "sv-SE", "NO", "Farsi", "Klingon")] == [
        "en",
        "sv",
        "sv",
        "no",
        "fa",
        None,
    ]
    levels = [
        "Native or bilingual proficiency",
        "Full professional proficiency",
        "Fluent",
        "Limited working proficiency",
        "Intermediate",
        "Basic",
        "Beginner",
        "c1",
    ]
    assert [language_level(t) for t in levels] == ["native", "C2", "C1", "B2", "B1", "A2", "A1", "C1"]
    assert [skill_level(w) for w in ("Master", "expert", "Advanced", "Proficient", "basic", "Novice", "4", None, "Wizardly")] == [
        5,
        5,
        4,
        3,
        2,
        1,
        4,
        3,
        3,
    ]


class FailingOnce:
    """A unit of work whose n-th commit fails as a crash would (nothing of that commit is written)."""

    def __init__(self, world: World, fail_at: int) -> None:
        self.world, self.calls, self.fail_at = world, 0, fail_at

    def commit(self, changes: Any) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("the Lambda timed out")
        self.world.db.commit(changes)


def large(tag: str, jobs: int = 100, skills: int = 60) -> dict[str, Any]:
    work = [{"name": f"{tag} {n}", "position": "Developer", "startDate": "2020-01"} for n in range(jobs)]
    return {"basics": {"name": tag}, "work": work, "skills": [{"name": tag, "keywords": [f"{tag} skill {n}" for n in range(skills)]}]}


def test_an_import_larger_than_one_transaction_loses_nothing_on_a_crash_and_a_retry_converges(world: World) -> None:
    me, _ = consultant(world)
    do_import(world, me, me.user_id, large("old"))
    crashing = FailingOnce(world, fail_at=2)
    crashed = replace(world.profiles, accounts=replace(world.accounts, uow=crashing))
    with pytest.raises(RuntimeError):
        json_resume.import_json_resume(crashed, default_taxonomy(), me, me.user_id, JsonResume.model_validate(large("new")))
    half = do_export(world, me, me.user_id)
    assert {w["name"] for w in large("old")["work"]} <= {w["name"] for w in half["work"]}  # the old resume is all there

    world.clock.advance(minutes=1)
    retried = do_import(world, me, me.user_id, large("new"))
    clean = make_world()
    other, _ = consultant(clean)
    assert retried == do_import(clean, other, other.user_id, large("new"))
    assert len(resume.get_resume(world.profiles, me, me.user_id).items) == 160


def test_a_conflicting_write_is_a_conflict_and_nothing_half_done_in_one_transaction(world: World) -> None:
    me, _ = consultant(world)
    world.db.fail_next_commit = ConcurrencyConflict("a precondition failed", ["ConditionalCheckFailed"])
    with pytest.raises(Conflict):
        do_import(world, me, me.user_id, SAMPLE)
    assert resume.get_resume(world.profiles, me, me.user_id).items == []


def test_who_may_export_and_import(world: World) -> None:
    me, agency = consultant(world)
    do_import(world, me, me.user_id, SAMPLE)
    assert do_export(world, agency, me.user_id)["basics"]["name"] == "Richard Hendriks"
    with pytest.raises(Forbidden):  # no written consent
        do_import(world, agency, me.user_id, SAMPLE)
    other = principal_of(register_agency(world, email="boss@other.example"))
    with pytest.raises(NotFound):
        do_export(world, other, me.user_id)
    stina = staff(world)
    do_export(world, stina, me.user_id)
    reads = [e for e in world.consents.audit.list_for_subject(me.user_id) if e.actor_id == stina.user_id]
    assert {e.object_type for e in reads} == {"profile", "resume"}


def test_the_personal_data_export_holds_the_json_resume(world: World) -> None:
    me, agency = consultant(world)
    assert privacy.export_personal_data(world.profiles, world.consents.audit, me, world.db, world.db, world.db).json_resume is None
    exported = do_import(world, me, me.user_id, SAMPLE)
    assert privacy.export_personal_data(world.profiles, world.consents.audit, me, world.db, world.db, world.db).json_resume == exported
    assert privacy.export_personal_data(world.profiles, world.consents.audit, agency, world.db, world.db, world.db).json_resume is None


# --- the fixed point, on generated documents ------------------------------------------------------------

_words = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs", "P")), min_size=1, max_size=30).filter(str.strip)
_dates = st.builds(
    lambda y, m, d, form: [f"{y}", f"{y}-{m:02d}", f"{y}-{m:02d}-{d:02d}"][form],
    st.integers(1990, 2024),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 2),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _words,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_words, inner, max_size=3),
    max_leaves=5,
)
_unknown = st.dictionaries(st.sampled_from(["note", "x-other", "rating", "tags"]), _json, max_size=2)
_SKILLS = st.sampled_from(["Python", "k8s", "MSSQL", "Basket weaving", "Go", "React", "AWS", "Terraform", "SQL"])
_LEVELS = st.none() | st.sampled_from(["Master", "Beginner", "4", "Wizardly", "intermediate"])
_FLUENCY = st.sampled_from(["Native speaker", "Fluent", "B2", "Basic", "Full professional proficiency"])


def _optional(**fields: Any) -> Any:
    return st.fixed_dictionaries({}, optional=fields)


@st.composite
def _entries(draw: Any, required: dict[str, Any], optional: dict[str, Any], dated: bool = False, most: int = 2) -> list[dict[str, Any]]:
    entries = []
    for _ in range(draw(st.integers(0, most))):
        entry = {key: draw(strategy) for key, strategy in required.items()} | draw(_optional(**optional)) | draw(_unknown)
        if dated:
            start, end = draw(_dates), draw(st.none() | _dates)
            entry["startDate"] = start
            if end is not None and end[:4] > start[:4]:
                entry["endDate"] = end
        entries.append(entry)
    return entries


@st.composite
def _skill_entries(draw: Any) -> list[dict[str, Any]]:
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        grouped, level = draw(st.booleans()), draw(_LEVELS)
        entry: dict[str, Any] = {"name": draw(_words if grouped else _SKILLS), **draw(_unknown)}
        if level is not None:
            entry["level"] = level
        if grouped:
            entry["keywords"] = draw(st.lists(_SKILLS, min_size=1, max_size=4))
        entries.append(entry)
    return entries


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    location = st.fixed_dictionaries({"city": _words}, optional={"countryCode": st.sampled_from(["SE", "no"]), "region": _words})
    languages = st.lists(
        st.fixed_dictionaries({"language": st.sampled_from(["English", "sv", "German", "Mandarin"]), "fluency": _FLUENCY}),
        max_size=3,
        unique_by=lambda entry: language_code(entry["language"]),
    )
    extension = _optional(
        letter=_words,
        remotePreference=st.sampled_from(["remote", "hybrid"]),
        availability=st.fixed_dictionaries({"shareOfFullTime": st.integers(1, 100)}),
    )
    document: dict[str, Any] = {
        "basics": {"name": draw(_words)} | draw(_optional(label=_words, summary=_words, phone=_words, location=location)),
        "work": draw(
            _entries({"name": _words, "position": _words}, {"summary": _words, "highlights": st.lists(_words, max_size=2)}, True, 3)
        ),
        "education": draw(_entries({"institution": _words}, {"area": _words, "studyType": _words, "courses": st.lists(_words)}, True)),
        "awards": draw(_entries({"title": _words, "date": _dates}, {"awarder": _words, "summary": _words})),
        "certificates": draw(_entries({"name": _words, "issuer": _words, "date": _dates}, {"url": st.just("https://example.com/c")})),
        "projects": draw(_entries({"name": _words, "url": st.sampled_from(["https://example.com", "http://example.com/a?b=1"])}, {})),
        "skills": draw(_skill_entries()),
        "languages": draw(languages),
    }
    document |= draw(
        st.dictionaries(st.sampled_from(["interests", "volunteer", "custom"]), st.lists(st.fixed_dictionaries({"name": _words})))
    )
    if draw(st.booleans()):
        document["x-customersonly"] = draw(extension)
    return document


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents())
def test_export_import_export_is_a_fixed_point(document: dict[str, Any]) -> None:
    world = make_world()
    me, _ = consultant(world)
    first = do_import(world, me, me.user_id, document)
    assert do_import(world, me, me.user_id, first) == first
    assert do_export(world, me, me.user_id) == first


def test_a_skill_without_readable_text_is_a_field_error_even_with_a_known_skill_id(world: World) -> None:
    me, _ = consultant(world)
    document = {
        "basics": {"name": "R"},
        "skills": [
            {"name": "G", "keywords": ["\u200b"], "x-customersonly": {"skills": [{"name": "\u200b", "skillId": "python", "level": 3}]}}
        ],
    }
    issues = invalid(world, me, document)
    assert list(issues) == ["skills.0.keywords.0"]


def test_languages_the_profile_cannot_hold_are_kept_in_place_and_empty_sections_stay(world: World) -> None:
    me, _ = consultant(world)
    document = {
        "basics": {"name": "R"},
        "awards": [],
        "languages": [
            {"language": "Klingon", "fluency": "Fluent"},
            {"language": "Mandarin", "fluency": "Native speaker"},
            {"language": "Swedish"},
            {"language": "Cantonese", "fluency": "Conversational"},
            {"language": "English", "fluency": "so-so"},
            {"language": "German", "fluency": "B2"},
        ],
    }
    exported = do_import(world, me, me.user_id, document)
    assert exported["languages"] == document["languages"] and exported["awards"] == []
    profile = world.db.get_profile(me.user_id)
    assert profile is not None and [(lang.code, lang.level.value) for lang in profile.languages] == [("zh", "native"), ("de", "B2")]


def test_kept_language_entries_follow_later_edits_of_the_profile(world: World) -> None:
    me, _ = consultant(world)
    do_import(
        world, me, me.user_id, {"basics": {"name": "R"}, "languages": [{"language": "Swedish"}, {"language": "English", "fluency": "C1"}]}
    )
    # The form adds Swedish: the kept entry becomes its entry, in its place.
    form = {"name": "R", "languages": [{"code": "en", "level": "C1"}, {"code": "sv", "level": "C2"}]}
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(form))
    assert do_export(world, me, me.user_id)["languages"] == [
        {"language": "Swedish", "fluency": "Full professional (C2)"},
        {"language": "English", "fluency": "C1"},
    ]
    # A language the form adds that no import mentioned is named, not coded, and comes last.
    form["languages"].append({"code": "de", "level": "B1"})
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(form))
    assert do_export(world, me, me.user_id)["languages"][-1] == {"language": "German", "fluency": "Intermediate (B1)"}

    do_import(
        world,
        me,
        me.user_id,
        {"basics": {"name": "R"}, "languages": [{"language": "Mandarin", "fluency": "Native"}, {"language": "Cantonese", "fluency": "B1"}]},
    )
    assert [e["language"] for e in do_export(world, me, me.user_id)["languages"]] == ["Mandarin", "Cantonese"]
    # The form removes Chinese: the second entry of it goes too, so a re-import cannot bring it back.
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate({"name": "R", "languages": []}))
    assert "languages" not in do_export(world, me, me.user_id)
