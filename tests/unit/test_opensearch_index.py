"""The OpenSearch match index on the requests it makes: the mapping, the search bodies (filters proved
equal to the shared rules by interpreting them), the hybrid query and its pipeline, the alias swap of a
rebuild, and the client's authentication. Against a stateful fake client (tests/fake_opensearch.py); the
contract suite (tests/contract) runs the same adapter against a real cluster when OPENSEARCH_URL is set."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.search.opensearch import (
    ANALYZER,
    TOMBSTONE,
    OpenSearchMatchIndex,
    filter_clause,
    index_body,
    lexical_query,
    opensearch_client,
    pipeline_body,
    search_body,
    swap_actions,
)
from chalicelib.domain.assignments import LanguageRequirement
from chalicelib.domain.money import HourlyRate
from chalicelib.domain.profiles import LanguageLevel, RemotePreference
from chalicelib.matching import document as doc
from chalicelib.matching.candidates import Candidate, CandidateSkill
from chalicelib.matching.document import document_fields
from chalicelib.matching.filters import filter_values, passes
from chalicelib.matching.fusion import vector_k
from chalicelib.matching.index import TextQuery, text_query
from tests.fake_opensearch import FakeOpenSearch, evaluate
from tests.strategies import assignments, candidates
from tests.unit.test_matching_candidates import RESUME, assignment, candidate_from, profile

ROOT = Path(__file__).resolve().parents[2]


def candidate(user_id: str, skills: list[tuple[str | None, str]], title: str = "Consultant", **change: object) -> Candidate:
    base = candidate_from(dataclasses.replace(profile(), user_id=user_id, title=title), RESUME)
    return dataclasses.replace(base, skills=tuple(CandidateSkill(i, n, 4, 3) for i, n in skills), summary="", experience="", **change)  # type: ignore[arg-type]


K8S, TF = ("kubernetes", "Kubernetes"), ("terraform", "Terraform")


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


def adapter(client: FakeOpenSearch, **options: object) -> OpenSearchMatchIndex:
    return OpenSearchMatchIndex(client, "consultants", now=Clock(), **options)  # type: ignore[arg-type]


# --- the mapping ---


def test_the_mapping_has_every_document_field_with_its_type_and_vectors_only_when_on() -> None:
    body = index_body(0)
    properties = body["mappings"]["properties"]
    assert body["mappings"]["dynamic"] == "strict"
    assert set(properties) == set(document_fields(candidate("u", [K8S]))) | {TOMBSTONE}
    assert all(properties[f] == {"type": "text", "analyzer": ANALYZER} for f in (doc.TITLE, doc.SKILL_TEXT, doc.BODY))
    assert properties[doc.SKILLS] == {"type": "keyword", "norms": True, "index_options": "freqs"}
    assert all(properties[f] == {"type": "keyword"} for f in doc.KEYWORD_FILTER_FIELDS)
    assert all(properties[f] == {"type": "integer"} for f in doc.INTEGER_FILTER_FIELDS)
    assert properties[doc.CANDIDATE] == {"type": "object", "enabled": False}
    analysis = body["settings"]["analysis"]
    assert analysis["analyzer"][ANALYZER]["filter"] == ["under_40", "lowercase", "english_snowball"]
    assert analysis["filter"]["english_snowball"] == {"type": "snowball", "language": "English"}
    assert body["settings"]["index"] == {"number_of_shards": 1}
    assert "knn" not in body["settings"]["index"] and doc.VECTOR not in properties

    with_vectors = index_body(384, loading=True)
    assert with_vectors["settings"]["index"] == {"number_of_shards": 1, "knn": True, "refresh_interval": "-1"}
    assert with_vectors["mappings"]["properties"][doc.VECTOR] == {
        "type": "knn_vector",
        "dimension": 384,
        "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
    }


# --- filters and search bodies ---


@settings(max_examples=300, deadline=None)
@given(candidates(), assignments())
def test_the_filter_passes_exactly_the_candidates_the_shared_rules_pass(who: Candidate, wanted: object) -> None:
    filters = text_query(wanted).filters  # type: ignore[arg-type]
    assert evaluate(filter_clause(filters), document_fields(who)) == passes(filter_values(who), filters)


def test_the_filter_clause_by_clause() -> None:
    wanted = assignment(
        max_hourly_rate=HourlyRate(120000, "SEK"),
        languages=[LanguageRequirement("sv", LanguageLevel.C1)],
        work_modes=[RemotePreference.HYBRID, RemotePreference.REMOTE],
        country="SE",
    )
    filters = text_query(wanted).filters
    assert filter_clause(filters) == {
        "bool": {
            "filter": [
                {"range": {"available_from_day": {"lte": filters.available_by_day}}},
                {"terms": {"remote_preference": ["-", "hybrid", "remote"]}},
                {"term": {"languages": "sv>=C1"}},
                {
                    "bool": {
                        "should": [
                            {"term": {"rate_currency": "-"}},
                            {"bool": {"filter": [{"term": {"rate_currency": "SEK"}}, {"range": {"rate_minor": {"lte": 120000}}}]}},
                        ],
                        "minimum_should_match": 1,
                    }
                },
                {
                    "bool": {
                        "should": [{"terms": {"country": ["-", "SE"]}}, {"terms": {"remote_preference": ["-", "remote"]}}],
                        "minimum_should_match": 1,
                    }
                },
            ]
        }
    }


def test_the_lexical_query_scores_each_wanted_skill_once_then_title_and_description() -> None:
    query = text_query(assignment(title='title:"x" AND (NOT', description="k8s^100 -engineer"))
    lexical = lexical_query(query)
    assert lexical is not None
    should = lexical["bool"]["should"]
    same = doc.SAME_SKILL_BOOST
    # Each wanted skill: the best of its key, written alike (core and runs of its words), or its words.
    assert should[0] == {
        "dis_max": {
            "queries": [
                {"term": {"skills": {"value": "kubernetes", "boost": same}}},
                {"term": {"skill_parts": {"value": "kubernetes", "boost": same}}},
                {"term": {"skill_cores": {"value": "kubernetes", "boost": same}}},
                {"match": {"skill_text": {"query": "kubernetes", "boost": doc.SKILL_WORDS_BOOST}}},
            ],
            "boost": doc.REQUIRED_WEIGHT,
        }
    }
    deployer = should[4]["dis_max"]
    assert deployer["boost"] == doc.NICE_WEIGHT and deployer["queries"][0] == {
        "term": {"skills": {"value": "text:our in-house deployer", "boost": same}}
    }
    cores = [q["term"]["skill_cores"]["value"] for q in deployer["queries"] if "skill_cores" in q.get("term", {})]
    assert "in house deployer" in cores and "deployer" in cores and "our in house deployer" in cores
    assert len(should) == 7 and should[5:] == [
        {"match": {"title": {"query": "title x AND NOT", "boost": doc.TITLE_BOOST}}},
        {"match": {"body": {"query": "k8s 100 engineer", "boost": doc.DESCRIPTION_BOOST}}},
    ]
    assert lexical["bool"]["minimum_should_match"] == 1 and lexical["bool"]["filter"] == [filter_clause(query.filters)]
    nothing = dataclasses.replace(query, required=(), nice=(), title=" ^ ( ", description="")
    assert lexical_query(nothing) is None and search_body(nothing, 10, 0) is None


def test_a_query_with_a_vector_is_hybrid_only_when_the_index_keeps_vectors() -> None:
    query = dataclasses.replace(text_query(assignment()), vector=(0.1, 0.2, 0.3))
    lexical_only = search_body(query, 50, 0)
    assert lexical_only == {"size": 50, "query": lexical_query(query), "_source": ["candidate"], "track_total_hits": False}
    hybrid = search_body(query, 50, 3)
    assert hybrid is not None
    assert hybrid["query"] == {
        "hybrid": {
            "queries": [
                lexical_query(query),
                {"knn": {"embedding": {"vector": [0.1, 0.2, 0.3], "k": vector_k(50), "filter": filter_clause(query.filters)}}},
            ]
        }
    }
    vector_only = search_body(dataclasses.replace(query, required=(), nice=(), title="", description=""), 50, 3)
    assert vector_only is not None and set(vector_only["query"]) == {"knn"}


def test_the_pipeline_normalises_min_max_and_weighs_lexical_then_vector() -> None:
    [processor] = pipeline_body()["phase_results_processors"]
    assert processor == {
        "normalization-processor": {
            "normalization": {"technique": "min_max"},
            "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.7, 0.3]}},
        }
    }


def test_a_hybrid_search_names_the_pipeline_created_at_setup() -> None:
    client = FakeOpenSearch()
    index = adapter(client, vector_dimension=3)
    index.upsert(candidate("u", [K8S]), vector=[1.0, 0.0, 0.0])
    assert client.pipelines == {"consultants-hybrid": pipeline_body()}
    assert client.indices_state[f"consultants-v{doc.LAYOUT_VERSION}-initial"].docs["u"][doc.VECTOR] == [1.0, 0.0, 0.0]
    query = dataclasses.replace(text_query(assignment()), vector=(1.0, 0.0, 0.0))
    assert [h.candidate.user_id for h in index.search(query, 10)] == ["u"]
    assert client.calls_to("search")[-1]["params"] == {"search_pipeline": "consultants-hybrid"}
    index.search(text_query(assignment()), 10)
    assert client.calls_to("search")[-1]["params"] == {}


# --- the adapter's writes, searches and rebuilds ---


def test_upsert_replace_delete_and_search() -> None:
    client = FakeOpenSearch()
    index = adapter(client)
    assert index.search(text_query(assignment()), 10) == []  # nothing indexed yet: no index at all
    index.upsert(candidate("u", [("java", "Java")]))
    [initial] = client.calls_to("indices.create")
    assert initial["index"] == f"consultants-v{doc.LAYOUT_VERSION}-initial" and initial["body"]["aliases"] == {
        "consultants": {},
        "consultants-write": {},
    }
    assert index.search(text_query(assignment()), 10) == []
    index.upsert(candidate("u", [K8S]))
    [hit] = index.search(text_query(assignment()), 10)
    assert hit.candidate == candidate("u", [K8S]) and hit.relevance > 0
    index.delete("u")
    index.delete("u")  # idempotent: the 404 of an absent document is no failure
    assert index.search(text_query(assignment()), 10) == []
    assert len(client.calls_to("indices.create")) == 1
    assert all(call["params"] == {} for call in client.calls_to("bulk"))  # no refresh per write
    adapter(client, refresh="wait_for").upsert(candidate("v", [K8S]))
    assert client.calls_to("bulk")[-1]["params"] == {"refresh": "wait_for"}


def test_a_write_the_mapping_refuses_fails_loudly() -> None:
    client = FakeOpenSearch()
    index = adapter(client)
    index.setup()
    client.indices_state[f"consultants-v{doc.LAYOUT_VERSION}-initial"].body["mappings"]["properties"].pop(doc.COUNTRY)
    with pytest.raises(RuntimeError, match="refused the write of u"):
        index.upsert(candidate("u", [K8S]))


def test_a_rebuild_loads_a_new_index_and_swaps_the_alias_in_one_request() -> None:
    client = FakeOpenSearch()
    index = adapter(client)
    index.upsert(candidate("old", [K8S]))
    index.rebuild((c, None) for c in [candidate("a", [K8S]), candidate("b", [K8S, TF])])
    new = f"consultants-v{doc.LAYOUT_VERSION}-20261127-120001000000"
    assert set(client.indices_state) == {new}
    assert client.indices_state[new].aliases == {"consultants", "consultants-write"}
    assert client.calls_to("indices.create")[-1]["body"]["settings"]["index"]["refresh_interval"] == "-1"
    assert client.indices_state[new].settings_updates == [{"index": {"refresh_interval": None}}]
    assert client.indices_state[new].refreshed == 1
    first, swap = client.calls_to("indices.update_aliases")
    assert first["body"] == {"actions": [{"add": {"index": new, "alias": "consultants-write"}}]}
    assert swap["body"] == {
        "actions": [
            {"remove": {"index": f"consultants-v{doc.LAYOUT_VERSION}-initial", "alias": "consultants"}},
            {"remove": {"index": f"consultants-v{doc.LAYOUT_VERSION}-initial", "alias": "consultants-write"}},
            {"add": {"index": new, "alias": "consultants"}},
        ]
    }
    assert [c["index"] for c in client.calls_to("indices.delete")] == [f"consultants-v{doc.LAYOUT_VERSION}-initial"]
    assert [h.candidate.user_id for h in index.search(text_query(assignment()), 10)] == ["b", "a"]


def test_swap_actions_drop_every_old_index_from_both_aliases() -> None:
    assert swap_actions("c", "c-write", "c-v1-3", ["c-v1-2", "c-v1-3", "c-v1-1"]) == [
        {"remove": {"index": "c-v1-1", "alias": "c"}},
        {"remove": {"index": "c-v1-1", "alias": "c-write"}},
        {"remove": {"index": "c-v1-2", "alias": "c"}},
        {"remove": {"index": "c-v1-2", "alias": "c-write"}},
        {"add": {"index": "c-v1-3", "alias": "c"}},
    ]


def test_stream_writes_during_a_rebuild_reach_the_new_index_and_are_not_overwritten_by_the_load() -> None:
    client = FakeOpenSearch()
    rebuilder, stream = adapter(client), adapter(client)
    stream.upsert(candidate("changed", [("java", "Java")]))
    stream.upsert(candidate("removed", [K8S]))
    searcher_saw: list[list[str]] = []

    def while_loading() -> None:  # the stream, between the rebuild's reads of the table and its bulk load
        client.before_bulk.clear()
        stream.upsert(candidate("changed", [K8S, TF]))  # newer than what the rebuild read
        stream.delete("removed")  # a withdrawal after the rebuild read them
        searcher_saw.append([h.candidate.user_id for h in stream.search(text_query(assignment()), 10)])

    client.before_bulk.append(while_loading)
    stale = [candidate("changed", [("java", "Java")]), candidate("removed", [K8S]), candidate("other", [K8S])]
    rebuilder.rebuild((c, None) for c in stale)
    assert searcher_saw == [["changed"]]  # searches went on answering from the live index meanwhile
    found = {h.candidate.user_id: h.candidate for h in rebuilder.search(text_query(assignment()), 10)}
    assert set(found) == {"changed", "other"}
    assert found["changed"].skills == candidate("changed", [K8S, TF]).skills
    [live] = client.indices_state.values()
    assert set(live.docs) == {"changed", "other"}  # the tombstone went once the index was live
    assert not any(d.get(TOMBSTONE) for d in live.docs.values())


def test_a_failed_rebuild_leaves_the_live_index_as_it_was() -> None:
    client = FakeOpenSearch()
    index = adapter(client)
    index.upsert(candidate("live", [K8S]))

    def broken() -> object:
        yield candidate("a", [K8S]), None
        raise OSError("the table read failed")

    with pytest.raises(OSError, match="table read failed"):
        index.rebuild(broken())  # type: ignore[arg-type]
    assert set(client.indices_state) == {f"consultants-v{doc.LAYOUT_VERSION}-initial"}
    assert client.indices_state[f"consultants-v{doc.LAYOUT_VERSION}-initial"].aliases == {"consultants", "consultants-write"}
    assert [h.candidate.user_id for h in index.search(text_query(assignment()), 10)] == ["live"]


def test_an_empty_query_asks_nothing() -> None:
    client = FakeOpenSearch()
    query = TextQuery((), (), "", "", text_query(assignment()).filters)
    assert adapter(client).search(query, 10) == [] and client.calls == []


# --- the client ---


def test_without_a_username_requests_are_signed_with_sigv4_for_the_configured_service_and_region() -> None:
    from botocore.credentials import Credentials
    from opensearchpy import Urllib3AWSV4SignerAuth, Urllib3HttpConnection

    for service in ("es", "aoss"):
        client = opensearch_client(
            "https://search-x.eu-north-1.es.amazonaws.com", region="eu-north-1", service=service, credentials=Credentials("AKID", "secret")
        )
        connection = client.transport.get_connection()
        assert isinstance(connection, Urllib3HttpConnection) and connection.use_ssl
        assert isinstance(connection.http_auth, Urllib3AWSV4SignerAuth)
        headers = connection.http_auth("GET", "https://search-x.eu-north-1.es.amazonaws.com/consultants/_search", b"{}")
        assert (
            headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
            and f"/eu-north-1/{service}/aws4_request" in headers["Authorization"]
        )


def test_with_a_username_it_is_basic_auth_over_https_only() -> None:
    from opensearchpy import Urllib3HttpConnection

    expected = "Basic " + base64.b64encode(b"admin:s3cret:x").decode()
    for client in (
        opensearch_client("https://localhost:9200", region="eu-north-1", username="admin", password="s3cret:x", verify_certs=False),
        opensearch_client("https://admin:s3cret%3Ax@localhost:9200", region="eu-north-1", verify_certs=False),
    ):
        connection = client.transport.get_connection()
        assert isinstance(connection, Urllib3HttpConnection) and connection.host == "https://localhost:9200"
        assert connection.headers["authorization"] == expected
    with pytest.raises(ValueError, match="https"):
        opensearch_client("http://admin:pw@localhost:9200", region="eu-north-1")
    plain = opensearch_client("http://localhost:9200", region="eu-north-1").transport.get_connection()
    assert plain.http_auth is None and "authorization" not in plain.headers
    with pytest.raises(ValueError, match="http"):
        opensearch_client("localhost:9200", region="eu-north-1")


def test_the_container_builds_the_opensearch_index_from_the_settings() -> None:
    from chalicelib.container import Container
    from chalicelib.settings import Settings

    settings = Settings.from_environment(
        {
            "SEARCH_ENGINE": "opensearch",
            "OPENSEARCH_URL": "https://localhost:9200",
            "OPENSEARCH_USERNAME": "admin",
            "OPENSEARCH_PASSWORD": "pw",
            "OPENSEARCH_VERIFY_CERTS": "false",
            "OPENSEARCH_ALIAS": "people",
            "EMBEDDER": "bedrock",
            "EMBEDDING_DIMENSION": "512",
        }
    )
    index = Container(settings).match_index
    assert index.vector_dimension == 512  # the embedder's: the knn_vector field takes what it makes
    assert isinstance(index, OpenSearchMatchIndex) and (index.alias, index.write_alias, index.pipeline) == (
        "people",
        "people-write",
        "people-hybrid",
    )


def test_importing_the_api_does_not_import_opensearchpy() -> None:
    code = "import sys, app; print('opensearchpy' in sys.modules, 'chalicelib.adapters.search.opensearch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_the_fake_searches_filter_as_the_shared_rules_say(data: st.DataObject) -> None:
    """The adapter end to end on the fake: the filter it sends, evaluated, is the shared one."""
    pool = [data.draw(candidates(user_id=f"u{n}")) for n in range(8)]
    client = FakeOpenSearch()
    index = adapter(client)
    index.rebuild((c, None) for c in pool)
    query = text_query(data.draw(assignments()))
    found = {h.candidate.user_id for h in index.search(query, 50)}
    assert found == {c.user_id for c in pool if passes(filter_values(c), query.filters)}
