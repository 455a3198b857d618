"""The embedded match index (tantivy) with the shared ranking: retrieval by skill keys and text, hard
constraints, replacement and removal, persistence."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.search.embedded import EmbeddedMatchIndex
from chalicelib.domain.assignments import SkillRequirement
from chalicelib.domain.money import HourlyRate
from chalicelib.matching.candidates import Candidate, CandidateSkill
from chalicelib.matching.filters import filter_values, passes
from chalicelib.matching.index import text_query
from chalicelib.matching.ranking import rank
from tests.strategies import assignments, candidates
from tests.unit.test_matching_candidates import RESUME, assignment, candidate_from, profile

pytestmark = pytest.mark.integration


def candidate(user_id: str, skills: list[tuple[str | None, str]], title: str = "Consultant", **change: object) -> Candidate:
    base = candidate_from(dataclasses.replace(profile(), user_id=user_id, title=title), RESUME)
    return dataclasses.replace(base, skills=tuple(CandidateSkill(i, n, 4, 3) for i, n in skills), summary="", experience="", **change)  # type: ignore[arg-type]


K8S, TF, AWS, GO = ("kubernetes", "Kubernetes"), ("terraform", "Terraform"), ("aws", "AWS"), ("go", "Go")


def test_the_best_fitting_candidates_come_first_with_their_reasons() -> None:
    index = EmbeddedMatchIndex()
    index.upsert_many(
        [
            candidate("all", [K8S, TF, AWS, GO], "Platform engineer"),
            candidate("two", [K8S, TF], "Platform engineer"),
            candidate("one", [AWS], "Backend developer"),
            candidate("none", [("java", "Java")], "Java developer"),
            candidate("pricey", [K8S, TF, AWS], "Platform engineer", hourly_rate=HourlyRate(999999, "SEK")),
        ]
    )
    ranked = rank(index, assignment())
    ids = [r.candidate.user_id for r in ranked]
    assert ids[:3] == ["all", "two", "one"]
    assert "pricey" not in ids  # above the budget: a hard constraint
    best = ranked[0]
    assert best.reasons.missing_required == () and [m.consultant_wording for m in best.reasons.matched_nice] == ["Go"]
    assert ranked[1].reasons.missing_required == ("AWS",)
    assert best.score > ranked[1].score > ranked[2].score and best.relevance == 1.0


def test_replacing_and_removing_a_consultant() -> None:
    index = EmbeddedMatchIndex()
    index.upsert(candidate("u", [("java", "Java")]))
    assert [h.candidate.user_id for h in index.search(text_query(assignment()), 10)] == []
    index.upsert(candidate("u", [K8S]))  # the consultant changed their resume
    assert [h.candidate.user_id for h in index.search(text_query(assignment()), 10)] == ["u"]
    index.delete("u")
    index.delete("u")  # idempotent
    assert index.search(text_query(assignment()), 10) == []


def test_query_syntax_in_an_assignment_is_only_words() -> None:
    index = EmbeddedMatchIndex()
    index.upsert(candidate("u", [K8S], "Platform engineer"))
    hostile = assignment(title='title:"x" AND (NOT', description="k8s^100 -engineer")
    assert [h.candidate.user_id for h in index.search(text_query(hostile), 10)] == ["u"]


def test_an_index_on_disk_is_there_after_a_restart(tmp_path: Path) -> None:
    EmbeddedMatchIndex(tmp_path / "index").upsert(candidate("u", [K8S]))
    reopened = EmbeddedMatchIndex(tmp_path / "index")
    [hit] = reopened.search(text_query(assignment()), 10)
    assert hit.candidate.user_id == "u" and hit.candidate.skills[0].skill_id == "kubernetes"


def test_a_reader_sees_what_a_writer_on_the_same_directory_commits(tmp_path: Path) -> None:
    reader = EmbeddedMatchIndex(tmp_path / "index")  # as the API process: searches only
    writer = EmbeddedMatchIndex(tmp_path / "index")  # as the indexer: the one writer
    assert reader.search(text_query(assignment()), 10) == []
    writer.upsert(candidate("u", [K8S]))
    assert [h.candidate.user_id for h in reader.search(text_query(assignment()), 10)] == ["u"]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_engine_filters_exactly_as_the_shared_rules_say(data: st.DataObject) -> None:
    pool = [data.draw(candidates(user_id=f"u{n}")) for n in range(12)]
    wanted = data.draw(assignments())
    index = EmbeddedMatchIndex()
    index.upsert_many(pool)
    query = text_query(wanted)
    found = {h.candidate.user_id for h in index.search(query, 50)}
    # Every candidate of the pool has a required skill (Kubernetes), so only the filters leave one out.
    assert found == {c.user_id for c in pool if passes(filter_values(c), query.filters)}


def test_a_skill_written_alike_outranks_one_that_only_shares_a_word() -> None:
    index = EmbeddedMatchIndex()
    index.upsert_many(
        [
            candidate("alike", [(None, "Excel")], "Analyst"),
            candidate("vendor", [(None, "Microsoft Word")], "Analyst"),
            candidate("none", [(None, "Cobol")], "Analyst"),
        ]
    )
    wanted = assignment(
        title="Analyst", description="", required_skills=[SkillRequirement(None, "Microsoft Excel")], nice_to_have_skills=[]
    )
    ranked = rank(index, wanted)
    assert [r.candidate.user_id for r in ranked[:2]] == ["alike", "vendor"]
    assert [m.consultant_wording for m in ranked[0].reasons.matched_required] == ["Excel"] and ranked[1].reasons.missing_required == (
        "Microsoft Excel",
    )
