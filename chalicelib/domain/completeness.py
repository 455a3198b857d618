"""How complete a consultant's profile and resume are, and what is missing: the consultant's to-do list.

Weights favour what matching and proposals use most (experience, skills, rate, availability). The
optional parts (awards, certificates) add nothing when absent, so nobody is told to invent them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain.profiles import Profile
from chalicelib.domain.resume import ResumeItem, ResumePart

MIN_SKILLS = 5


@dataclass(frozen=True)
class Requirement:
    key: str
    label: str
    weight: int
    met: Callable[[Profile | None, dict[ResumePart, int]], bool]


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("title", "Add a professional title", 10, lambda p, _: bool(p and p.title)),
    Requirement("summary", "Write a short summary", 10, lambda p, _: bool(p and p.summary)),
    Requirement("location", "Say where you are (city and country)", 5, lambda p, _: bool(p and p.city and p.country)),
    Requirement("remote_preference", "Say whether you work on site, hybrid or remote", 5, lambda p, _: bool(p and p.remote_preference)),
    Requirement("languages", "List the languages you work in", 5, lambda p, _: bool(p and p.languages)),
    Requirement("availability", "Say from when and how much you are available", 10, lambda p, _: bool(p and p.availability)),
    Requirement("expected_hourly_rate", "Name your expected hourly rate", 10, lambda p, _: bool(p and p.expected_hourly_rate)),
    Requirement("letter", "Write your personal letter", 10, lambda _, n: n[ResumePart.LETTER] > 0),
    Requirement("experience", "Add your experience", 15, lambda _, n: n[ResumePart.EXPERIENCE] > 0),
    Requirement("education", "Add your education", 5, lambda _, n: n[ResumePart.EDUCATION] > 0),
    Requirement("skills", f"List at least {MIN_SKILLS} skills", 10, lambda _, n: n[ResumePart.SKILLS] >= MIN_SKILLS),
    Requirement("portfolio", "Show a piece of work in your portfolio", 5, lambda _, n: n[ResumePart.PORTFOLIO] > 0),
)
assert sum(r.weight for r in REQUIREMENTS) == 100


@dataclass(frozen=True)
class Completeness:
    score: int  # 0-100
    missing: list[Requirement]


def completeness(profile: Profile | None, items: list[ResumeItem]) -> Completeness:
    counts = {part: sum(1 for i in items if i.part is part) for part in ResumePart}
    missing = [r for r in REQUIREMENTS if not r.met(profile, counts)]
    return Completeness(100 - sum(r.weight for r in missing), missing)
