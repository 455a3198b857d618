"""The ESCO importer on the official ESCO CSV files in ../shared/data/esco (read in place, never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.taxonomy import SkillCategory, load_taxonomy
from chalicelib.taxonomy.esco import main, merge_esco, read_esco_csv

ESCO_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "esco"
ICT_SKILLS = ESCO_DIR / "ictSkillsCollection_en.csv"
OCCUPATIONS = ESCO_DIR / "occupations_en.csv"


def _require(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"ESCO data not found at {path} (the shared data directory ../shared/data/esco is absent)")
    return path


def test_reads_the_ict_skills_collection() -> None:
    read = read_esco_csv(_require(ICT_SKILLS))
    assert len(read.concepts) == 21
    assert read.skipped_rows == 0
    assert all(concept.uri.startswith("http://data.europa.eu/esco/skill/") for concept in read.concepts)
    e_services = next(
        concept for concept in read.concepts if concept.preferred_label == "engage in citizenship through digital technologies"
    )
    assert "use e-services" in e_services.alt_labels  # this collection separates alt labels with " | "
    assert all(" | " not in label for concept in read.concepts for label in concept.alt_labels)


def test_reads_the_occupations_with_multiline_alt_labels() -> None:
    read = read_esco_csv(_require(OCCUPATIONS))
    assert len(read.concepts) > 2900
    assert read.skipped_rows == 0
    director = next(concept for concept in read.concepts if concept.preferred_label == "technical director")
    assert director.uri == "http://data.europa.eu/esco/occupation/00030d09-2b3a-4efd-87cc-c4ea39d27c34"
    assert "head of technical" in director.alt_labels
    assert all("\n" not in label for concept in read.concepts for label in concept.labels)


def test_merging_the_real_files_keeps_every_label_unique_and_is_repeatable(tmp_path: Path) -> None:
    concepts = [*read_esco_csv(_require(ICT_SKILLS)).concepts, *read_esco_csv(_require(OCCUPATIONS)).concepts]
    base = load_taxonomy()
    result = merge_esco(base, concepts)
    assert result.concepts == len(concepts)
    assert result.matched > 0 and result.added > 2000
    merged = result.taxonomy  # built by SkillTaxonomy, which refuses any label with two owners
    assert len(merged) == len(base) + result.added
    assert all(skill.category is SkillCategory.ESCO for skill in merged.all() if skill.skill_id.startswith("esco-"))
    assert merged.normalise("k8s").skill_id == "kubernetes"  # canonical labels keep their owners
    assert merged.normalise("chef").skill_id == "chef"
    data_science = merged.get("data-science")
    assert data_science is not None and data_science.esco_uris  # the ESCO occupation "data scientist"
    technical_director = merged.normalise("head of technical")
    assert technical_director.skill_id == "esco-occupation-00030d09-2b3a-4efd-87cc-c4ea39d27c34"
    assert technical_director.category is SkillCategory.ESCO

    again = merge_esco(merged, concepts)
    assert again.added == 0
    assert again.aliases_added == 0
    assert len(again.taxonomy) == len(merged)


def test_operator_command_on_the_real_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "skills-esco.tsv"
    assert main([str(_require(ICT_SKILLS)), str(_require(OCCUPATIONS)), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "concepts read:     2963" in printed
    taxonomy = load_taxonomy(output)
    assert taxonomy.normalise("technical director").category is SkillCategory.ESCO
    cv = "I like to go the extra mile. Skills: Kubernetes, Go, Terraform."
    assert {suggestion.skill_id for suggestion in taxonomy.suggest(cv)} == {"kubernetes", "go", "terraform"}
