"""Ranking an assignment's candidates: retrieve from any engine, drop those failing a hard constraint,
adjust, explain. The same for every engine, so that they rank alike on the same input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from chalicelib.domain.assignments import Assignment
from chalicelib.matching.candidates import Candidate, MatchReasons, adjusted_score, explain
from chalicelib.matching.index import MatchIndex, text_query

# How many the engine retrieves, all passing the hard constraints (the engine filters), before the
# adjustment re-orders them: the adjustment moves a candidate by a fraction of the best relevance, so the
# best 100 by relevance hold the best by score, and a run shows at most that many (a shortlist, not a
# directory); more would cost time on every run (explaining a hit is Python: bench/matching.py).
RETRIEVE = 100
# Clients' ratings as a soft signal: only from MIN_REVIEWS reviews on (a newcomer is neither helped nor
# hurt), and at most RATING_WEIGHT either way (5 stars: +5 %, 1 star: -5 %), so fit stays what ranks.
MIN_REVIEWS = 3
RATING_WEIGHT = 0.05


@dataclass(frozen=True)
class RankedCandidate:
    candidate: Candidate
    score: float  # after the adjustment; comparable within one run
    relevance: float  # the engine's text score, normalised to 0..1 over the run
    reasons: MatchReasons


def rating_factor(count: int, average: float | None) -> float:
    """The score's multiplier for a consultant rated ``average`` (1-5) in ``count`` clients' reviews."""
    if count < MIN_REVIEWS or average is None:
        return 1.0
    return 1.0 + RATING_WEIGHT * (min(max(average, 1.0), 5.0) - 3.0) / 2.0


def with_ratings(ranked: Sequence[RankedCandidate], ratings: Mapping[str, tuple[int, float | None]]) -> list[RankedCandidate]:
    """``ranked`` with each score weighed by the consultant's rating (``ratings`` by user id), in order again."""
    weighed = [replace(r, score=r.score * rating_factor(*ratings.get(r.candidate.user_id, (0, None)))) for r in ranked]
    return sorted(weighed, key=lambda r: (-r.score, r.candidate.user_id))


def rank(index: MatchIndex, assignment: Assignment, vector: Sequence[float] | None = None) -> list[RankedCandidate]:
    """``vector``: the assignment embedded (chalicelib/matching/embeddings.py), when an embedder is on."""
    query = text_query(assignment)
    hits = index.search(replace(query, vector=tuple(vector)) if vector is not None else query, RETRIEVE)
    best = max((hit.relevance for hit in hits), default=0.0) or 1.0
    ranked = []
    for hit in hits:
        reasons = explain(hit.candidate, assignment)
        if reasons.passes_hard_constraints:
            relevance = hit.relevance / best
            ranked.append(RankedCandidate(hit.candidate, adjusted_score(relevance, reasons), relevance, reasons))
    # Ties broken by id, so that a run is repeatable.
    return sorted(ranked, key=lambda r: (-r.score, r.candidate.user_id))
