"""The matching core every engine shares: what a candidate is, the hard constraints, the reasons, and
the business adjustment."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.assignments import Assignment, FixedFee, LanguageRequirement, Seniority, SkillRequirement
from chalicelib.domain.money import HourlyRate
from chalicelib.domain.profiles import Availability, Language, LanguageLevel, Profile, RemotePreference
from chalicelib.domain.resume import ResumeItem, ResumePart
from chalicelib.matching.candidates import AvailabilityFit, RateFit, adjusted_score, candidate_from, explain

NOW = datetime(2026, 11, 27, tzinfo=UTC)
START = date(2027, 1, 11)


def profile(**change: object) -> Profile:
    base = Profile(
        user_id="u1",
        agency_id="a1",
        name="Cecilia Consultant",
        created_at=NOW,
        updated_at=NOW,
        updated_by="u1",
        title="Platform engineer",
        summary="Kubernetes on AWS",
        country="SE",
        remote_preference=RemotePreference.HYBRID,
        languages=[Language("sv", LanguageLevel.NATIVE), Language("en", LanguageLevel.C1)],
        availability=Availability(date(2027, 1, 1), 100),
        expected_hourly_rate=HourlyRate(110000, "SEK"),
    )
    return dataclasses.replace(base, **change)  # type: ignore[arg-type]


def item(part: ResumePart, **content: object) -> ResumeItem:
    return ResumeItem("u1", part, str(id(content)), NOW, NOW, "u1", dict(content))


RESUME = [
    item(ResumePart.SKILLS, skill_id="kubernetes", name="Kubernetes", level=5, years=6),
    item(ResumePart.SKILLS, skill_id=None, name="Our in-house deployer", level=4, years=2),
    item(
        ResumePart.EXPERIENCE,
        organisation="Volvo",
        role="Platform lead",
        description="Ran the EKS clusters",
        start="2020-01-01",
        skills_used=[{"skill_id": "terraform", "name": "Terraform"}, {"skill_id": "kubernetes", "name": "Kubernetes"}],
    ),
]


def assignment(**change: object) -> Assignment:
    base = Assignment(
        assignment_id="as1",
        client_id="c1",
        title="Platform engineer",
        description="Kubernetes and Terraform on AWS",
        required_skills=[
            SkillRequirement("kubernetes", "Kubernetes"),
            SkillRequirement("terraform", "Terraform"),
            SkillRequirement("aws", "AWS"),
        ],
        nice_to_have_skills=[SkillRequirement("go", "Go"), SkillRequirement(None, "Our in-house deployer")],
        seniority=Seniority.SENIOR,
        start_date=START,
        end_date=None,
        share_of_full_time=80,
        created_at=NOW,
        created_by="x",
        updated_at=NOW,
        updated_by="x",
        city="Stockholm",
        country="SE",
        work_modes=[RemotePreference.HYBRID, RemotePreference.ON_SITE],
        languages=[LanguageRequirement("sv", LanguageLevel.B2)],
        max_hourly_rate=HourlyRate(120000, "SEK"),
    )
    return dataclasses.replace(base, **change)  # type: ignore[arg-type]


def test_a_candidate_holds_what_matching_needs_and_nothing_protected() -> None:
    candidate = candidate_from(profile(), RESUME)
    assert [(s.key, s.level) for s in candidate.skills] == [("kubernetes", 5), ("text:our in-house deployer", 4), ("terraform", 3)]
    assert "Platform lead" in candidate.experience and candidate.hourly_rate == HourlyRate(110000, "SEK")
    fields = {f.name for f in dataclasses.fields(candidate)}
    assert not fields & {"name", "photo", "age", "gender", "nationality", "email", "phone"}
    assert "Cecilia" not in repr(candidate)


def test_the_reasons_name_matched_and_missing_skills_in_both_wordings() -> None:
    reasons = explain(candidate_from(profile(), RESUME), assignment())
    assert [(m.required_as, m.consultant_wording, m.level) for m in reasons.matched_required] == [
        ("Kubernetes", "Kubernetes", 5),
        ("Terraform", "Terraform", 3),
    ]
    assert reasons.missing_required == ("AWS",) and reasons.required_coverage == pytest.approx(2 / 3)
    assert [m.consultant_wording for m in reasons.matched_nice] == ["Our in-house deployer"] and reasons.missing_nice == ("Go",)
    assert reasons.rate_fit is RateFit.WITHIN and reasons.availability_fit is AvailabilityFit.IN_TIME
    assert reasons.location_fits and reasons.extent_fits and reasons.languages_missing == ()
    assert reasons.passes_hard_constraints


@pytest.mark.parametrize(
    ("profile_change", "assignment_change", "failing"),
    [
        ({"expected_hourly_rate": HourlyRate(130000, "SEK")}, {}, "rate"),
        ({"expected_hourly_rate": HourlyRate(9000, "EUR")}, {}, "rate"),
        ({"availability": Availability(date(2027, 2, 1), 100)}, {}, "availability"),
        ({"languages": [Language("sv", LanguageLevel.B1)]}, {}, "languages"),
        ({"remote_preference": RemotePreference.REMOTE}, {}, "location"),
        ({"country": "NO"}, {}, "location"),
    ],
)
def test_each_hard_constraint_excludes(profile_change: dict[str, object], assignment_change: dict[str, object], failing: str) -> None:
    reasons = explain(candidate_from(profile(**profile_change), RESUME), assignment(**assignment_change))
    assert not reasons.passes_hard_constraints
    assert {
        "rate": reasons.rate_fit in (RateFit.ABOVE, RateFit.OTHER_CURRENCY),
        "availability": reasons.days_late == 21,
        "languages": reasons.languages_missing == ("sv",),
        "location": not reasons.location_fits,
    }[failing]


@pytest.mark.parametrize(
    ("profile_change", "assignment_change"),
    [
        ({"expected_hourly_rate": None}, {}),  # not given: unknown, not excluded
        ({"availability": None}, {}),
        ({}, {"max_hourly_rate": None, "fixed_fee": FixedFee(50_000_000, "SEK")}),  # a fixed fee: no hourly budget
        ({"country": "NO", "remote_preference": RemotePreference.REMOTE}, {"work_modes": [RemotePreference.REMOTE]}),
        ({"country": None}, {}),
    ],
)
def test_what_is_unknown_or_remote_does_not_exclude(profile_change: dict[str, object], assignment_change: dict[str, object]) -> None:
    assert explain(candidate_from(profile(**profile_change), RESUME), assignment(**assignment_change)).passes_hard_constraints


@given(st.floats(0, 1), st.floats(0, 1))
def test_more_required_skills_never_rank_lower(relevance: float, other_relevance: float) -> None:
    base = explain(candidate_from(profile(), RESUME[:1]), assignment())  # Kubernetes only
    more = explain(candidate_from(profile(), RESUME), assignment())  # Kubernetes and Terraform
    assert adjusted_score(relevance, more) > adjusted_score(relevance, base)
    assert adjusted_score(max(relevance, other_relevance), base) >= adjusted_score(min(relevance, other_relevance), base)


@given(st.data())
def test_the_filters_engines_apply_are_the_hard_constraints_explain_checks(data: st.DataObject) -> None:
    from chalicelib.matching.filters import filter_values, filters_for, passes
    from tests.strategies import assignments, candidates

    candidate, wanted = data.draw(candidates()), data.draw(assignments())
    assert passes(filter_values(candidate), filters_for(wanted)) == explain(candidate, wanted).passes_hard_constraints


@pytest.mark.parametrize(
    ("wanted", "written", "alike"),
    [
        ("Microsoft Excel", "Excel", True),  # without the vendor
        ("Excel", "Microsoft Excel 365", True),  # the other way round
        ("Enterprise resource planning ERP software", "ERP", True),  # the acronym the name carries
        ("Tableau", "Tableau software", True),  # a generic word is not part of the name
        ("Java", "JavaScript", False),  # words, not letters
        ("SQL Server", "Server", True),
        ("Go", "Google Cloud", False),
    ],
)
def test_a_skill_written_differently_is_found_with_the_consultants_wording(wanted: str, written: str, alike: bool) -> None:
    from chalicelib.matching.candidates import CandidateSkill, wanted_skill

    candidate = dataclasses.replace(
        candidate_from(profile(), RESUME), skills=(CandidateSkill(None, "Cobol", 3, 1), CandidateSkill(None, written, 4, 2))
    )
    found = wanted_skill(None, wanted).found_in(candidate)
    assert (found.name if found else None) == (written if alike else None)
    reasons = explain(candidate, assignment(required_skills=[SkillRequirement(None, wanted)], nice_to_have_skills=[]))
    assert [m.consultant_wording for m in reasons.matched_required] == ([written] if alike else [])


def test_the_same_key_wins_over_a_skill_written_alike() -> None:
    from chalicelib.matching.candidates import CandidateSkill, wanted_skill

    skills = (CandidateSkill(None, "Excel", 3, 1), CandidateSkill("ms-excel", "MS Excel", 5, 9))
    candidate = dataclasses.replace(candidate_from(profile(), RESUME), skills=skills)
    assert wanted_skill("ms-excel", "Microsoft Excel").found_in(candidate) == skills[1]
