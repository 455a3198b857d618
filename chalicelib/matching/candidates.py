"""What matching knows about a consultant, the hard constraints of an assignment, and the reasons a
candidate fits. Pure and shared by every engine: an engine only retrieves and scores text; filters,
explanations and the business adjustment live here once.

Protected attributes never enter: a candidate has no name, photo, age, gender or nationality (the
country is where the consultant works from, used only against an assignment's place of work).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cached_property, lru_cache

from chalicelib.domain.assignments import Assignment, SkillRequirement
from chalicelib.domain.money import HourlyRate
from chalicelib.domain.profiles import LanguageLevel, Profile, RemotePreference
from chalicelib.domain.resume import ResumeItem, ResumePart
from chalicelib.taxonomy.core import tokens

LANGUAGE_LEVELS = (
    LanguageLevel.A1,
    LanguageLevel.A2,
    LanguageLevel.B1,
    LanguageLevel.B2,
    LanguageLevel.C1,
    LanguageLevel.C2,
    LanguageLevel.NATIVE,
)


def skill_key(skill_id: str | None, name: str) -> str:
    """What makes two skills the same: the canonical id, or the free text case-folded."""
    return skill_id or f"text:{name.casefold()}"


# Words that say what kind of thing a skill is rather than which one: "Tableau software" is Tableau.
_GENERIC_SKILL_WORDS = frozenset({"software", "system", "systems", "tool", "tools", "the", "and", "of", "for"})


@lru_cache(maxsize=65536)  # skill names repeat across consultants, and every hit of a match is explained
def skill_core(name: str) -> str:
    """The words naming a skill, case-folded: "Tableau software" → "tableau", "MS-Excel" → "ms excel"."""
    words = tokens(name)
    return " ".join([w for w in words if w not in _GENERIC_SKILL_WORDS] or words)


@lru_cache(maxsize=65536)
def skill_parts(core: str) -> frozenset[str]:
    """Every run of consecutive words of a skill's core: what the skill may be written as when shortened,
    "excel" for "microsoft excel", "erp" for "enterprise resource planning erp"."""
    words = core.split()
    return frozenset(" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1))


@dataclass(frozen=True)
class CandidateSkill:
    skill_id: str | None
    name: str  # as the consultant's resume has it
    level: int  # 1..5
    years: int

    @property
    def key(self) -> str:
        return skill_key(self.skill_id, self.name)

    @property
    def core(self) -> str:
        return skill_core(self.name)

    @property
    def parts(self) -> frozenset[str]:
        return skill_parts(self.core)


@dataclass(frozen=True)
class WantedSkill:
    """A skill an assignment asks for, with every way a consultant's skill is recognised as it: the same
    key (canonical id, or the same free text), or written alike, when one's core is a run of words of the
    other's ("Excel" for "Microsoft Excel", "Microsoft Excel 365" for "Excel", "ERP" for "Enterprise
    resource planning ERP software")."""

    key: str
    core: str
    parts: frozenset[str]

    def found_in(self, candidate: Candidate) -> CandidateSkill | None:
        """The consultant's skill that is this one: by key first, else the closest written alike."""
        exact = candidate.skill(self.key)
        if exact is not None:
            return exact
        shorter = [candidate.with_core(part) for part in self.parts]
        alike = [s for s in shorter if s is not None] + candidate.containing(self.core)
        return min(alike, key=lambda s: abs(len(s.core) - len(self.core)), default=None)


@lru_cache(maxsize=4096)  # an assignment's skills are compared with every candidate retrieved
def wanted_skill(skill_id: str | None, name: str) -> WantedSkill:
    core = skill_core(name)
    return WantedSkill(skill_key(skill_id, name), core, skill_parts(core))


@dataclass(frozen=True)
class Candidate:
    user_id: str
    agency_id: str | None
    title: str
    summary: str
    experience: str  # roles and descriptions, for the text part of the ranking
    skills: tuple[CandidateSkill, ...]
    languages: tuple[tuple[str, LanguageLevel], ...]
    available_from: date | None  # None: available now (or not said)
    share_of_full_time: int | None
    hourly_rate: HourlyRate | None
    country: str | None
    remote_preference: RemotePreference | None

    def skill(self, key: str) -> CandidateSkill | None:
        return self._by_key.get(key)

    def with_core(self, core: str) -> CandidateSkill | None:
        return self._by_core.get(core)

    def containing(self, part: str) -> list[CandidateSkill]:
        """The skills whose core has ``part`` as a run of its words."""
        return self._by_part.get(part, [])

    # The first of the consultant's skills for each key and each core (reversed: the first one wins).
    @cached_property
    def _by_key(self) -> dict[str, CandidateSkill]:
        return {skill.key: skill for skill in reversed(self.skills)}

    @cached_property
    def _by_core(self) -> dict[str, CandidateSkill]:
        return {skill.core: skill for skill in reversed(self.skills)}

    @cached_property
    def _by_part(self) -> dict[str, list[CandidateSkill]]:
        by_part: dict[str, list[CandidateSkill]] = {}
        for skill in self.skills:
            for part in skill.parts:
                by_part.setdefault(part, []).append(skill)
        return by_part

    def language_level(self, code: str) -> LanguageLevel | None:
        return next((level for c, level in self.languages if c == code), None)


def candidate_from(profile: Profile, items: Iterable[ResumeItem]) -> Candidate:
    """The consultant as matching sees them. Skills used in a position count too (level 3, no years) when
    the skills part does not list them."""
    resume = list(items)
    listed = [
        CandidateSkill(i.content.get("skill_id"), str(i.content["name"]), int(i.content["level"]), int(i.content.get("years", 0)))
        for i in resume
        if i.part is ResumePart.SKILLS
    ]
    keys = {s.key for s in listed}
    used = []
    experience = []
    for item in (i for i in resume if i.part is ResumePart.EXPERIENCE):
        experience.append(" ".join(str(item.content.get(k) or "") for k in ("role", "description")).strip())
        for skill in item.content.get("skills_used", []):
            candidate_skill = CandidateSkill(skill.get("skill_id"), str(skill["name"]), 3, 0)
            if candidate_skill.key not in keys:
                keys.add(candidate_skill.key)
                used.append(candidate_skill)
    availability = profile.availability
    return Candidate(
        user_id=profile.user_id,
        agency_id=profile.agency_id,
        title=profile.title or "",
        summary=profile.summary or "",
        experience="\n".join(e for e in experience if e),
        skills=(*listed, *used),
        languages=tuple((language.code, language.level) for language in profile.languages),
        available_from=availability.available_from if availability else None,
        share_of_full_time=availability.share_of_full_time if availability else None,
        hourly_rate=profile.expected_hourly_rate,
        country=profile.country,
        remote_preference=profile.remote_preference,
    )


class RateFit(StrEnum):
    WITHIN = "within"  # at or under the budget
    ABOVE = "above"
    OTHER_CURRENCY = "other_currency"
    UNKNOWN = "unknown"  # no rate given, or a fixed-fee assignment


class AvailabilityFit(StrEnum):
    IN_TIME = "in_time"
    LATE = "late"


@dataclass(frozen=True)
class SkillMatch:
    skill_id: str | None
    required_as: str  # the assignment's wording (canonical name when known)
    consultant_wording: str
    level: int
    years: int


@dataclass(frozen=True)
class MatchReasons:
    matched_required: tuple[SkillMatch, ...]
    missing_required: tuple[str, ...]
    matched_nice: tuple[SkillMatch, ...]
    missing_nice: tuple[str, ...]
    rate_fit: RateFit
    availability_fit: AvailabilityFit
    days_late: int
    languages_missing: tuple[str, ...]  # codes required at a level the consultant does not have
    location_fits: bool
    extent_fits: bool  # the consultant's share of full time covers the assignment's

    @property
    def required_coverage(self) -> float:
        total = len(self.matched_required) + len(self.missing_required)
        return len(self.matched_required) / total if total else 1.0

    @property
    def nice_coverage(self) -> float:
        total = len(self.matched_nice) + len(self.missing_nice)
        return len(self.matched_nice) / total if total else 0.0

    @property
    def passes_hard_constraints(self) -> bool:
        """Rate within budget, available in time, languages and place of work: a candidate failing any is
        not shown (unknowns pass: a consultant is not excluded for what they did not fill in)."""
        return (
            self.rate_fit in (RateFit.WITHIN, RateFit.UNKNOWN)
            and self.availability_fit is AvailabilityFit.IN_TIME
            and not self.languages_missing
            and self.location_fits
        )


def _matches(candidate: Candidate, wanted: Iterable[SkillRequirement]) -> tuple[list[SkillMatch], list[str]]:
    matched, missing = [], []
    for requirement in wanted:
        skill = wanted_skill(requirement.skill_id, requirement.name).found_in(candidate)
        if skill is None:
            missing.append(requirement.name)
        else:
            matched.append(SkillMatch(requirement.skill_id, requirement.name, skill.name, skill.level, skill.years))
    return matched, missing


def _rate_fit(candidate: Candidate, assignment: Assignment) -> RateFit:
    budget, rate = assignment.max_hourly_rate, candidate.hourly_rate
    if budget is None or rate is None:
        return RateFit.UNKNOWN
    if rate.currency != budget.currency:
        return RateFit.OTHER_CURRENCY  # no conversion is guessed: staff decide
    return RateFit.WITHIN if rate.amount_minor <= budget.amount_minor else RateFit.ABOVE


def _location_fits(candidate: Candidate, assignment: Assignment) -> bool:
    preference = candidate.remote_preference
    if preference is not None and preference not in assignment.work_modes:
        return False
    works_remotely = RemotePreference.REMOTE in assignment.work_modes and preference in (None, RemotePreference.REMOTE)
    if works_remotely or assignment.country is None or candidate.country is None:
        return True
    return candidate.country == assignment.country


def _level_at_least(level: LanguageLevel | None, minimum: LanguageLevel) -> bool:
    return level is not None and LANGUAGE_LEVELS.index(level) >= LANGUAGE_LEVELS.index(minimum)


def explain(candidate: Candidate, assignment: Assignment) -> MatchReasons:
    matched, missing = _matches(candidate, assignment.required_skills)
    nice, nice_missing = _matches(candidate, assignment.nice_to_have_skills)
    late = max(0, (candidate.available_from - assignment.start_date).days) if candidate.available_from else 0
    return MatchReasons(
        matched_required=tuple(matched),
        missing_required=tuple(missing),
        matched_nice=tuple(nice),
        missing_nice=tuple(nice_missing),
        rate_fit=_rate_fit(candidate, assignment),
        availability_fit=AvailabilityFit.IN_TIME if late == 0 else AvailabilityFit.LATE,
        days_late=late,
        languages_missing=tuple(r.code for r in assignment.languages if not _level_at_least(candidate.language_level(r.code), r.min_level)),
        location_fits=_location_fits(candidate, assignment),
        extent_fits=candidate.share_of_full_time is None or candidate.share_of_full_time >= assignment.share_of_full_time,
    )


# The business adjustment after the engines' fusion: the text relevance counts, and so do how many of the
# required skills are there and a few soft signals. One place, so that every engine ranks alike.
COVERAGE_WEIGHT = 0.1
NICE_WEIGHT = 0.05
SOFT_SIGNAL_WEIGHT = 0.05


def adjusted_score(relevance: float, reasons: MatchReasons) -> float:
    """``relevance`` is the engine's fused score normalised to 0..1 over the run."""
    score = (1 - COVERAGE_WEIGHT) * relevance + COVERAGE_WEIGHT * reasons.required_coverage + NICE_WEIGHT * reasons.nice_coverage
    if reasons.rate_fit is RateFit.WITHIN:
        score += SOFT_SIGNAL_WEIGHT
    if reasons.extent_fits:
        score += SOFT_SIGNAL_WEIGHT
    return score
