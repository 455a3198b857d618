"""Hybrid fusion (min-max per list, weighted arithmetic mean), as OpenSearch's normalization-processor
does it, so that both engines rank alike."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.matching.fusion import HYBRID_WEIGHTS, LEXICAL_WEIGHT, MIN_NORMALISED, VECTOR_WEIGHT, fuse, min_max

IDS = st.sampled_from([f"u{n}" for n in range(12)])
SCORE = st.integers(-500, 500).map(lambda n: n / 10)  # BM25 scores and cosines alike, without float dust
RESULTS = st.dictionaries(IDS, SCORE, max_size=12).map(lambda d: list(d.items()))


def test_the_weights_are_the_pipelines_and_make_a_mean() -> None:
    """The OpenSearch pipeline takes HYBRID_WEIGHTS in sub-query order; summing to 1 keeps scores in 0..1."""
    assert HYBRID_WEIGHTS == (LEXICAL_WEIGHT, VECTOR_WEIGHT) == (0.7, 0.3)
    assert sum(HYBRID_WEIGHTS) == pytest.approx(1.0)


def test_min_max_as_opensearch_computes_it() -> None:
    assert min_max([("a", 10.0), ("b", 5.0), ("c", 0.0)]) == {"a": 1.0, "b": 0.5, "c": MIN_NORMALISED}
    assert min_max([("a", 3.0)]) == {"a": 1.0}  # one hit (or all equal): 1, not a division by zero
    assert min_max([("a", 2.0), ("b", 2.0)]) == {"a": 1.0, "b": 1.0}
    assert min_max([]) == {}


def test_a_worked_example() -> None:
    lexical = [("text-and-vector", 12.0), ("text-only", 9.0), ("weak-text", 3.0)]
    vector = [("vector-only", 0.9), ("text-and-vector", 0.8), ("weak-text", 0.1)]
    fused = dict(fuse(lexical, vector))
    assert fused["text-and-vector"] == pytest.approx(0.7 * 1.0 + 0.3 * 0.875)
    assert fused["text-only"] == pytest.approx(0.7 * (6 / 9))  # 0 from the side that did not find it
    assert fused["vector-only"] == pytest.approx(0.3)
    assert fused["weak-text"] == pytest.approx(0.7 * MIN_NORMALISED + 0.3 * MIN_NORMALISED)
    assert [key for key, _ in fuse(lexical, vector)] == ["text-and-vector", "text-only", "vector-only", "weak-text"]


@given(RESULTS, RESULTS)
def test_every_candidate_once_with_a_score_in_0_to_1_best_first(lexical: list[tuple[str, float]], vector: list[tuple[str, float]]) -> None:
    fused = fuse(lexical, vector)
    assert sorted(key for key, _ in fused) == sorted({key for key, _ in [*lexical, *vector]})
    assert all(0.0 <= score <= 1.0 for _, score in fused)
    assert [score for _, score in fused] == sorted((score for _, score in fused), reverse=True)


@given(RESULTS, RESULTS, IDS)
def test_a_candidate_best_on_both_sides_comes_first(lexical: list[tuple[str, float]], vector: list[tuple[str, float]], best: str) -> None:
    lexical = [(k, s) for k, s in lexical if k != best] + [(best, max((s for _, s in lexical), default=0.0) + 1.0)]
    vector = [(k, s) for k, s in vector if k != best] + [(best, max((s for _, s in vector), default=0.0) + 1.0)]
    fused = fuse(lexical, vector)
    assert fused[0] == (best, pytest.approx(1.0))


@given(RESULTS, RESULTS)
def test_the_weights_are_respected(lexical: list[tuple[str, float]], vector: list[tuple[str, float]]) -> None:
    """Found by one side only, at its top: exactly that side's weight. So the text's best, unseen by the
    vectors, comes before the vectors' best, unseen by the text."""
    lexical = [*lexical, ("text-top", max((s for _, s in lexical), default=0.0) + 1.0)]
    vector = [*vector, ("vector-top", max((s for _, s in vector), default=0.0) + 1.0)]
    fused = fuse(lexical, vector)
    assert dict(fused)["text-top"] == pytest.approx(LEXICAL_WEIGHT)
    assert dict(fused)["vector-top"] == pytest.approx(VECTOR_WEIGHT)
    order = [key for key, _ in fused]
    assert order.index("text-top") < order.index("vector-top")


@given(RESULTS, RESULTS, st.floats(0.5, 20), st.floats(-100, 100))
def test_only_the_relative_gaps_within_each_list_matter(
    lexical: list[tuple[str, float]], vector: list[tuple[str, float]], scale: float, shift: float
) -> None:
    """Min-max makes BM25's unbounded scores and cosine similarities comparable: rescaling a list changes
    no fused score."""
    fused = dict(fuse(lexical, vector))
    rescaled = dict(fuse([(key, score * scale + shift) for key, score in lexical], vector))
    assert rescaled.keys() == fused.keys()
    assert all(rescaled[key] == pytest.approx(fused[key], abs=1e-9) for key in fused)


@given(RESULTS)
def test_with_one_side_empty_the_other_sides_order_stands(lexical: list[tuple[str, float]]) -> None:
    by_score = sorted(lexical, key=lambda p: (-p[1], p[0]))
    assert [k for k, _ in fuse(lexical, [])] == [k for k, _ in by_score]
    assert [k for k, _ in fuse([], lexical)] == [k for k, _ in by_score]
