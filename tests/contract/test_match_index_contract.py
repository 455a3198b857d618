"""The MatchIndex contract, one suite for every engine: the embedded index always, OpenSearch whenever
OPENSEARCH_URL names a cluster (each run in an alias of its own, deleted afterwards). Both must find,
replace, remove, filter and rebuild alike, and rank the same small corpus in the same order through the
shared ranking.

    OPENSEARCH_URL=https://admin:<password>@localhost:9200 OPENSEARCH_VERIFY_CERTS=false \\
        .venv/bin/python -m pytest tests/contract
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from chalicelib.domain.assignments import LanguageRequirement
from chalicelib.domain.money import HourlyRate
from chalicelib.domain.profiles import LanguageLevel, RemotePreference
from chalicelib.matching.index import MatchIndex, text_query
from chalicelib.matching.ranking import rank
from tests.unit.test_matching_candidates import START, assignment
from tests.unit.test_opensearch_index import K8S, TF, candidate

AWS, GO, JAVA = ("aws", "AWS"), ("go", "Go"), ("java", "Java")


def _embedded() -> Iterator[MatchIndex]:
    from chalicelib.adapters.search.embedded import EmbeddedMatchIndex

    yield EmbeddedMatchIndex()


def _opensearch() -> Iterator[MatchIndex]:
    url = os.environ.get("OPENSEARCH_URL")
    if not url:
        pytest.skip("OPENSEARCH_URL is not set: the OpenSearch side of the contract needs a real cluster (see the README)")
    from chalicelib.adapters.search.opensearch import OpenSearchMatchIndex, opensearch_client

    client = opensearch_client(
        url,
        region=os.environ.get("OPENSEARCH_REGION") or os.environ.get("AWS_REGION", "eu-north-1"),
        service=os.environ.get("OPENSEARCH_SERVICE", "es"),
        verify_certs=os.environ.get("OPENSEARCH_VERIFY_CERTS", "true").lower() != "false",
    )
    index = OpenSearchMatchIndex(client, f"contract-{uuid.uuid4().hex[:12]}", refresh="wait_for")
    index.setup()
    try:
        yield index
    finally:
        for name in client.indices.get_alias(index=f"{index.alias}-v*"):  # by name: wildcard deletes may be refused
            client.indices.delete(index=name, params={"ignore_unavailable": "true"})


@pytest.fixture(params=["embedded", "opensearch"])
def engine(request: pytest.FixtureRequest) -> Iterator[MatchIndex]:
    yield from {"embedded": _embedded, "opensearch": _opensearch}[request.param]()


def found(index: MatchIndex, **change: object) -> list[str]:
    return [h.candidate.user_id for h in index.search(text_query(assignment(**change)), 50)]


def test_an_upserted_candidate_is_found_whole(engine: MatchIndex) -> None:
    engine.upsert(candidate("u", [K8S], "Platform engineer"))
    [hit] = engine.search(text_query(assignment()), 10)
    assert hit.candidate == candidate("u", [K8S], "Platform engineer") and hit.relevance > 0


def test_an_upsert_replaces_what_was_indexed(engine: MatchIndex) -> None:
    engine.upsert(candidate("u", [JAVA], "Java developer"))
    assert found(engine) == []
    engine.upsert(candidate("u", [K8S]))
    assert found(engine) == ["u"]


def test_deleting_is_idempotent(engine: MatchIndex) -> None:
    engine.upsert(candidate("u", [K8S]))
    engine.delete("u")
    engine.delete("u")
    engine.delete("never-indexed")
    assert found(engine) == []


def test_each_hard_constraint_filters(engine: MatchIndex) -> None:
    late = START + timedelta(days=3)
    pool = [
        candidate("fits", [K8S]),
        candidate("no-rate", [K8S], hourly_rate=None),
        candidate("above-budget", [K8S], hourly_rate=HourlyRate(130000, "SEK")),
        candidate("other-currency", [K8S], hourly_rate=HourlyRate(9000, "EUR")),
        candidate("late", [K8S], available_from=late),
        candidate("swedish-b1", [K8S], languages=(("sv", LanguageLevel.B1),)),
        candidate("remote-only", [K8S], remote_preference=RemotePreference.REMOTE),
        candidate("in-norway", [K8S], country="NO"),
        candidate("in-norway-remote", [K8S], country="NO", remote_preference=RemotePreference.REMOTE),
    ]
    for c in pool:
        engine.upsert(c)
    assert set(found(engine)) == {"fits", "no-rate"}
    remote_ok = {"work_modes": [RemotePreference.HYBRID, RemotePreference.REMOTE]}
    assert set(found(engine, **remote_ok)) == {"fits", "no-rate", "remote-only", "in-norway-remote"}
    assert set(found(engine, languages=[LanguageRequirement("sv", LanguageLevel.B1)])) == {"fits", "no-rate", "swedish-b1"}
    assert set(found(engine, start_date=late)) == {"fits", "no-rate", "late"}
    assert set(found(engine, max_hourly_rate=None)) == {"fits", "no-rate", "above-budget", "other-currency"}
    assert set(found(engine, country=None)) == {"fits", "no-rate", "in-norway"}


def test_query_syntax_in_an_assignment_is_only_words(engine: MatchIndex) -> None:
    engine.upsert(candidate("u", [K8S], "Platform engineer"))
    assert found(engine, title='title:"x" AND (NOT', description="k8s^100 -engineer ~ [a TO z] {!} /re/ \\") == ["u"]


CORPUS = [
    candidate("all", [K8S, TF, AWS, GO], "Platform engineer"),
    candidate("two", [K8S, TF], "Platform engineer"),
    candidate("one", [AWS], "Backend developer"),
    dataclasses.replace(candidate("words", [], "Platform engineer"), summary="Runs Kubernetes clusters with Terraform on AWS"),
    candidate("none", [JAVA], "Java developer"),
    candidate("pricey", [K8S, TF, AWS], "Platform engineer", hourly_rate=HourlyRate(999999, "SEK")),
]


def test_the_same_corpus_ranks_in_the_same_order(engine: MatchIndex) -> None:
    engine.rebuild((c, None) for c in CORPUS)
    ranked = rank(engine, assignment())
    assert [r.candidate.user_id for r in ranked] == ["all", "two", "one", "words"]
    assert ranked[0].relevance == 1.0 and ranked[0].score > ranked[1].score > ranked[2].score > ranked[3].score


def test_a_rebuild_swaps_the_contents_without_a_moment_of_empty_searches(engine: MatchIndex) -> None:
    engine.upsert(candidate("old", [K8S]))
    engine.upsert(candidate("gone", [K8S]))
    seen_while_loading: list[set[str]] = []

    def entries() -> Iterator[tuple[object, None]]:
        yield candidate("old", [K8S, TF]), None
        seen_while_loading.append(set(found(engine)))
        yield candidate("new", [K8S]), None

    engine.rebuild(entries())  # type: ignore[arg-type]
    assert seen_while_loading == [{"old", "gone"}]
    assert set(found(engine)) == {"old", "new"}
    [old] = [h for h in engine.search(text_query(assignment()), 10) if h.candidate.user_id == "old"]
    assert [s.skill_id for s in old.candidate.skills] == ["kubernetes", "terraform"]
    engine.upsert(candidate("after", [K8S]))  # writes go to the rebuilt index
    engine.delete("new")
    assert set(found(engine)) == {"old", "after"}
