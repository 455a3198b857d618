"""Hypothesis strategies for matching: candidates and assignments varying in every hard constraint, with
values drawn from small sets so that equal currencies, countries and languages actually meet."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import strategies as st

from chalicelib.domain.assignments import Assignment, FixedFee, LanguageRequirement
from chalicelib.domain.money import HourlyRate
from chalicelib.domain.profiles import LanguageLevel, RemotePreference
from chalicelib.matching.candidates import Candidate
from tests.unit.test_matching_candidates import RESUME, START, assignment, candidate_from, profile

CURRENCIES = st.sampled_from(["SEK", "EUR"])
COUNTRIES = st.sampled_from(["SE", "NO"])
LANGUAGE_CODES = st.sampled_from(["sv", "en"])
LEVELS = st.sampled_from(list(LanguageLevel))
MODES = st.sampled_from(list(RemotePreference))
DAYS = st.integers(min_value=-20, max_value=20)


@st.composite
def candidates(draw: st.DrawFn, user_id: str = "u1") -> Candidate:
    base = candidate_from(profile(user_id=user_id), RESUME)
    available = draw(st.none() | DAYS.map(lambda d: START + timedelta(days=d)))
    return dataclasses.replace(
        base,
        hourly_rate=draw(st.none() | st.builds(HourlyRate, st.integers(1000, 3000), CURRENCIES)),
        available_from=available,
        languages=tuple(draw(st.dictionaries(LANGUAGE_CODES, LEVELS, max_size=2)).items()),
        remote_preference=draw(st.none() | MODES),
        country=draw(st.none() | COUNTRIES),
    )


@st.composite
def assignments(draw: st.DrawFn) -> Assignment:
    budget = draw(st.none() | st.builds(HourlyRate, st.integers(1000, 3000), CURRENCIES))
    return assignment(
        start_date=START,
        max_hourly_rate=budget,
        fixed_fee=None if budget else FixedFee(50_000_000, "SEK"),
        languages=[LanguageRequirement(code, level) for code, level in draw(st.dictionaries(LANGUAGE_CODES, LEVELS, max_size=2)).items()],
        work_modes=draw(st.lists(MODES, min_size=1, max_size=3, unique=True)),
        country=draw(st.none() | COUNTRIES),
    )
