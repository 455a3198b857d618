"""A stateful stand-in for ``opensearchpy.OpenSearch``: indices with their bodies and documents, aliases,
search pipelines, and every call recorded. Searches are evaluated by a tiny interpreter of the query DSL
the adapter uses (bool, dis_max, term, terms, range, match), so a wrong filter gives wrong answers here
too; its text scoring is a plain count of query words found, not BM25.

It answers like OpenSearch where the adapter depends on it: 404 ``NotFoundError`` for a missing alias or
index, 400 ``resource_already_exists_exception``, per-item bulk statuses (409 for ``create`` on an
existing document, 404 for deleting an absent one), strict mappings.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any

from opensearchpy.exceptions import NotFoundError, RequestError
from opensearchpy.serializer import JSONSerializer


def evaluate(query: dict[str, Any], source: dict[str, Any]) -> bool:
    """Whether the document ``source`` matches ``query`` (bool/term/terms/range, as OpenSearch reads them)."""
    [(kind, spec)] = query.items()
    if kind == "bool":
        if not all(evaluate(q, source) for q in [*spec.get("filter", []), *spec.get("must", [])]):
            return False
        if any(evaluate(q, source) for q in spec.get("must_not", [])):
            return False
        should = spec.get("should", [])
        default = 0 if spec.get("filter") or spec.get("must") else 1
        return sum(evaluate(q, source) for q in should) >= spec.get("minimum_should_match", default if should else 0)
    if kind in ("term", "terms", "range"):
        [(name, condition)] = spec.items()
        values = _values(source, name)
        if kind == "term":
            wanted = condition["value"] if isinstance(condition, dict) else condition
            return wanted in values
        if kind == "terms":
            return any(v in condition for v in values)
        bounds = {"lte": lambda v, b: v <= b, "lt": lambda v, b: v < b, "gte": lambda v, b: v >= b, "gt": lambda v, b: v > b}
        return any(all(bounds[op](v, bound) for op, bound in condition.items()) for v in values)
    if kind == "dis_max":
        return any(evaluate(q, source) for q in spec["queries"])
    if kind == "match":
        return _text_score(spec, source) > 0
    raise AssertionError(f"the fake does not know the query {kind!r}")


def score(query: dict[str, Any], source: dict[str, Any]) -> float:
    """A stand-in relevance: boosts of matching terms, plus field-boosted counts of matching words."""
    [(kind, spec)] = query.items()
    if kind == "bool":
        return sum(score(q, source) for q in [*spec.get("should", []), *spec.get("must", [])] if evaluate(q, source))
    if kind == "term":
        [(_field, condition)] = spec.items()
        return float(condition.get("boost", 1.0)) if isinstance(condition, dict) else 1.0
    if kind == "dis_max":
        return float(spec.get("boost", 1.0)) * max(score(q, source) for q in spec["queries"] if evaluate(q, source))
    if kind == "match":
        return _text_score(spec, source)
    return 0.0


def _values(source: dict[str, Any], name: str) -> list[Any]:
    value = source.get(name)
    return [] if value is None else value if isinstance(value, list) else [value]


def _text_score(spec: dict[str, Any], source: dict[str, Any]) -> float:
    """``match`` on one field: the boost times the count of query words the field has."""
    [(name, condition)] = spec.items()
    tokens = str(source.get(name, "")).lower().split()
    return float(condition.get("boost", 1.0)) * sum(w in tokens for w in condition["query"].lower().split())


@dataclass
class FakeIndex:
    body: dict[str, Any]
    aliases: set[str] = field(default_factory=set)
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings_updates: list[dict[str, Any]] = field(default_factory=list)
    refreshed: int = 0


class FakeIndices:
    def __init__(self, cluster: FakeOpenSearch) -> None:
        self._cluster = cluster

    def create(self, index: str, body: dict[str, Any], params: Any = None) -> dict[str, Any]:
        self._cluster.record("indices.create", index=index, body=body)
        if index in self._cluster.indices_state:
            raise RequestError(400, "resource_already_exists_exception", {})
        aliases = set(body.get("aliases", {}))
        self._cluster.indices_state[index] = FakeIndex({k: v for k, v in body.items() if k != "aliases"}, aliases)
        return {"acknowledged": True}

    def get_alias(self, name: str | None = None, index: str | None = None, params: Any = None) -> dict[str, Any]:
        self._cluster.record("indices.get_alias", name=name, index=index)
        found = {
            n: {"aliases": {a: {} for a in i.aliases if name is None or a == name}}
            for n, i in self._cluster.indices_state.items()
            if (index is None or fnmatch.fnmatch(n, index)) and (name is None or name in i.aliases)
        }
        if name is not None and not found:
            raise NotFoundError(404, f"alias [{name}] missing", {})
        return found

    def update_aliases(self, body: dict[str, Any], params: Any = None) -> dict[str, Any]:
        self._cluster.record("indices.update_aliases", body=body)
        for action in body["actions"]:  # applied all or nothing, like OpenSearch
            [(_, spec)] = action.items()
            if spec["index"] not in self._cluster.indices_state:
                raise NotFoundError(404, "index_not_found_exception", {})
        for action in body["actions"]:
            [(verb, spec)] = action.items()
            aliases = self._cluster.indices_state[spec["index"]].aliases
            aliases.add(spec["alias"]) if verb == "add" else aliases.discard(spec["alias"])
        return {"acknowledged": True}

    def put_settings(self, index: str, body: dict[str, Any], params: Any = None) -> dict[str, Any]:
        self._cluster.record("indices.put_settings", index=index, body=body)
        self._cluster.indices_state[index].settings_updates.append(body)
        return {"acknowledged": True}

    def refresh(self, index: str, params: Any = None) -> dict[str, Any]:
        self._cluster.record("indices.refresh", index=index)
        self._cluster.indices_state[index].refreshed += 1
        return {}

    def delete(self, index: str, params: Any = None) -> dict[str, Any]:
        self._cluster.record("indices.delete", index=index, params=params)
        if self._cluster.indices_state.pop(index, None) is None and not (params or {}).get("ignore_unavailable"):
            raise NotFoundError(404, "index_not_found_exception", {})
        return {"acknowledged": True}


class FakeSearchPipeline:
    def __init__(self, cluster: FakeOpenSearch) -> None:
        self._cluster = cluster

    def put(self, id: str, body: dict[str, Any], params: Any = None) -> dict[str, Any]:
        self._cluster.record("search_pipeline.put", id=id, body=body)
        self._cluster.pipelines[id] = body
        return {"acknowledged": True}


class FakeOpenSearch:
    def __init__(self) -> None:
        self.indices_state: dict[str, FakeIndex] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.indices = FakeIndices(self)
        self.search_pipeline = FakeSearchPipeline(self)
        self.transport = type("Transport", (), {"serializer": JSONSerializer()})()
        self.before_bulk: list[Any] = []  # callables run before each bulk request (to interleave writes in tests)

    def record(self, call: str, /, **kwargs: Any) -> None:
        self.calls.append((call, kwargs))

    def calls_to(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for called, kwargs in self.calls if called == name]

    def resolve(self, target: str) -> list[str]:
        if target in self.indices_state:
            return [target]
        found = [n for n, i in self.indices_state.items() if target in i.aliases]
        if not found:
            raise NotFoundError(404, "index_not_found_exception", {})
        return found

    def bulk(self, body: Any, params: Any = None, **kwargs: Any) -> dict[str, Any]:
        for hook in self.before_bulk:
            hook()
        lines = [json.loads(line) for line in body.splitlines() if line.strip()] if isinstance(body, str) else list(body)
        self.record("bulk", body=lines, params=params)
        items = []
        while lines:
            [(op, meta)] = lines.pop(0).items()
            index = self.indices_state[meta["_index"]]
            if op == "delete":
                status = 200 if index.docs.pop(meta["_id"], None) is not None else 404
            else:
                source = lines.pop(0)
                unknown = set(source) - set(index.body["mappings"]["properties"])
                if unknown:
                    items.append({op: {"status": 400, "error": {"type": "strict_dynamic_mapping_exception", "fields": sorted(unknown)}}})
                    continue
                if op == "create" and meta["_id"] in index.docs:
                    items.append({op: {"status": 409, "error": {"type": "version_conflict_engine_exception"}}})
                    continue
                status = 200 if meta["_id"] in index.docs else 201
                index.docs[meta["_id"]] = source
            items.append({op: {"status": status, "_id": meta["_id"]}})
        return {"errors": any(next(iter(i.values()))["status"] >= 300 for i in items), "items": items}

    def search(self, index: str, body: dict[str, Any], params: Any = None) -> dict[str, Any]:
        self.record("search", index=index, body=body, params=params)
        query = body["query"]
        if "hybrid" in query:
            assert (params or {}).get("search_pipeline") in self.pipelines, "a hybrid query needs its search pipeline"
            query = query["hybrid"]["queries"][0]  # the fake scores the lexical part only
        docs = [source for name in self.resolve(index) for source in self.indices_state[name].docs.values()]
        found = sorted(((score(query, d), d) for d in docs if evaluate(query, d)), key=lambda p: (-p[0], p[1]["user_id"]))
        hits = [{"_score": s, "_source": {k: d[k] for k in body.get("_source", d)}} for s, d in found[: body["size"]]]
        return {"hits": {"hits": hits}}

    def delete_by_query(self, index: str, body: dict[str, Any], params: Any = None) -> dict[str, Any]:
        self.record("delete_by_query", index=index, body=body, params=params)
        deleted = 0
        for name in self.resolve(index):
            docs = self.indices_state[name].docs
            for doc_id in [i for i, d in docs.items() if evaluate(body["query"], d)]:
                del docs[doc_id]
                deleted += 1
        return {"deleted": deleted}
