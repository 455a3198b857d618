"""The MatchIndex port: where candidates are kept for retrieval, and the text query an assignment makes.

Engines (the embedded tantivy index locally, OpenSearch in production) only retrieve and score text;
filters, reasons and the business adjustment are shared (chalicelib/matching/candidates.py, ranking.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.domain.assignments import Assignment
from chalicelib.matching.candidates import Candidate, WantedSkill, wanted_skill
from chalicelib.matching.filters import MatchFilters, filters_for


@dataclass(frozen=True)
class TextQuery:
    required: tuple[WantedSkill, ...]
    nice: tuple[WantedSkill, ...]
    title: str
    description: str
    filters: MatchFilters  # the hard constraints, applied by the engine while retrieving
    vector: tuple[float, ...] | None = field(default=None, compare=False)  # the assignment embedded, when an embedder is on


def text_query(assignment: Assignment) -> TextQuery:
    return TextQuery(
        required=tuple(wanted_skill(s.skill_id, s.name) for s in assignment.required_skills),
        nice=tuple(wanted_skill(s.skill_id, s.name) for s in assignment.nice_to_have_skills),
        title=assignment.title,
        description=assignment.description,
        filters=filters_for(assignment),
    )


@dataclass(frozen=True)
class Hit:
    candidate: Candidate
    relevance: float  # the engine's own score; comparable only within one search


Indexed = tuple[Candidate, Sequence[float] | None]
"""A candidate and, when an embedder is on, the candidate embedded: what a full rebuild is fed."""


class MatchIndex(Protocol):
    def upsert(self, candidate: Candidate, vector: Sequence[float] | None = None) -> None:
        """Adds the candidate, or replaces what was indexed for the same consultant. ``vector`` is the
        candidate embedded, when an embedder is on."""

    def delete(self, user_id: str) -> None:
        """Removes the consultant; nothing happens when they are not indexed."""

    def search(self, query: TextQuery, limit: int) -> list[Hit]:
        """The best ``limit`` candidates passing the query's filters, for its text and skills (and vector,
        when both sides have one), best first."""

    def rebuild(self, entries: Iterable[Indexed]) -> None:
        """Replaces everything indexed by ``entries`` (a full reindex, e.g. after a change of the taxonomy or
        of the index layout). Searches keep answering from the previous contents until the new ones are
        complete, then see them all at once."""


class NoMatchIndex:
    """Search switched off (``SEARCH_ENGINE=none``): nothing is kept and nothing is found. Where no engine
    is deployed yet, so that indexing events are acknowledged instead of failing the stream."""

    def upsert(self, candidate: Candidate, vector: Sequence[float] | None = None) -> None:
        return None

    def delete(self, user_id: str) -> None:
        return None

    def search(self, query: TextQuery, limit: int) -> list[Hit]:
        return []

    def rebuild(self, entries: Iterable[Indexed]) -> None:
        return None  # ``entries`` is not even read: with nothing kept, the tables need not be either
