"""The resume, part by part: validation, skill normalisation, ownership, the agency's consent rule."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.domain.identity import Principal
from chalicelib.domain.resume import ResumePart
from chalicelib.errors import Conflict, Forbidden, NotFound
from chalicelib.schemas.resume import PART_MODELS
from chalicelib.services import resume
from chalicelib.taxonomy import default_taxonomy
from tests.fakes import World, make_world
from tests.unit.test_registration import invite, principal_of, register_agency, register_invited

TODAY = date.today()
EXAMPLES: dict[ResumePart, dict[str, Any]] = {
    ResumePart.LETTER: {"text": "I build data platforms that last."},
    ResumePart.EDUCATION: {
        "institution": "KTH",
        "degree": "MSc",
        "field_of_study": "Computer science",
        "start": "2010-08-20",
        "end": "2015-06-10",
    },
    ResumePart.EXPERIENCE: {
        "organisation": "Spotify",
        "role": "Data engineer",
        "start": "2019-01-01",
        "skills_used": ["k8s", "Python 3", "Underwater basket weaving"],
    },
    ResumePart.SKILLS: {"name": "MSSQL", "level": 4, "years": 7},
    ResumePart.PORTFOLIO: {"title": "Open data pipeline", "url": "https://github.com/example/pipeline"},
    ResumePart.AWARDS: {"title": "Engineer of the year", "issuer": "Acme", "awarded_on": "2021-12-01"},
    ResumePart.CERTIFICATES: {"name": "AWS Solutions Architect", "issuer": "AWS", "issued_on": "2022-03-01", "expires_on": "2025-03-01"},
}


@pytest.fixture
def world() -> World:
    return make_world()


def consultant(world: World) -> tuple[Principal, Principal]:
    agency = register_agency(world)
    person = register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example"))
    return principal_of(person), principal_of(agency)


def add(world: World, who: Principal, owner: str, part: ResumePart, data: dict[str, Any]) -> Any:
    return resume.add_item(world.profiles, default_taxonomy(), who, owner, part, PART_MODELS[part].model_validate(data))


def test_every_part_can_be_added_read_changed_and_removed(world: World) -> None:
    me, _ = consultant(world)
    items = {part: add(world, me, me.user_id, part, data) for part, data in EXAMPLES.items()}
    whole = resume.get_resume(world.profiles, me, me.user_id)
    assert {part: [i.item_id for i in whole.part(part)] for part in ResumePart} == {p: [i.item_id] for p, i in items.items()}

    skill = items[ResumePart.SKILLS]
    assert skill.content["skill_id"] == "microsoft-sql-server" and skill.content["name"] == "Microsoft SQL Server"
    used = items[ResumePart.EXPERIENCE].content["skills_used"]
    assert [u["skill_id"] for u in used] == ["kubernetes", "python", None]
    assert used[2]["name"] == "Underwater basket weaving"  # unknown skills are kept, not dropped

    world.clock.advance(minutes=1)
    changed = resume.update_item(
        world.profiles,
        default_taxonomy(),
        me,
        me.user_id,
        ResumePart.EDUCATION,
        items[ResumePart.EDUCATION].item_id,
        PART_MODELS[ResumePart.EDUCATION].model_validate({**EXAMPLES[ResumePart.EDUCATION], "degree": "PhD"}),
    )
    assert changed.content["degree"] == "PhD" and changed.updated_at > changed.created_at
    resume.delete_item(world.profiles, me, me.user_id, ResumePart.EDUCATION, changed.item_id)
    assert resume.get_resume(world.profiles, me, me.user_id).part(ResumePart.EDUCATION) == []
    with pytest.raises(NotFound):
        resume.delete_item(world.profiles, me, me.user_id, ResumePart.EDUCATION, changed.item_id)


def test_one_letter_and_no_duplicate_skills(world: World) -> None:
    me, _ = consultant(world)
    first = add(world, me, me.user_id, ResumePart.LETTER, {"text": "First"})
    second = add(world, me, me.user_id, ResumePart.LETTER, {"text": "Second"})
    assert first.item_id == second.item_id and [
        i.content["text"] for i in resume.get_resume(world.profiles, me, me.user_id).part(ResumePart.LETTER)
    ] == ["Second"]
    add(world, me, me.user_id, ResumePart.SKILLS, {"name": "Kubernetes", "level": 3})
    with pytest.raises(Conflict):
        add(world, me, me.user_id, ResumePart.SKILLS, {"name": "k8s", "level": 5})  # the same canonical skill
    add(world, me, me.user_id, ResumePart.SKILLS, {"name": "Basket weaving", "level": 2})
    with pytest.raises(Conflict):
        add(world, me, me.user_id, ResumePart.SKILLS, {"name": "basket WEAVING", "level": 2})


def test_others_read_as_the_profile_rules_say_and_the_agency_edits_only_with_consent(world: World) -> None:
    me, agency = consultant(world)
    add(world, me, me.user_id, ResumePart.SKILLS, {"name": "Python", "level": 5})
    assert resume.get_resume(world.profiles, agency, me.user_id).part(ResumePart.SKILLS)
    with pytest.raises(Forbidden):  # no written consent for this agency
        add(world, agency, me.user_id, ResumePart.SKILLS, {"name": "Go", "level": 1})
    stranger = principal_of(register_agency(world, email="boss@other.example"))
    with pytest.raises(NotFound):
        resume.get_resume(world.profiles, stranger, me.user_id)
    with pytest.raises(NotFound):
        add(world, stranger, me.user_id, ResumePart.SKILLS, {"name": "Go", "level": 1})
    [item] = resume.get_resume(world.profiles, me, me.user_id).part(ResumePart.SKILLS)
    with pytest.raises(NotFound):
        resume.delete_item(world.profiles, stranger, me.user_id, ResumePart.SKILLS, item.item_id)


def _future(days: int = 30) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("part", "change"),
    [
        (ResumePart.EDUCATION, {"start": "2015-01-01", "end": "2014-01-01"}),
        (ResumePart.EDUCATION, {"start": _future()}),
        (ResumePart.EXPERIENCE, {"end": _future()}),
        (ResumePart.EXPERIENCE, {"skills_used": ["x"] * 51}),
        (ResumePart.EXPERIENCE, {"role": "r" * 201}),
        (ResumePart.SKILLS, {"level": 6}),
        (ResumePart.SKILLS, {"years": -1}),
        (ResumePart.PORTFOLIO, {"url": "javascript:alert(1)"}),
        (ResumePart.PORTFOLIO, {"url": None}),
        (ResumePart.AWARDS, {"awarded_on": _future()}),
        (ResumePart.CERTIFICATES, {"expires_on": "2020-01-01"}),
        (ResumePart.CERTIFICATES, {"issued_on": _future()}),
        (ResumePart.LETTER, {"text": "x" * 8001}),
    ],
)
def test_invalid_items_are_refused(part: ResumePart, change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PART_MODELS[part].model_validate({**EXAMPLES[part], **change})


def test_completeness_grows_as_the_consultant_fills_things_in_and_names_what_is_missing(world: World) -> None:
    from chalicelib.schemas.profiles import ProfileIn
    from chalicelib.services import profiles
    from tests.unit.test_profiles import FULL

    me, _ = consultant(world)
    empty = profiles.my_completeness(world.profiles, me)
    assert empty.score == 0 and [r.key for r in empty.missing][:2] == ["title", "summary"]
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(FULL))
    after_profile = profiles.my_completeness(world.profiles, me)
    assert after_profile.score == 55 and {r.key for r in after_profile.missing} == {
        "letter",
        "experience",
        "education",
        "skills",
        "portfolio",
    }
    for part, data in EXAMPLES.items():
        add(world, me, me.user_id, part, data)
    almost = profiles.my_completeness(world.profiles, me)
    assert [r.key for r in almost.missing] == ["skills"] and almost.score == 90  # one skill of the five asked for
    for name in ("Python", "Kubernetes", "Terraform", "Go"):
        add(world, me, me.user_id, ResumePart.SKILLS, {"name": name, "level": 3})
    done = profiles.my_completeness(world.profiles, me)
    assert done.score == 100 and done.missing == []
