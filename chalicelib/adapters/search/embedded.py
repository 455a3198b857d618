"""The embedded match index: tantivy (BM25 per field) in a local directory, or in memory.

The local default and the engine of the matching benchmark. It builds its schema, documents and query
from the shared description (chalicelib/matching/document.py): skills as exact keys (canonical ids from
the taxonomy, so "k8s" in a resume and "Kubernetes" in an assignment meet) and as the keywords that find
a skill written alike; title, skill names and the rest as stemmed English text. The candidate itself is
stored with its entry, so a search answers with everything the shared ranking needs.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.matching import document as doc
from chalicelib.matching.candidates import Candidate, WantedSkill
from chalicelib.matching.document import document_fields, stored_candidate
from chalicelib.matching.filters import NOT_SAID, MatchFilters
from chalicelib.matching.fusion import fuse, vector_k
from chalicelib.matching.index import Hit, Indexed, TextQuery

if TYPE_CHECKING:
    from chalicelib.adapters.search.vectors import VectorStore


class EmbeddedMatchIndex:
    def __init__(self, directory: Path | None = None, vector_space: str = "") -> None:
        """``vector_space``: the embedder's model and dimension (chalicelib/matching/embeddings.py), when one is on."""
        import tantivy  # a local and test dependency only: production searches OpenSearch

        from chalicelib.adapters.search.vectors import VectorStore  # numpy, likewise

        self._tantivy = tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_text_field(doc.USER_ID, stored=True, tokenizer_name="raw")
        for keyword in doc.KEYWORD_SKILL_FIELDS:
            builder.add_text_field(keyword, tokenizer_name="raw", index_option="freq")
        for text in doc.TEXT_FIELDS:
            builder.add_text_field(text, tokenizer_name="en_stem")
        builder.add_text_field(doc.CANDIDATE, stored=True, index_option="basic")
        # The hard constraints' values (chalicelib/matching/filters.py), filtered on, never scored.
        for keyword in doc.KEYWORD_FILTER_FIELDS:
            builder.add_text_field(keyword, tokenizer_name="raw", index_option="basic")
        for integer in doc.INTEGER_FILTER_FIELDS:
            builder.add_integer_field(integer, indexed=True, fast=True)
        self._schema = builder.build()
        if directory is not None:
            directory = directory / f"layout-{doc.LAYOUT_VERSION}"  # an index of another layout cannot be opened with this schema
            directory.mkdir(parents=True, exist_ok=True)
        self._index = tantivy.Index(self._schema, path=str(directory) if directory else None)
        # Opened on the first write: tantivy allows one writer per index directory, and locally the API
        # process only searches while the event pump's process writes.
        self._writer: Any = None
        self._lock = threading.Lock()
        self._vectors: VectorStore = VectorStore(directory, vector_space)

    def upsert(self, candidate: Candidate, vector: Sequence[float] | None = None) -> None:
        self.upsert_many([candidate], [vector])

    def upsert_many(self, candidates: list[Candidate], vectors: Sequence[Sequence[float] | None] | None = None) -> None:
        """One commit for the lot (a full reindex). A candidate without a vector loses the one they had."""
        with self._lock:
            writer = self._open_writer()
            for candidate in candidates:
                writer.delete_documents(doc.USER_ID, candidate.user_id)
                writer.add_document(self._document(candidate))
            self._commit()
            # After the text: a vector without its document is never found (see _passing), never the reverse.
            self._vectors.put(dict(zip((c.user_id for c in candidates), vectors or [None] * len(candidates), strict=True)))

    def rebuild(self, entries: Iterable[Indexed]) -> None:
        """Everything deleted and the new contents added in one commit, which readers see at once."""
        with self._lock:
            writer = self._open_writer()
            writer.delete_all_documents()
            vectors: dict[str, Sequence[float]] = {}
            for candidate, vector in entries:
                writer.add_document(self._document(candidate))
                if vector is not None:
                    vectors[candidate.user_id] = vector
            self._commit()
            self._vectors.replace(vectors)

    def delete(self, user_id: str) -> None:
        with self._lock:
            self._open_writer().delete_documents(doc.USER_ID, user_id)
            self._commit()
            self._vectors.put({user_id: None})

    def search(self, query: TextQuery, limit: int) -> list[Hit]:
        if query.vector is not None:
            return self._hybrid_search(query, limit)
        tantivy = self._tantivy
        Q, should = tantivy.Query, tantivy.Occur.Should
        clauses: list[tuple[Any, Any]] = [
            (should, Q.boost_query(Q.disjunction_max_query(self._skill_alternatives(wanted)), weight))
            for wanted, weight in doc.weighted_skills(query)
        ]
        for field, words, boost in doc.text_clauses(query):
            parsed, _errors = self._index.parse_query_lenient(words, [field])
            clauses.append((should, Q.boost_query(parsed, boost)))
        if not clauses:
            return []
        scored = tantivy.Query.boolean_query(clauses)
        only_passing = tantivy.Query.const_score_query(self._filter(query.filters), 0.0)
        self._index.reload()  # what another process (the indexer) committed since
        searcher = self._index.searcher()
        found = searcher.search(tantivy.Query.boolean_query([(tantivy.Occur.Must, scored), (tantivy.Occur.Must, only_passing)]), limit)
        return [Hit(stored_candidate(json.loads(searcher.doc(address)[doc.CANDIDATE][0])), score) for score, address in found.hits]

    def _skill_alternatives(self, wanted: WantedSkill) -> list[Any]:
        """As the OpenSearch engine's: the ways of matching one wanted skill, of which the best counts."""
        Q = self._tantivy.Query
        same = [
            Q.boost_query(Q.term_query(self._schema, field, value), doc.SAME_SKILL_BOOST) for field, value in doc.same_skill_terms(wanted)
        ]
        words = doc.skill_words(wanted)
        if not words:
            return same
        parsed, _errors = self._index.parse_query_lenient(words, [doc.SKILL_TEXT])
        return [*same, Q.boost_query(parsed, doc.SKILL_WORDS_BOOST)]

    def _filter(self, filters: MatchFilters) -> Any:
        """``MatchFilters`` as a tantivy query, clause by clause as its docstring states them."""
        tantivy, schema = self._tantivy, self._schema
        Q, must, should = tantivy.Query, tantivy.Occur.Must, tantivy.Occur.Should

        def among(field: str, values: Sequence[str]) -> Any:
            return Q.term_set_query(schema, field, list(values))

        def at_most(field: str, value: int) -> Any:
            return Q.range_query(schema, field, tantivy.FieldType.Integer, 0, value, include_lower=True, include_upper=True)

        clauses = [
            at_most(doc.AVAILABLE_FROM_DAY, filters.available_by_day),
            among(doc.REMOTE_PREFERENCE, (NOT_SAID, *filters.work_modes)),
            *(Q.term_query(schema, doc.LANGUAGES, key) for key in filters.language_keys),
        ]
        if filters.max_rate_minor is not None and filters.rate_currency is not None:
            in_budget = Q.boolean_query(
                [
                    (must, Q.term_query(schema, doc.RATE_CURRENCY, filters.rate_currency)),
                    (must, at_most(doc.RATE_MINOR, filters.max_rate_minor)),
                ]
            )
            clauses.append(Q.boolean_query([(should, Q.term_query(schema, doc.RATE_CURRENCY, NOT_SAID)), (should, in_budget)]))
        if filters.country is not None:
            place = [(should, among(doc.COUNTRY, (NOT_SAID, filters.country)))]
            if filters.remote_ok:
                place.append((should, among(doc.REMOTE_PREFERENCE, (NOT_SAID, "remote"))))
            clauses.append(Q.boolean_query(place))
        return Q.boolean_query([(must, clause) for clause in clauses])

    def _document(self, candidate: Candidate) -> Any:
        fields = document_fields(candidate)
        return self._tantivy.Document(**{**fields, doc.CANDIDATE: json.dumps(fields[doc.CANDIDATE])})

    def _open_writer(self) -> Any:
        if self._writer is None:
            self._writer = self._index.writer()
        return self._writer

    def _commit(self) -> None:
        self._writer.commit()
        self._index.reload()

    # --- vectors: the nearest among those passing the filters, fused with the text in shared code ---

    def _hybrid_search(self, query: TextQuery, limit: int) -> list[Hit]:
        assert query.vector is not None
        lexical = self.search(dataclasses.replace(query, vector=None), limit)
        found = {hit.candidate.user_id: hit.candidate for hit in lexical}

        def passing(user_ids: Sequence[str]) -> Sequence[str]:
            candidates = self._passing(user_ids, query.filters)
            found.update(candidates)
            return list(candidates)

        nearest = self._vectors.nearest(query.vector, vector_k(limit), passing)
        fused = fuse([(hit.candidate.user_id, hit.relevance) for hit in lexical], nearest)
        return [Hit(found[user_id], score) for user_id, score in fused[:limit]]

    def _passing(self, user_ids: Sequence[str], filters: MatchFilters) -> dict[str, Candidate]:
        """Those of ``user_ids`` who are indexed and pass the filters, with what is stored for them."""
        Q, must = self._tantivy.Query, self._tantivy.Occur.Must
        among = Q.term_set_query(self._schema, doc.USER_ID, list(user_ids))
        self._index.reload()
        searcher = self._index.searcher()
        found = searcher.search(Q.boolean_query([(must, among), (must, self._filter(filters))]), max(len(user_ids), 1))
        candidates = (stored_candidate(json.loads(searcher.doc(address)[doc.CANDIDATE][0])) for _, address in found.hits)
        return {candidate.user_id: candidate for candidate in candidates}
