"""Vectors in the embedded engine: the numpy store (exact cosine, filtered, persisted, shared between
processes) and the hybrid search that fuses it with the text, on a deterministic hashing embedder."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.search.embedded import EmbeddedMatchIndex
from chalicelib.adapters.search.vectors import FILE_NAME, VectorStore
from chalicelib.domain.money import HourlyRate
from chalicelib.matching.embeddings import assignment_text, candidate_text
from chalicelib.matching.filters import filter_values, passes
from chalicelib.matching.fusion import LEXICAL_WEIGHT
from chalicelib.matching.index import TextQuery, text_query
from chalicelib.matching.ranking import rank
from tests.fakes import HashingEmbedder
from tests.integration.test_embedded_index import AWS, K8S, TF, candidate
from tests.strategies import assignments, candidates
from tests.unit.test_matching_candidates import assignment

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def everyone(ids: Sequence[str]) -> list[str]:
    return list(ids)


# --- the store ---


def test_nearest_by_cosine_among_those_let_through() -> None:
    store = VectorStore(None, "space")
    store.put({"east": [1.0, 0.0], "north-east": [3.0, 3.0], "north": [0.0, 2.0], "west": [-1.0, 0.0]})
    assert [i for i, _ in store.nearest([1.0, 0.1], 3, everyone)] == ["east", "north-east", "north"]
    [(best, similarity)] = store.nearest([2.0, 2.0], 1, everyone)
    assert best == "north-east" and similarity == pytest.approx(1.0)  # cosine: the length does not count
    asked: list[list[str]] = []

    def not_east(ids: list[str]) -> list[str]:
        asked.append(list(ids))
        return [i for i in ids if i != "east"]

    assert [i for i, _ in store.nearest([1.0, 0.1], 2, not_east)] == ["north-east", "north"]
    assert asked == [["east", "north-east", "north", "west"]]  # one question for the lot, best first
    assert store.nearest([1.0, 0.0], 2, lambda ids: []) == []


def test_a_filter_letting_few_through_costs_a_few_rounds_not_one_per_id() -> None:
    store = VectorStore(None, "space")
    store.put({f"u{n:04}": [1.0, n / 1000] for n in range(1000)})
    rounds: list[int] = []

    def last_only(ids: list[str]) -> list[str]:
        rounds.append(len(ids))
        return [i for i in ids if i == "u0999"]

    assert [i for i, _ in store.nearest([0.0, 1.0], 1, last_only)] == ["u0999"]  # the most similar: the first round
    assert rounds == [32]
    assert [i for i, _ in store.nearest([1.0, 0.0], 1, last_only)] == ["u0999"]  # the least similar: the last round
    assert rounds == [32, 32, 64, 128, 256, 512, 8]  # batches doubling: 6 rounds for 1,000 ids


def test_putting_replaces_and_none_removes() -> None:
    store = VectorStore(None, "space")
    store.put({"a": [1.0, 0.0], "b": [0.0, 1.0]})
    store.put({"a": [0.0, 1.0], "b": None, "never-there": None})
    assert len(store) == 1 and store.nearest([0.0, 1.0], 5, everyone) == [("a", pytest.approx(1.0))]
    with pytest.raises(ValueError, match="one dimension"):
        store.put({"c": [1.0, 0.0, 0.0]})
    with pytest.raises(ValueError, match="dimension"):
        store.nearest([1.0, 0.0, 0.0], 1, everyone)


def test_the_file_is_replaced_whole_and_read_again_only_when_it_changed(tmp_path: Path) -> None:
    writer, reader = VectorStore(tmp_path, "space"), VectorStore(tmp_path, "space")
    writer.put({"a": [1.0, 0.0]})
    assert len(reader) == 1
    loaded = reader._matrix
    assert len(reader) == 1 and reader._matrix is loaded  # unchanged file: not read again
    writer.put({"b": [0.0, 1.0]})
    assert [i for i, _ in reader.nearest([0.0, 1.0], 1, everyone)] == ["b"]
    assert sorted(os.listdir(tmp_path)) == [FILE_NAME]  # no temporary file left behind
    assert VectorStore(tmp_path, "another-model/1024").nearest([0.0, 1.0], 1, everyone) == []  # another space: not comparable


# --- the engine ---


def indexed(directory: Path | None, embedder: HashingEmbedder, *people: object) -> EmbeddedMatchIndex:
    index = EmbeddedMatchIndex(directory, "test")
    index.upsert_many(list(people), [embedder.embed([candidate_text(c)])[0] for c in people])  # type: ignore[arg-type]
    return index


def swedish_platform_engineer() -> object:
    """Shares no skill key and no whole word with the assignment, only word parts (Swedish compounds)."""
    return dataclasses.replace(
        candidate("compound", [("linux", "Linux")], "Plattformsingenjör"),
        summary="Bygger kubernetesplattformar och terraformmoduler i molnet",
    )


def vector_query(embedder: HashingEmbedder) -> TextQuery:
    wanted = assignment()
    return dataclasses.replace(text_query(wanted), vector=embedder.embed([assignment_text(wanted)])[0])


def test_vectors_find_a_candidate_the_words_miss_and_rank_them_by_similarity() -> None:
    embedder = HashingEmbedder()
    accountant = dataclasses.replace(candidate("accountant", [("excel", "Excel")], "Redovisningsekonom"), summary="Bokslut och moms")
    index = indexed(None, embedder, candidate("exact", [K8S, TF, AWS], "Platform engineer"), swedish_platform_engineer(), accountant)

    without = [h.candidate.user_id for h in index.search(text_query(assignment()), 10)]
    assert without == ["exact"]  # the text and skills alone: nothing in common with the other two

    hits = index.search(vector_query(embedder), 10)
    assert [h.candidate.user_id for h in hits] == ["exact", "compound", "accountant"]
    assert hits[0].relevance == pytest.approx(1.0)  # the best on both sides
    assert LEXICAL_WEIGHT > hits[1].relevance > hits[2].relevance > 0  # found by the vectors only

    ranked = rank(index, assignment(), vector_query(embedder).vector)
    assert [r.candidate.user_id for r in ranked] == ["exact", "compound", "accountant"]
    assert ranked[1].reasons.matched_required == ()  # the reasons stay honest: no skill was matched


def test_the_vectors_obey_the_filters() -> None:
    embedder = HashingEmbedder()
    pricey = dataclasses.replace(swedish_platform_engineer(), user_id="pricey", hourly_rate=HourlyRate(999999, "SEK"))  # type: ignore[type-var]
    index = indexed(None, embedder, swedish_platform_engineer(), pricey)
    assert [h.candidate.user_id for h in index.search(vector_query(embedder), 10)] == ["compound"]


def test_without_a_query_vector_the_search_is_the_text_search_it_was() -> None:
    embedder = HashingEmbedder()
    people = [candidate("all", [K8S, TF, AWS], "Platform engineer"), candidate("two", [K8S, TF]), swedish_platform_engineer()]
    plain = EmbeddedMatchIndex()
    plain.upsert_many(people)  # type: ignore[arg-type]
    with_vectors = indexed(None, embedder, *people)
    query = text_query(assignment())
    assert with_vectors.search(query, 10) == plain.search(query, 10)


def test_replacing_without_a_vector_or_removing_drops_the_vector() -> None:
    embedder = HashingEmbedder()
    index = indexed(None, embedder, swedish_platform_engineer())
    assert [h.candidate.user_id for h in index.search(vector_query(embedder), 10)] == ["compound"]
    index.upsert(swedish_platform_engineer())  # type: ignore[arg-type]  # embedding failed this time: no stale vector stays
    assert index.search(vector_query(embedder), 10) == []
    index.upsert(swedish_platform_engineer(), embedder.embed([candidate_text(swedish_platform_engineer())])[0])  # type: ignore[arg-type]
    index.delete("compound")
    assert index.search(vector_query(embedder), 10) == [] and len(index._vectors) == 0


def test_vectors_are_there_after_a_restart(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    indexed(tmp_path / "index", embedder, swedish_platform_engineer())
    reopened = EmbeddedMatchIndex(tmp_path / "index", "test")
    assert [h.candidate.user_id for h in reopened.search(vector_query(embedder), 10)] == ["compound"]
    assert EmbeddedMatchIndex(tmp_path / "index", "another-model/256").search(vector_query(embedder), 10) == []


def test_a_reader_process_sees_the_vectors_a_writer_process_commits(tmp_path: Path) -> None:
    """As locally: the API process searches while the event pump's process indexes."""
    embedder = HashingEmbedder()
    reader = EmbeddedMatchIndex(tmp_path / "index", "test")
    assert reader.search(vector_query(embedder), 10) == []
    writer = textwrap.dedent(
        f"""
        from pathlib import Path
        from chalicelib.adapters.search.embedded import EmbeddedMatchIndex
        from chalicelib.matching.embeddings import candidate_text
        from tests.fakes import HashingEmbedder
        from tests.integration.test_embedded_vectors import swedish_platform_engineer
        person = swedish_platform_engineer()
        EmbeddedMatchIndex(Path({str(tmp_path / "index")!r}), "test").upsert(person, HashingEmbedder().embed([candidate_text(person)])[0])
        """
    )
    subprocess.run([sys.executable, "-c", writer], cwd=PROJECT_ROOT, check=True, timeout=60)
    assert [h.candidate.user_id for h in reader.search(vector_query(embedder), 10)] == ["compound"]


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_with_vectors_the_engine_still_filters_exactly_as_the_shared_rules_say(data: st.DataObject) -> None:
    embedder = HashingEmbedder(dimension=64)
    pool = [data.draw(candidates(user_id=f"u{n}")) for n in range(12)]
    wanted = data.draw(assignments())
    index = indexed(None, embedder, *pool)
    query = dataclasses.replace(text_query(wanted), vector=embedder.embed([assignment_text(wanted)])[0])
    found = [h.candidate.user_id for h in index.search(query, 50)]
    assert len(found) == len(set(found))
    assert set(found) == {c.user_id for c in pool if passes(filter_values(c), query.filters)}
