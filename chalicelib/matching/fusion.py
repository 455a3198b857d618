"""Hybrid fusion: one lexical and one vector result list into one relevance, the same in every engine.

OpenSearch fuses inside a search pipeline (``normalization-processor``: ``min_max`` normalisation,
``arithmetic_mean`` combination with ``HYBRID_WEIGHTS``, the hybrid query's sub-queries in the order
lexical, vector); the embedded engine calls ``fuse`` with its two lists. Both follow what OpenSearch's
neural-search plugin does, so the engines rank alike:

* each list is min-max normalised on its own; the lowest score becomes ``MIN_NORMALISED`` rather than 0,
  so being found by a side counts a little more than not being found by it; a list whose scores are all
  equal (one hit, say) normalises to 1;
* a candidate found by one side only gets 0 from the other, whose weight still counts, so the result is
  ``LEXICAL_WEIGHT * lexical + VECTOR_WEIGHT * vector`` (the weights sum to 1): always within 0..1.

Pure Python, no numpy: the OpenSearch adapter imports the constants in production.
"""

from __future__ import annotations

from collections.abc import Sequence

# Text and skills lead; vectors add what words miss (DESIGN.md: hybrid min-max 0.7/0.3 was the best fusion
# measured on the benchmark, reciprocal rank fusion clearly worse).
LEXICAL_WEIGHT = 0.7
VECTOR_WEIGHT = 0.3
HYBRID_WEIGHTS = (LEXICAL_WEIGHT, VECTOR_WEIGHT)  # the pipeline's "weights", in sub-query order
NORMALIZATION = "min_max"
COMBINATION = "arithmetic_mean"
MIN_NORMALISED = 0.001  # OpenSearch's min_max floor for the lowest score of a list
# How many nearest neighbours the vector side contributes at most (the k of a knn query): every candidate
# has *some* nearest neighbours, so without a bound the vector side would bring in everyone who passes the
# filters, however unrelated.
VECTOR_K = 100


def min_max(scored: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Each score mapped to MIN_NORMALISED..1 within its list (1 for all when they are equal)."""
    if not scored:
        return {}
    low = min(score for _, score in scored)
    high = max(score for _, score in scored)
    if high == low:
        return {key: 1.0 for key, _ in scored}
    return {key: max((score - low) / (high - low), MIN_NORMALISED) for key, score in scored}


def fuse(lexical: Sequence[tuple[str, float]], vector: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """Every id of either list once, with its fused score, best first. Ties go to the stronger lexical
    side, then to the smaller id, so a run is repeatable. Ids must be unique within each list."""
    by_text, by_vector = min_max(lexical), min_max(vector)
    fused = {key: LEXICAL_WEIGHT * by_text.get(key, 0.0) + VECTOR_WEIGHT * by_vector.get(key, 0.0) for key in [*by_text, *by_vector]}
    return sorted(fused.items(), key=lambda item: (-item[1], -by_text.get(item[0], 0.0), item[0]))


def vector_k(limit: int) -> int:
    """How many the vector side retrieves for a search of ``limit``."""
    return min(limit, VECTOR_K)
