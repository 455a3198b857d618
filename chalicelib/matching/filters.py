"""The hard constraints as an engine applies them while retrieving, and the values a candidate is indexed
with for them. Both engines translate the same ``MatchFilters`` against the same ``FilterValues``, so they
filter alike; ``explain`` checks every constraint again on what comes back (the same rules, in
candidates.py), so an engine can only make retrieval cheaper, never let a candidate through.

Filtering inside the engine matters for more than speed: with filters applied after retrieval, a large
pool of text-similar candidates who fail a constraint would crowd out those who pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.assignments import Assignment
from chalicelib.domain.profiles import LanguageLevel, RemotePreference
from chalicelib.matching.candidates import LANGUAGE_LEVELS, Candidate

NOT_SAID = "-"
"""Indexed for a field the consultant left empty: unknowns pass every filter."""


@dataclass(frozen=True)
class FilterValues:
    """What a candidate is indexed with for the filters (keywords and integers, the same in every engine)."""

    rate_currency: str  # NOT_SAID without a rate
    rate_minor: int  # 0 without a rate
    available_from_day: int  # date.toordinal(); 0 when available now or not said
    language_keys: tuple[str, ...]  # "sv>=B2" for every level at or below each of the consultant's
    remote_preference: str  # a RemotePreference value, or NOT_SAID
    country: str  # ISO code, or NOT_SAID


def filter_values(candidate: Candidate) -> FilterValues:
    rate = candidate.hourly_rate
    return FilterValues(
        rate_currency=rate.currency if rate else NOT_SAID,
        rate_minor=rate.amount_minor if rate else 0,
        available_from_day=candidate.available_from.toordinal() if candidate.available_from else 0,
        language_keys=tuple(language_key(code, at_most) for code, level in candidate.languages for at_most in _up_to(level)),
        remote_preference=candidate.remote_preference.value if candidate.remote_preference else NOT_SAID,
        country=candidate.country or NOT_SAID,
    )


def _up_to(level: LanguageLevel) -> tuple[LanguageLevel, ...]:
    return LANGUAGE_LEVELS[: LANGUAGE_LEVELS.index(level) + 1]


def language_key(code: str, level: str) -> str:
    return f"{code}>={level}"


@dataclass(frozen=True)
class MatchFilters:
    """An assignment's hard constraints. A candidate passes when all of these hold:

    * rate: no rate, or a rate in ``rate_currency`` of at most ``max_rate_minor`` (when a budget is set);
    * availability: available from ``available_by`` or earlier, or not said;
    * languages: every one of ``language_keys`` among the candidate's;
    * work mode: the candidate's preference is one of ``work_modes``, or not said;
    * place: when ``country`` is set, the candidate works from it, or did not say where, or
      ``remote_ok`` and the candidate prefers remote work or did not say.
    """

    rate_currency: str | None
    max_rate_minor: int | None
    available_by_day: int
    language_keys: tuple[str, ...]
    work_modes: tuple[str, ...]
    country: str | None
    remote_ok: bool


def filters_for(assignment: Assignment) -> MatchFilters:
    budget = assignment.max_hourly_rate
    return MatchFilters(
        rate_currency=budget.currency if budget else None,
        max_rate_minor=budget.amount_minor if budget else None,
        available_by_day=assignment.start_date.toordinal(),
        language_keys=tuple(language_key(r.code, r.min_level.value) for r in assignment.languages),
        work_modes=tuple(mode.value for mode in assignment.work_modes),
        country=assignment.country,
        remote_ok=RemotePreference.REMOTE in assignment.work_modes,
    )


def passes(values: FilterValues, filters: MatchFilters) -> bool:
    """The filters evaluated in Python: the reference the engines' translations are tested against, and
    the filter of the in-memory index used by tests."""
    rate_ok = (
        filters.max_rate_minor is None
        or values.rate_currency == NOT_SAID
        or (values.rate_currency == filters.rate_currency and values.rate_minor <= filters.max_rate_minor)
    )
    place_ok = (
        filters.country is None
        or values.country in (NOT_SAID, filters.country)
        or (filters.remote_ok and values.remote_preference in (NOT_SAID, RemotePreference.REMOTE.value))
    )
    return (
        rate_ok
        and values.available_from_day <= filters.available_by_day
        and set(filters.language_keys) <= set(values.language_keys)
        and values.remote_preference in (NOT_SAID, *filters.work_modes)
        and place_ok
    )
