"""Matching quality and speed on a synthetic benchmark built from O*NET (``make bench-matching``).

Consultants and assignments are generated from O*NET's technology skills per occupation, then run through
the real code: skills normalised by the taxonomy as the API does on save, indexed by the embedded engine,
ranked by the shared ``rank``. Relevance of a consultant to an assignment: 2 for the same occupation, 1 for
the same SOC broad group (the code's first 6 characters), 0 otherwise.

* For each occupation with at least 8 technologies: 12 consultants, each with 6-15 of the occupation's
  technologies (hot technologies drawn twice as often) and 2 from elsewhere; a title that is the
  occupation's or a generic one; half of them with the occupation's description as summary. One
  assignment per occupation from an independent draw: 5 required and 3 nice-to-have technologies, and a
  description naming their commodity titles.
* Two variants with a fixed seed. **easy**: 35% of a consultant's skills written as an alias a person
  would use (the acronym, the name without its vendor, or without "software"), 80% occupation titles.
  **hard**: 70% aliases, 30% occupation titles, and generic assignment titles.

Prints nDCG@10, Recall@50 (of the same-occupation consultants) and MRR (of the first same-occupation
consultant) per variant; index time and p50/p95 latency of a whole match (retrieval, filters, reasons,
adjustment) at 10k and 100k consultants; the process's peak memory. Ends with one JSON line.

    python -m bench.matching [--data ../shared/data/onet] [--seed 7] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from chalicelib.adapters.search.embedded import EmbeddedMatchIndex
from chalicelib.domain.assignments import Assignment, FixedFee, Seniority, SkillRequirement
from chalicelib.matching.candidates import Candidate, CandidateSkill
from chalicelib.matching.ranking import rank
from chalicelib.taxonomy import SkillTaxonomy, default_taxonomy

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "onet"
PROFILES_PER_OCCUPATION = 12
MIN_TECHNOLOGIES = 8
GENERIC_TITLES = ("Consultant", "Specialist", "Senior Consultant", "Expert", "Advisor")
GENERIC_ASSIGNMENT_TITLES = ("Consultant for a new assignment", "Specialist wanted", "Interim expert", "Experienced consultant")
NOW = datetime(2026, 11, 27, tzinfo=UTC)
START = date(2027, 1, 11)


@dataclass(frozen=True)
class Technology:
    name: str
    commodity: str
    hot: bool


@dataclass(frozen=True)
class Occupation:
    code: str
    title: str
    description: str
    technologies: tuple[Technology, ...]


@dataclass(frozen=True)
class Variant:
    name: str
    alias_share: float
    occupation_title_share: float
    generic_assignment_titles: bool


EASY = Variant("easy", alias_share=0.35, occupation_title_share=0.8, generic_assignment_titles=False)
HARD = Variant("hard", alias_share=0.7, occupation_title_share=0.3, generic_assignment_titles=True)


def load_onet(directory: Path) -> list[Occupation]:
    def rows(name: str) -> Iterable[dict[str, str]]:
        with (directory / name).open(encoding="utf-8", newline="") as file:
            yield from csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)

    technologies: dict[str, list[Technology]] = defaultdict(list)
    for row in rows("Technology Skills.txt"):
        technologies[row["O*NET-SOC Code"]].append(Technology(row["Example"], row["Commodity Title"], row["Hot Technology"] == "Y"))
    return [
        Occupation(row["O*NET-SOC Code"], row["Title"], row["Description"], tuple(technologies[row["O*NET-SOC Code"]]))
        for row in rows("Occupation Data.txt")
        if len(technologies[row["O*NET-SOC Code"]]) >= MIN_TECHNOLOGIES
    ]


_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,5}\b")


def aliases(name: str) -> list[str]:
    """How a person might write a technology instead of its full name: its acronym, the name without the
    vendor in front, or without the word "software"."""
    words = name.split()
    found = []
    acronym = _ACRONYM.findall(name)
    if acronym and acronym[-1] != name:
        found.append(acronym[-1])
    if len(words) >= 2 and words[0][:1].isupper() and words[1][:1].isupper():
        found.append(" ".join(words[1:]))
    without = " ".join(w for w in words if w.casefold() != "software")
    if without and without != name:
        found.append(without)
    return found


def _weighted_sample(rng: random.Random, technologies: Sequence[Technology], k: int) -> list[Technology]:
    """k distinct technologies, hot ones twice as likely (Efraimidis-Spirakis keys)."""
    keyed = sorted(technologies, key=lambda t: -(rng.random() ** (1 / (2.0 if t.hot else 1.0))))
    return keyed[:k]


def build_corpus(
    occupations: Sequence[Occupation], variant: Variant, taxonomy: SkillTaxonomy, seed: int, per_occupation: int = PROFILES_PER_OCCUPATION
) -> tuple[list[Candidate], dict[str, str], list[tuple[Assignment, str]]]:
    """Consultants, each one's occupation code, and one assignment per occupation with its code."""
    rng = random.Random(f"{seed}:{variant.name}:{per_occupation}")
    everything = [t for o in occupations for t in o.technologies]
    candidates, codes, assignments = [], {}, []
    for occupation in occupations:
        own = {t.name for t in occupation.technologies}
        for n in range(per_occupation):
            picked = _weighted_sample(rng, occupation.technologies, rng.randint(6, min(15, len(occupation.technologies))))
            strays: list[Technology] = []
            while len(strays) < 2:
                stray = rng.choice(everything)
                if stray.name not in own and stray not in strays:
                    strays.append(stray)
            picked += strays
            written = []
            for technology in picked:
                forms = aliases(technology.name)
                written.append(rng.choice(forms) if forms and rng.random() < variant.alias_share else technology.name)
            user_id = f"{occupation.code}#{n}"
            title = occupation.title if rng.random() < variant.occupation_title_share else rng.choice(GENERIC_TITLES)
            candidates.append(
                synthetic_candidate(taxonomy, rng, user_id, title, occupation.description if rng.random() < 0.5 else "", written)
            )
            codes[user_id] = occupation.code
        wanted = _weighted_sample(rng, occupation.technologies, 8)
        title = rng.choice(GENERIC_ASSIGNMENT_TITLES) if variant.generic_assignment_titles else occupation.title
        assignments.append((_assignment(taxonomy, occupation.code, title, wanted[:5], wanted[5:]), occupation.code))
    return candidates, codes, assignments


def synthetic_candidate(
    taxonomy: SkillTaxonomy, rng: random.Random, user_id: str, title: str, summary: str, skills: list[str]
) -> Candidate:
    """A consultant with skills (written as given, normalised as on save), a title and a summary, and no hard
    constraint said (no rate, place, language or date), so that every assignment's filters pass them."""
    return Candidate(
        user_id=user_id,
        agency_id="agency",
        title=title,
        summary=summary,
        experience="",
        skills=tuple(CandidateSkill(taxonomy.normalise(name).skill_id, name, rng.randint(2, 5), rng.randint(0, 10)) for name in skills),
        languages=(),
        available_from=None,
        share_of_full_time=None,
        hourly_rate=None,
        country=None,
        remote_preference=None,
    )


def _requirements(taxonomy: SkillTaxonomy, technologies: Sequence[Technology]) -> list[SkillRequirement]:
    """As the assignments service stores them: the canonical name when known, else the cleaned text."""
    normalised = [taxonomy.normalise(t.name) for t in technologies]
    return [SkillRequirement(s.skill_id, s.name) for s in normalised]


def _assignment(taxonomy: SkillTaxonomy, code: str, title: str, required: Sequence[Technology], nice: Sequence[Technology]) -> Assignment:
    commodities = list(dict.fromkeys(t.commodity for t in [*required, *nice]))
    return Assignment(
        assignment_id=code,
        client_id="client",
        title=title,
        description="The work involves " + ", ".join(commodities) + ".",
        required_skills=_requirements(taxonomy, required),
        nice_to_have_skills=_requirements(taxonomy, nice),
        seniority=Seniority.SENIOR,
        start_date=START,
        end_date=None,
        share_of_full_time=100,
        created_at=NOW,
        created_by="bench",
        updated_at=NOW,
        updated_by="bench",
        fixed_fee=FixedFee(10_000_000, "SEK"),
    )


def relevance(code: str, other: str) -> int:
    return 2 if code == other else 1 if code[:6] == other[:6] else 0


def _dcg(gains: Iterable[int]) -> float:
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains))


@dataclass(frozen=True)
class Quality:
    ndcg10: float
    recall50: float
    mrr: float


def evaluate(index: EmbeddedMatchIndex, codes: dict[str, str], assignments: Sequence[tuple[Assignment, str]]) -> Quality:
    group_sizes: dict[str, int] = defaultdict(int)
    occupation_sizes: dict[str, int] = defaultdict(int)
    for code in codes.values():
        group_sizes[code[:6]] += 1
        occupation_sizes[code] += 1
    ndcgs, recalls, reciprocal_ranks = [], [], []
    for assignment, code in assignments:
        ranked = [r.candidate.user_id for r in rank(index, assignment)][:50]
        gains = [relevance(code, codes[user_id]) for user_id in ranked]
        same = occupation_sizes[code]
        ideal = [2] * same + [1] * (group_sizes[code[:6]] - same)
        ndcgs.append(_dcg(gains[:10]) / _dcg(ideal[:10]))
        recalls.append(sum(1 for g in gains if g == 2) / same)
        first = next((i for i, g in enumerate(gains) if g == 2), None)
        reciprocal_ranks.append(0.0 if first is None else 1 / (first + 1))
    return Quality(statistics.fmean(ndcgs), statistics.fmean(recalls), statistics.fmean(reciprocal_ranks))


@dataclass(frozen=True)
class Speed:
    profiles: int
    index_s: float
    p50_ms: float
    p95_ms: float


def measure_speed(occupations: Sequence[Occupation], taxonomy: SkillTaxonomy, seed: int, profiles: int, queries: int) -> Speed:
    per_occupation = math.ceil(profiles / len(occupations))
    candidates, _codes, assignments = build_corpus(occupations, EASY, taxonomy, seed, per_occupation)
    index = EmbeddedMatchIndex()
    started = time.perf_counter()
    index.upsert_many(candidates[:profiles])
    index_s = time.perf_counter() - started
    chosen = random.Random(seed).sample(assignments, min(queries, len(assignments)))
    rank(index, chosen[0][0])  # warm-up
    timings = []
    for assignment, _code in chosen:
        started = time.perf_counter()
        rank(index, assignment)
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=20)
    return Speed(profiles, index_s, statistics.median(timings), cuts[18])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="quality only, no speed runs")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    if not (args.data / "Technology Skills.txt").exists():
        print(f"bench-matching: skipped, no O*NET data in {args.data}")
        return 0
    occupations = load_onet(args.data)
    taxonomy = default_taxonomy()
    result: dict[str, object] = {"benchmark": "matching"}
    for variant in (EASY, HARD):
        candidates, codes, assignments = build_corpus(occupations, variant, taxonomy, args.seed)
        index = EmbeddedMatchIndex()
        index.upsert_many(candidates)
        quality = evaluate(index, codes, assignments)
        print(
            f"{variant.name:5}  {len(candidates)} consultants, {len(assignments)} assignments"
            f"  nDCG@10 {quality.ndcg10:.3f}  Recall@50 {quality.recall50:.3f}  MRR {quality.mrr:.3f}"
        )
        result[variant.name] = {"ndcg@10": round(quality.ndcg10, 4), "recall@50": round(quality.recall50, 4), "mrr": round(quality.mrr, 4)}
    if not args.quick:
        for profiles in (10_000, 100_000):
            speed = measure_speed(occupations, taxonomy, args.seed, profiles, args.queries)
            print(
                f"{profiles:>7} consultants  indexed in {speed.index_s:.1f} s  match p50 {speed.p50_ms:.1f} ms  p95 {speed.p95_ms:.1f} ms"
            )
            if profiles == 100_000:
                result["p95_ms_100k"], result["index_s_100k"] = round(speed.p95_ms, 2), round(speed.index_s, 2)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory {peak_mb:.0f} MB")
        result["peak_mb"] = round(peak_mb)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
