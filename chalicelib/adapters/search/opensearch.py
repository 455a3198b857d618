"""The OpenSearch match index (production): Amazon OpenSearch Service signed with SigV4, or any cluster
with a URL and basic auth.

The same document, boosts and filter semantics as the embedded engine (chalicelib/matching/document.py,
filters.py), so that both rank alike: text fields use an analyser built like tantivy's ``en_stem``,
skill keys are keywords with norms (BM25 like tantivy's raw-tokenised field), one shard so that term
statistics are those of the whole index. With vectors on (a dimension configured), the index has a
``knn_vector`` field and a query with a vector is a ``hybrid`` query whose two parts a search pipeline's
``normalization-processor`` min-max normalises and averages with the shared weights (domain 2.19+).

Indices are versioned (``<alias>-v<layout>-<time>``) behind two aliases: ``<alias>`` is what searches
read (one index), ``<alias>-write`` is where writes go (the live index, plus the next one while a full
rebuild loads it). A rebuild creates the next index, adds it to the write alias *before* the tables are
read, bulk-loads it with ``create`` (so it never overwrites what the stream wrote meanwhile, which is
newer), swaps the read alias in one ``_aliases`` call and deletes the old index: searches never stop and
stream updates during the rebuild are not lost. A removal during a rebuild leaves a tombstone in the
next index (a bare document that no search finds), so that the bulk load cannot bring back a consultant
it read before they were removed; tombstones are deleted once the index is live.

Writes are not refreshed one by one: the API searches seconds after the stream wrote, well after the
index's periodic refresh (1 s). A rebuild loads with refresh off and refreshes once before the swap.
One rebuild at a time (the CLI's ``reindex-matching``); two at once would each delete the other's index.

``opensearchpy`` is imported only when a client or a bulk load is built: it costs ~100 ms of cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from chalicelib.errors import UpstreamUnavailable
from chalicelib.matching import document as doc
from chalicelib.matching.candidates import Candidate, WantedSkill
from chalicelib.matching.document import document_fields, stored_candidate
from chalicelib.matching.filters import NOT_SAID, MatchFilters
from chalicelib.matching.fusion import HYBRID_WEIGHTS, vector_k
from chalicelib.matching.index import Hit, Indexed, TextQuery

TOMBSTONE = "removed"
ANALYZER = "text_en"
KNN_ENGINE = "lucene"  # efficient filtering during the k-NN search, cosine similarity, on every 2.x domain


def index_body(vector_dimension: int, *, loading: bool = False) -> dict[str, Any]:
    """Settings and mapping of a new index. ``loading``: refresh off, for a bulk load."""
    index: dict[str, Any] = {"number_of_shards": 1}  # a few thousand consultants; one shard keeps BM25 statistics index-wide
    if loading:
        index["refresh_interval"] = "-1"
    if vector_dimension:
        index["knn"] = True
    text = {"type": "text", "analyzer": ANALYZER}
    properties: dict[str, Any] = {
        doc.USER_ID: {"type": "keyword"},
        # Norms and frequencies as tantivy keeps them for its raw-tokenised skill fields, so BM25 agrees.
        **{field: {"type": "keyword", "norms": True, "index_options": "freqs"} for field in doc.KEYWORD_SKILL_FIELDS},
        **{field: text for field in doc.TEXT_FIELDS},
        **{field: {"type": "keyword"} for field in doc.KEYWORD_FILTER_FIELDS},
        **{field: {"type": "integer"} for field in doc.INTEGER_FILTER_FIELDS},
        doc.CANDIDATE: {"type": "object", "enabled": False},  # kept in _source for the hit, never indexed
        TOMBSTONE: {"type": "boolean"},
    }
    if vector_dimension:
        properties[doc.VECTOR] = {
            "type": "knn_vector",
            "dimension": vector_dimension,
            "method": {"name": "hnsw", "engine": KNN_ENGINE, "space_type": "cosinesimil"},
        }
    analysis = {
        # tantivy's en_stem: split at anything not a letter or digit, drop tokens of 40 bytes or more
        # (characters here), lower-case, Snowball English.
        "tokenizer": {"alphanumeric": {"type": "pattern", "pattern": r"[^\p{L}\p{N}]+"}},
        "filter": {
            "under_40": {"type": "length", "max": 39},
            "english_snowball": {"type": "snowball", "language": "English"},
        },
        "analyzer": {ANALYZER: {"type": "custom", "tokenizer": "alphanumeric", "filter": ["under_40", "lowercase", "english_snowball"]}},
    }
    return {
        "settings": {"index": index, "analysis": analysis},
        # strict: a field the shared document gains but this mapping lacks fails loudly instead of being guessed
        "mappings": {"dynamic": "strict", "properties": properties},
    }


def filter_clause(filters: MatchFilters) -> dict[str, Any]:
    """``MatchFilters`` as an OpenSearch filter, clause by clause as its docstring states them (and as the
    embedded engine's ``_filter`` translates them)."""

    def at_most(field: str, value: int) -> dict[str, Any]:
        return {"range": {field: {"lte": value}}}

    def any_of(*clauses: dict[str, Any]) -> dict[str, Any]:
        return {"bool": {"should": list(clauses), "minimum_should_match": 1}}

    clauses: list[dict[str, Any]] = [
        at_most(doc.AVAILABLE_FROM_DAY, filters.available_by_day),
        {"terms": {doc.REMOTE_PREFERENCE: [NOT_SAID, *filters.work_modes]}},
        *({"term": {doc.LANGUAGES: key}} for key in filters.language_keys),
    ]
    if filters.max_rate_minor is not None and filters.rate_currency is not None:
        in_budget = {
            "bool": {"filter": [{"term": {doc.RATE_CURRENCY: filters.rate_currency}}, at_most(doc.RATE_MINOR, filters.max_rate_minor)]}
        }
        clauses.append(any_of({"term": {doc.RATE_CURRENCY: NOT_SAID}}, in_budget))
    if filters.country is not None:
        place = [{"terms": {doc.COUNTRY: [NOT_SAID, filters.country]}}]
        if filters.remote_ok:
            place.append({"terms": {doc.REMOTE_PREFERENCE: [NOT_SAID, "remote"]}})
        clauses.append(any_of(*place))
    return {"bool": {"filter": clauses}}


def lexical_query(query: TextQuery) -> dict[str, Any] | None:
    """The shared query (chalicelib/matching/document.py) among those passing the filters: each wanted
    skill once, by the best of its ways of matching; the title; the description. None when the query has
    nothing to search for."""
    should: list[dict[str, Any]] = [
        {"dis_max": {"queries": _skill_alternatives(wanted), "boost": weight}} for wanted, weight in doc.weighted_skills(query)
    ]
    # match, never query_string: an assignment's text is words.
    should += [{"match": {field: {"query": words, "boost": boost}}} for field, words, boost in doc.text_clauses(query)]
    if not should:
        return None
    return {"bool": {"should": should, "minimum_should_match": 1, "filter": [filter_clause(query.filters)]}}


def _skill_alternatives(wanted: WantedSkill) -> list[dict[str, Any]]:
    """The ways of matching one wanted skill (term queries, scored by BM25 like tantivy's), of which the
    best counts."""
    same: list[dict[str, Any]] = [
        {"term": {field: {"value": value, "boost": doc.SAME_SKILL_BOOST}}} for field, value in doc.same_skill_terms(wanted)
    ]
    words = doc.skill_words(wanted)
    return same + ([{"match": {doc.SKILL_TEXT: {"query": words, "boost": doc.SKILL_WORDS_BOOST}}}] if words else [])


def search_body(query: TextQuery, limit: int, vector_dimension: int) -> dict[str, Any] | None:
    """The request body of a search; None when there is nothing to search for. Hybrid when the query has a
    vector and the index keeps vectors."""
    parts = [lexical_query(query)]  # in the order of the pipeline's weights
    if query.vector is not None and vector_dimension:
        parts.append({"knn": {doc.VECTOR: {"vector": list(query.vector), "k": vector_k(limit), "filter": filter_clause(query.filters)}}})
    present = [part for part in parts if part is not None]
    if not present:
        return None
    scored = {"hybrid": {"queries": present}} if len(present) == 2 else present[0]
    return {"size": limit, "query": scored, "_source": [doc.CANDIDATE], "track_total_hits": False}


def pipeline_body() -> dict[str, Any]:
    return {
        "description": "Customersonly matching: lexical and vector scores min-max normalised, then weighted",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {"technique": "arithmetic_mean", "parameters": {"weights": list(HYBRID_WEIGHTS)}},
                }
            }
        ],
    }


def swap_actions(alias: str, write_alias: str, new_index: str, old_indices: Iterable[str]) -> list[dict[str, Any]]:
    """One ``_aliases`` request: readers move from the old indices to the new one at once, and writers stop
    writing to the old ones."""
    actions: list[dict[str, Any]] = []
    for old in sorted(set(old_indices) - {new_index}):
        actions.append({"remove": {"index": old, "alias": alias}})
        actions.append({"remove": {"index": old, "alias": write_alias}})
    actions.append({"add": {"index": new_index, "alias": alias}})
    return actions


class OpenSearchMatchIndex:
    def __init__(
        self,
        client: Any,
        alias: str,
        *,
        vector_dimension: int = 0,
        refresh: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``client``: an ``opensearchpy.OpenSearch`` (see ``opensearch_client``). ``refresh``: passed with
        every single write (tests use ``"wait_for"``; production leaves it to the periodic refresh)."""
        self._client = client
        self.alias = alias
        self.write_alias = f"{alias}-write"
        self.pipeline = f"{alias}-hybrid"
        self.vector_dimension = vector_dimension  # 0: no vectors
        self._refresh = refresh
        self._now = now

    # --- setup ---

    def setup(self) -> None:
        """Idempotent: the search pipeline (with vectors) and, when no index is there yet, a first one
        behind both aliases, created with them in one request so that concurrent setups agree."""
        self._put_pipeline()
        if self._indices_behind(self.alias):
            return
        from opensearchpy.exceptions import RequestError

        body = {**index_body(self.vector_dimension), "aliases": {self.alias: {}, self.write_alias: {}}}
        try:
            self._client.indices.create(index=f"{self.alias}-v{doc.LAYOUT_VERSION}-initial", body=body)
        except RequestError as exc:
            if exc.error != "resource_already_exists_exception":
                raise

    def _put_pipeline(self) -> None:
        if self.vector_dimension:
            self._client.search_pipeline.put(id=self.pipeline, body=pipeline_body())

    # --- the port ---

    def upsert(self, candidate: Candidate, vector: Sequence[float] | None = None) -> None:
        source = self._source(candidate, vector)
        self._write(candidate.user_id, lambda index, _live: [{"index": {"_index": index, "_id": candidate.user_id}}, source])

    def delete(self, user_id: str) -> None:
        def actions(index: str, live: bool) -> list[dict[str, Any]]:
            if live:
                return [{"delete": {"_index": index, "_id": user_id}}]
            return [{"index": {"_index": index, "_id": user_id}}, {doc.USER_ID: user_id, TOMBSTONE: True}]

        self._write(user_id, actions)

    def search(self, query: TextQuery, limit: int) -> list[Hit]:
        body = search_body(query, limit, self.vector_dimension)
        if body is None:
            return []
        params = {"search_pipeline": self.pipeline} if "hybrid" in body["query"] else {}
        from opensearchpy.exceptions import NotFoundError, TransportError

        try:
            response = self._client.search(index=self.alias, body=body, params=params)
        except NotFoundError:
            return []  # nothing was ever indexed
        except TransportError as exc:
            raise UpstreamUnavailable("The search engine failed.") from exc
        return [Hit(stored_candidate(hit["_source"][doc.CANDIDATE]), float(hit["_score"])) for hit in response["hits"]["hits"]]

    def rebuild(self, entries: Iterable[Indexed]) -> None:
        from opensearchpy import helpers

        self._put_pipeline()
        new_index = f"{self.alias}-v{doc.LAYOUT_VERSION}-{self._now().strftime('%Y%m%d-%H%M%S%f')}"
        self._client.indices.create(index=new_index, body=index_body(self.vector_dimension, loading=True))
        try:
            # Before the tables are read (the caller reads ``entries`` lazily): every stream write from now
            # on reaches the new index too.
            self._client.indices.update_aliases(body={"actions": [{"add": {"index": new_index, "alias": self.write_alias}}]})
            # 409: the stream wrote that consultant since the rebuild started; its document is newer.
            helpers.bulk(self._client, self._bulk_actions(new_index, entries), ignore_status=(409,), max_retries=3)
            self._client.indices.put_settings(index=new_index, body={"index": {"refresh_interval": None}})  # back to the default
            self._client.indices.refresh(index=new_index)
            old = self._indices_behind(self.alias) | self._indices_behind(self.write_alias)
            self._client.indices.update_aliases(body={"actions": swap_actions(self.alias, self.write_alias, new_index, old)})
        except BaseException:
            self._client.indices.delete(index=new_index, params={"ignore_unavailable": "true"})
            raise
        self._client.delete_by_query(
            index=new_index, body={"query": {"term": {TOMBSTONE: True}}}, params={"conflicts": "proceed", "refresh": "true"}
        )
        for index in sorted(old - {new_index}):
            self._client.indices.delete(index=index, params={"ignore_unavailable": "true"})

    # --- helpers ---

    def _source(self, candidate: Candidate, vector: Sequence[float] | None) -> dict[str, Any]:
        source = document_fields(candidate)
        if vector is not None and self.vector_dimension:
            source[doc.VECTOR] = list(vector)
        return source

    def _bulk_actions(self, index: str, entries: Iterable[Indexed]) -> Iterator[dict[str, Any]]:
        for candidate, vector in entries:
            yield {"_op_type": "create", "_index": index, "_id": candidate.user_id, "_source": self._source(candidate, vector)}

    def _indices_behind(self, alias: str) -> set[str]:
        from opensearchpy.exceptions import NotFoundError

        try:
            return set(self._client.indices.get_alias(name=alias))
        except NotFoundError:
            return set()

    def _write(self, user_id: str, actions: Callable[[str, bool], list[dict[str, Any]]]) -> None:
        """``actions(index, live)`` for every index writes go to: the live one, and the next one during a rebuild."""
        from opensearchpy.exceptions import TransportError

        try:
            targets = self._targets()
            if not targets:
                self.setup()
                targets = self._targets()
            body = [line for index, live in sorted(targets.items()) for line in actions(index, live)]
            if not targets:
                raise RuntimeError(f"No index behind the alias {self.write_alias}: repair with a full reindex")
            params = {"refresh": self._refresh} if self._refresh else {}
            response = self._client.bulk(body=body, params=params)
        except TransportError as exc:
            raise UpstreamUnavailable("The search engine failed.") from exc
        failed = [
            item
            for entry in response.get("items", [])
            for op, item in entry.items()
            if item.get("status", 500) >= 300 and not (op == "delete" and item.get("status") == 404)  # deleting the absent: done
        ]
        if failed:
            raise RuntimeError(f"OpenSearch refused the write of {user_id}: {[f.get('error') for f in failed]}")

    def _targets(self) -> dict[str, bool]:
        """Every index behind the write alias, and whether searches read it (one request: the aliases of
        every index this adapter names)."""
        from opensearchpy.exceptions import NotFoundError

        try:
            found: Mapping[str, Any] = self._client.indices.get_alias(index=f"{self.alias}-v*")
        except NotFoundError:
            return {}
        return {
            index: self.alias in entry.get("aliases", {}) for index, entry in found.items() if self.write_alias in entry.get("aliases", {})
        }


def opensearch_client(
    url: str,
    *,
    region: str,
    service: str = "es",
    username: str = "",
    password: str = "",
    verify_certs: bool = True,
    credentials: Any = None,
    timeout: float = 10.0,
) -> Any:
    """A client for ``url`` over urllib3 (requests stays unused). Basic auth when a username is given (in the
    settings or in the URL), which needs HTTPS; otherwise SigV4 for an ``https`` URL, as Amazon OpenSearch
    Service wants (``service``: ``es`` for a domain, ``aoss`` for Serverless), with ``credentials`` or the
    boto3 session's; an ``http`` URL without a username gets no auth (a local cluster without security)."""
    from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth, Urllib3HttpConnection

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"OPENSEARCH_URL must be an http(s) URL, not {url!r}")
    https = parts.scheme == "https"
    username = username or unquote(parts.username or "")
    password = password or unquote(parts.password or "")
    auth: Any = None
    if username:
        if not https:
            raise ValueError("OpenSearch basic auth needs an https URL: the password would travel in clear")
        auth = (username, password)
    elif https:
        if credentials is None:
            import boto3  # lazily: botocore costs ~100 ms of cold start

            credentials = boto3.session.Session().get_credentials()
        if credentials is None:
            raise ValueError("No AWS credentials to sign OpenSearch requests with (and no OPENSEARCH_USERNAME)")
        auth = Urllib3AWSV4SignerAuth(credentials, region, service)
    host = {"host": parts.hostname, "port": parts.port or (443 if https else 80), "scheme": parts.scheme}
    if parts.path.strip("/"):
        host["url_prefix"] = parts.path.strip("/")
    return OpenSearch(
        hosts=[host],
        http_auth=auth,
        use_ssl=https,
        verify_certs=verify_certs,
        ssl_show_warn=verify_certs,
        connection_class=Urllib3HttpConnection,
        timeout=timeout,
        max_retries=2,
        retry_on_timeout=True,
    )
