"""The matching benchmark's own parts: the alias rules, the corpus it generates, the metrics, and its
skip without data (the figures themselves are printed by `make bench-matching`, never asserted here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import matching as bench
from chalicelib.taxonomy import default_taxonomy


def test_aliases_are_the_ones_a_person_would_write() -> None:
    assert bench.aliases("Microsoft Excel") == ["Excel"]
    assert bench.aliases("Enterprise resource planning ERP software") == ["ERP", "Enterprise resource planning ERP"]
    assert bench.aliases("Intuit QuickBooks") == ["QuickBooks"]
    assert bench.aliases("Python") == []


def test_relevance_and_ndcg() -> None:
    assert bench.relevance("15-1252.00", "15-1252.00") == 2
    assert bench.relevance("15-1252.00", "15-1253.00") == 1
    assert bench.relevance("15-1252.00", "11-1011.00") == 0
    assert bench._dcg([2, 1]) == pytest.approx(3 + 1 / 1.584962500721156)


def _onet(directory: Path, occupations: int = 3, technologies: int = 10) -> Path:
    rows = ["O*NET-SOC Code\tTitle\tDescription"]
    skills = ["O*NET-SOC Code\tExample\tCommodity Code\tCommodity Title\tHot Technology\tIn Demand"]
    for o in range(occupations):
        code = f"15-12{o}1.00"
        rows.append(f"{code}\tOccupation {o}\tWorks on things of kind {o}.")
        skills += [f"{code}\tVendor{o} Tool{o}x{t}\t4323\tKind {o} software\t{'Y' if t % 3 == 0 else 'N'}\tN" for t in range(technologies)]
    rows.append("99-9999.00\tFew technologies\tLeft out.")
    skills.append("99-9999.00\tLonely tool\t1\tOther software\tN\tN")
    (directory / "Occupation Data.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (directory / "Technology Skills.txt").write_text("\n".join(skills) + "\n", encoding="utf-8")
    return directory


def test_the_corpus_follows_the_recipe_and_a_real_engine_ranks_it(tmp_path: Path) -> None:
    occupations = bench.load_onet(_onet(tmp_path))
    assert [o.code for o in occupations] == ["15-1201.00", "15-1211.00", "15-1221.00"]  # at least 8 technologies
    candidates, codes, assignments = bench.build_corpus(occupations, bench.HARD, default_taxonomy(), seed=1)
    assert len(candidates) == 3 * bench.PROFILES_PER_OCCUPATION and len(assignments) == 3
    for candidate in candidates:
        occupation = codes[candidate.user_id][5]  # the o of "15-12{o}1.00"
        own = sum(f"Tool{occupation}x" in s.name for s in candidate.skills)  # aliases keep the product name
        assert 6 <= own <= 10 and len(candidate.skills) == own + 2  # plus two from other occupations
    assignment, _code = assignments[0]
    assert len(assignment.required_skills) == 5 and len(assignment.nice_to_have_skills) == 3
    assert assignment.title in bench.GENERIC_ASSIGNMENT_TITLES  # hard: generic titles
    index = bench.EmbeddedMatchIndex()
    index.upsert_many(candidates)
    quality = bench.evaluate(index, codes, assignments)
    assert quality.ndcg10 > 0.9 and quality.mrr == 1.0  # three well separated occupations


def test_without_the_data_the_benchmark_says_so_and_stops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--data", str(tmp_path)]) == 0
    assert "skipped, no O*NET data" in capsys.readouterr().out


def test_quick_run_ends_with_one_json_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--data", str(_onet(tmp_path)), "--quick"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["benchmark"] == "matching" and set(last["easy"]) == {"ndcg@10", "recall@50", "mrr"} and "hard" in last
