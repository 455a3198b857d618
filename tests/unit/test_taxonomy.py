"""The skill taxonomy: the built-in data, normalise, suggest, taxonomy files and the ESCO importer on small CSVs."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.taxonomy import (
    MAX_SKILL_TEXT_LENGTH,
    Label,
    ProseRule,
    Skill,
    SkillCategory,
    SkillTaxonomy,
    TaxonomyError,
    default_taxonomy,
    load_taxonomy,
    read_taxonomy_file,
    write_taxonomy_file,
)
from chalicelib.taxonomy.core import label_key
from chalicelib.taxonomy.esco import EscoConcept, esco_skill_id, main, merge_esco, read_esco_csv, split_labels
from chalicelib.taxonomy.store import BUILTIN_FILE

TAXONOMY = load_taxonomy()
SKILLS = TAXONOMY.all()
LABELS = [(skill.skill_id, label.text) for skill in SKILLS for label in skill.labels]
REPO = Path(__file__).resolve().parents[2]


# --- the built-in data -------------------------------------------------------------------------------------


def test_at_least_550_canonical_skills_and_every_category_but_esco_populated() -> None:
    assert len(TAXONOMY) >= 550
    counts = {category: len(skills) for category, skills in TAXONOMY.by_category().items()}
    assert set(counts) == set(SkillCategory) - {SkillCategory.ESCO}
    assert all(count >= 40 for count in counts.values()), counts


def test_ids_are_unique_lowercase_slugs() -> None:
    ids = [skill.skill_id for skill in read_taxonomy_file(BUILTIN_FILE)]
    assert len(ids) == len(set(ids))
    assert all(skill_id == skill_id.lower() and " " not in skill_id for skill_id in ids)


def test_no_label_belongs_to_two_skills() -> None:
    # SkillTaxonomy refuses collisions at construction; this states the rule on the raw file as well, for both
    # the label key and its spacing-free form ("node js" / "nodejs").
    owners: dict[str, set[str]] = {}
    for skill in read_taxonomy_file(BUILTIN_FILE):
        for label in skill.labels:
            key = label_key(label.text)
            owners.setdefault(key, set()).add(skill.skill_id)
            owners.setdefault("compact:" + key.replace(" ", ""), set()).add(skill.skill_id)
    collisions = {key: ids for key, ids in owners.items() if len(ids) > 1}
    assert collisions == {}


def test_a_collision_is_refused() -> None:
    skills = [
        Skill("java", "Java", SkillCategory.SOFTWARE, (Label("Java"),)),
        Skill("javascript", "JavaScript", SkillCategory.SOFTWARE, (Label("JavaScript"), Label("java"))),
    ]
    with pytest.raises(TaxonomyError, match="already a label"):
        SkillTaxonomy(skills)
    with pytest.raises(TaxonomyError, match="without its spaces"):
        SkillTaxonomy([skills[0], Skill("jav-a", "Jav A", SkillCategory.SOFTWARE, (Label("Jav A"),))])
    with pytest.raises(TaxonomyError, match="invalid id"):
        SkillTaxonomy([Skill("Not A Slug", "X", SkillCategory.SOFTWARE, (Label("X"),))])


def test_every_skill_is_found_by_its_name() -> None:
    for skill in SKILLS:
        assert TAXONOMY.normalise(skill.name).skill_id == skill.skill_id, skill.skill_id


def test_loading_is_lazy_and_cached() -> None:
    code = "import sys, chalicelib.taxonomy; print('chalicelib.taxonomy.esco' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    default_taxonomy.cache_clear()
    assert default_taxonomy() is default_taxonomy()


# --- normalise ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "skill_id"),
    [
        ("k8s", "kubernetes"),
        ("K8S", "kubernetes"),
        ("JS", "javascript"),
        ("ECMAScript", "javascript"),
        ("java script", "javascript"),
        ("MSSQL", "microsoft-sql-server"),
        ("SQL Server", "microsoft-sql-server"),
        ("ms sql server", "microsoft-sql-server"),
        ("SQL Server 2019", "microsoft-sql-server"),
        ("Postgres", "postgresql"),
        ("C#", "csharp"),
        ("c sharp", "csharp"),
        ("C++", "cpp"),
        ("C++17", "cpp"),
        ("C", "c"),
        ("F#", "fsharp"),
        (".NET", "dotnet"),
        (".NET 8", "dotnet"),
        ("dotnet", "dotnet"),
        ("ASP.NET Core", "aspnet"),
        ("Node.js", "nodejs"),
        ("nodejs", "nodejs"),
        ("node js", "nodejs"),
        ("Node.JS", "nodejs"),
        ("node-js", "nodejs"),
        ("Go", "go"),
        ("golang", "go"),
        ("Go (programming language)", "go"),
        ("R", "r"),
        ("R programming", "r"),
        ("Java", "java"),
        ("JavaScript", "javascript"),
        ("Python 3.11", "python"),
        ("Spring framework", "spring"),
        ("Excel", "microsoft-excel"),
        ("Swift", "swift"),
        ("SWIFT MT", "swift-payments"),
        ("SAS", "sas"),
        ("Rust", "rust"),
        ("CI/CD", "ci-cd"),
        ("cicd", "ci-cd"),
        ("S/4HANA", "sap-s4hana"),
        ("SAP FI/CO", "sap-fi-co"),
        ("IFRS", "ifrs"),
        ("PLC", "plc-programming"),
        ("Figma", "figma"),
        ("  terraform\t", "terraform"),
    ],
)
def test_normalise_known_skills(text: str, skill_id: str) -> None:
    result = TAXONOMY.normalise(text)
    assert result.skill_id == skill_id
    assert result.known
    skill = TAXONOMY.get(skill_id)
    assert skill is not None
    assert result.name == skill.name
    assert result.category is skill.category


def test_c_family_stays_distinct() -> None:
    ids = {TAXONOMY.normalise(text).skill_id for text in ("C", "C#", "C++", "F#", ".NET", "Objective-C", "VB.NET")}
    assert len(ids) == 7


def test_unknown_skills_are_kept_as_free_text() -> None:
    result = TAXONOMY.normalise("  Underwater   basket\nweaving ")
    assert result.skill_id is None
    assert result.category is None
    assert not result.known
    assert result.name == result.text == "Underwater basket weaving"


def test_free_text_is_bounded_and_cleaned() -> None:
    result = TAXONOMY.normalise("x" * 500 + "\u200b\x00")
    assert result.skill_id is None
    assert len(result.name) == MAX_SKILL_TEXT_LENGTH
    with pytest.raises(ValueError, match="needs a name"):
        TAXONOMY.normalise(" \t\n\u200b ")


_case_variants = st.sampled_from([str, str.lower, str.upper, lambda text: f"  {text}  ", lambda text: text.replace(" ", "  ")])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LABELS), _case_variants)
def test_every_label_normalises_to_its_skill(pair: tuple[str, str], variant: object) -> None:
    skill_id, text = pair
    assert callable(variant)
    assert TAXONOMY.normalise(variant(text)).skill_id == skill_id


@settings(max_examples=300)
@given(st.text(min_size=1, max_size=200))
def test_normalise_is_idempotent(text: str) -> None:
    try:
        first = TAXONOMY.normalise(text)
    except ValueError:
        return
    second = TAXONOMY.normalise(first.name)
    assert second.skill_id == first.skill_id
    assert second.name == first.name
    if first.skill_id is None:
        assert second == first
    assert 0 < len(first.name) <= MAX_SKILL_TEXT_LENGTH


# --- suggest -----------------------------------------------------------------------------------------------

CV = """Anna Lindqvist - Senior Backend Engineer

Summary
I build distributed systems in Go and Python. Let's go live: I like to go the extra mile, react quickly to
incidents and excel at mentoring. In 2021 we moved our monolith to microservices on Kubernetes (k8s) on
AWS EKS, with Terraform and GitHub Actions for CI/CD. Data lives in PostgreSQL and Redis.

Skills
Languages: Go, Python, TypeScript, C, C++, C#, R
Frameworks: Node.js, React, Django, Spring Boot, .NET 8
Methods: Scrum, Kanban, TDD

Experience
Acme AB (2019-2024), tech lead. Built a Golang event pipeline on Apache Kafka and nodejs services, introduced
test-driven development. Worked with the R&D department on a C-level report. Spring 2020: the team went remote.
We used Microsoft SQL Server (MSSQL) and Power BI; the reports were in Excel.
"""


def test_suggest_finds_the_skills_of_a_cv() -> None:
    suggestions = TAXONOMY.suggest(CV)
    counts = {suggestion.skill_id: suggestion.count for suggestion in suggestions}
    for skill_id in (
        "python",
        "kubernetes",
        "amazon-eks",
        "terraform",
        "github-actions",
        "ci-cd",
        "postgresql",
        "redis",
        "typescript",
        "c",
        "cpp",
        "csharp",
        "r",
        "nodejs",
        "react",
        "django",
        "spring-boot",
        "dotnet",
        "scrum",
        "kanban",
        "tdd",
        "kafka",
        "microsoft-sql-server",
        "power-bi",
        "microsoft-excel",
        "microservices",
    ):
        assert skill_id in counts, skill_id
    assert counts["python"] == 2
    assert counts["kubernetes"] == 2  # "Kubernetes (k8s)"
    assert counts["nodejs"] == 2  # "Node.js" and "nodejs"
    assert counts["microsoft-sql-server"] == 2  # the longest label wins over "SQL"
    assert "sql" not in counts
    assert "spring" not in counts  # "Spring 2020" is a season
    assert counts["go"] == 2  # "Languages: Go," and "Golang", not "in Go and", "go live" or "go the extra mile"
    assert counts["r"] == 1  # the list item, not "R&D"
    assert counts["c"] == 1  # the list item, not "C-level"
    assert [suggestion.count for suggestion in suggestions] == sorted((suggestion.count for suggestion in suggestions), reverse=True)
    kubernetes = next(suggestion for suggestion in suggestions if suggestion.skill_id == "kubernetes")
    assert kubernetes.mentions == ("Kubernetes", "k8s")


@pytest.mark.parametrize(
    "sentence",
    [
        "We go to the client every week and go live in May.",
        "Go to the settings page to change it.",
        "Let's go, team!",
        "Ready, set, go.",
        "I excel at stakeholder work and react calmly.",
        "Our R&D team met at the C-level.",
        "The Spring 2020 release was rushed.",
    ],
)
def test_ambiguous_words_in_english_prose_are_not_skills(sentence: str) -> None:
    found = {suggestion.skill_id for suggestion in TAXONOMY.suggest(sentence)}
    assert found.isdisjoint({"go", "r", "c", "microsoft-excel", "react", "spring"}), found


@pytest.mark.parametrize(
    ("text", "skill_id"),
    [
        ("Golang", "go"),
        ("I write Golang services.", "go"),
        ("Languages: Go", "go"),
        ("Python, Go and Rust", "go"),
        ("Go\nPython\n", "go"),
        ("Statistics in R, SAS, SPSS", "sas"),
        ("Advanced Excel and VBA", "microsoft-excel"),
        ("We built the UI in React.", "react"),
    ],
)
def test_ambiguous_labels_are_found_in_clear_contexts(text: str, skill_id: str) -> None:
    assert skill_id in {suggestion.skill_id for suggestion in TAXONOMY.suggest(text)}


def test_suggest_does_not_join_list_items_into_one_label() -> None:
    found = {suggestion.skill_id for suggestion in TAXONOMY.suggest("Solar, Power, BI")}
    assert "power-bi" not in found
    assert "business-intelligence" in found
    assert "power-bi" in {suggestion.skill_id for suggestion in TAXONOMY.suggest("Solar power, Power\nBI")}


def test_suggest_limit() -> None:
    assert len(TAXONOMY.suggest(CV, limit=3)) == 3
    assert TAXONOMY.suggest(CV, limit=0) == []
    assert TAXONOMY.suggest("") == []
    with pytest.raises(ValueError, match="limit"):
        TAXONOMY.suggest(CV, limit=-1)


_prose = st.lists(
    st.one_of(st.sampled_from([text for _, text in LABELS]), st.sampled_from(["and", "the", "go", ",", "\n", "R&D", "with", "C-level"])),
    max_size=40,
)


@settings(max_examples=200)
@given(_prose, st.sampled_from([" ", ", ", "; ", "\n", " / "]))
def test_suggest_never_returns_duplicates(words: list[str], separator: str) -> None:
    suggestions = TAXONOMY.suggest(separator.join(words))
    ids = [suggestion.skill_id for suggestion in suggestions]
    assert len(ids) == len(set(ids))
    assert all(suggestion.count >= 1 and suggestion.mentions for suggestion in suggestions)
    counts = [suggestion.count for suggestion in suggestions]
    assert counts == sorted(counts, reverse=True)


# --- taxonomy files and SKILL_TAXONOMY_FILE ----------------------------------------------------------------


def test_a_taxonomy_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "skills.tsv"
    write_taxonomy_file(SKILLS, path, comment="round trip")
    again = SkillTaxonomy(read_taxonomy_file(path))
    assert again.all() == SKILLS


def test_an_extra_file_overlays_the_builtin_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "extra.tsv"
    path.write_text(
        "id\tname\tcategory\taliases\tesco_uris\n"
        "kubernetes\tKubernetes\tcloud\tk8s | kube | Kubernetes orchestration\n"
        "underwater-welding\tUnderwater welding\tengineering\twet welding | k8s\n",  # "k8s" is taken: left out, no failure
        encoding="utf-8",
    )
    monkeypatch.setenv("SKILL_TAXONOMY_FILE", str(path))
    default_taxonomy.cache_clear()
    try:
        taxonomy = default_taxonomy()
        assert taxonomy.normalise("kubernetes orchestration").skill_id == "kubernetes"
        assert taxonomy.normalise("wet welding").skill_id == "underwater-welding"
        assert taxonomy.normalise("k8s").skill_id == "kubernetes"
        assert len(taxonomy) == len(TAXONOMY) + 1
        monkeypatch.setenv("SKILL_TAXONOMY_FILE", str(tmp_path / "missing.tsv"))
        default_taxonomy.cache_clear()
        with pytest.raises(TaxonomyError, match="not a file"):
            default_taxonomy()
    finally:
        default_taxonomy.cache_clear()


def test_a_bad_taxonomy_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("id\tname\tcategory\taliases\tesco_uris\nx\tX\tcooking\t\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"bad\.tsv:2: x: unknown category"):
        read_taxonomy_file(path)


# --- ESCO importer on a small CSV --------------------------------------------------------------------------

ESCO_CSV = (
    "\ufeffconceptType,conceptUri,preferredLabel,altLabels,description\r\n"
    'KnowledgeSkillCompetence,http://data.europa.eu/esco/skill/aaaa-1111,Kubernetes,"kubernetes orchestration\n'
    'K8s cluster management",Container orchestration.\r\n'
    'KnowledgeSkillCompetence,http://data.europa.eu/esco/skill/bbbb-2222,manage pipeline welding,"pipeline welding\n'
    'weld pipelines\nJava\nPython",Joining pipes.\r\n'
    "KnowledgeSkillCompetence,http://data.europa.eu/esco/skill/cccc-3333,use tarot cards,,Reading cards.\r\n"
    "KnowledgeSkillCompetence,,no uri,,\r\n"
)


def test_read_esco_csv_with_a_bom_and_multiline_alt_labels() -> None:
    read = read_esco_csv(io.StringIO(ESCO_CSV, newline=""))
    assert read.skipped_rows == 1
    assert [concept.preferred_label for concept in read.concepts] == ["Kubernetes", "manage pipeline welding", "use tarot cards"]
    first = read.concepts[0]
    assert first.uri == "http://data.europa.eu/esco/skill/aaaa-1111"
    assert first.alt_labels == ("kubernetes orchestration", "K8s cluster management")
    assert first.concept_type == "KnowledgeSkillCompetence"
    assert first.description == "Container orchestration."


def test_read_esco_csv_from_a_file_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "skills_en.csv"
    path.write_bytes(ESCO_CSV.encode("utf-8"))  # the BOM is in the text
    assert len(read_esco_csv(path).concepts) == 3


def test_esco_alt_labels_split_on_newlines_and_on_pipes() -> None:
    assert split_labels("a\nb  c\r\n\nd | e\na") == ("a", "b c", "d", "e")


def test_esco_ids_are_stable_and_derived_from_the_uri() -> None:
    assert esco_skill_id("http://data.europa.eu/esco/skill/14832d87-2f2f-4895") == "esco-skill-14832d87-2f2f-4895"
    assert esco_skill_id("urn:other:thing") == esco_skill_id("urn:other:thing")
    assert esco_skill_id("urn:other:thing").startswith("esco-")


def test_merge_esco_matches_adds_and_never_collides() -> None:
    concepts = read_esco_csv(io.StringIO(ESCO_CSV, newline="")).concepts
    result = merge_esco(TAXONOMY, concepts)
    assert (result.concepts, result.matched, result.added) == (3, 1, 2)
    merged = result.taxonomy
    kubernetes = merged.get("kubernetes")
    assert kubernetes is not None
    assert kubernetes.esco_uris == ("http://data.europa.eu/esco/skill/aaaa-1111",)
    assert merged.normalise("K8s cluster management").skill_id == "kubernetes"
    welding = merged.get("esco-skill-bbbb-2222")
    assert welding is not None
    assert welding.category is SkillCategory.ESCO
    assert merged.normalise("weld pipelines").skill_id == "esco-skill-bbbb-2222"
    # Alt labels naming two canonical skills match neither, and those labels stay with their owners.
    assert merged.normalise("Java").skill_id == "java"
    assert merged.normalise("Python").skill_id == "python"
    assert result.labels_refused == 2
    assert len(merged) == len(TAXONOMY) + 2
    assert TAXONOMY.get("esco-skill-bbbb-2222") is None  # the input taxonomy is unchanged
    again = merge_esco(merged, concepts)
    assert (again.matched, again.added, again.aliases_added) == (3, 0, 0)


def test_merge_esco_does_not_match_through_ambiguous_or_shared_labels() -> None:
    concepts = [
        EscoConcept("http://data.europa.eu/esco/occupation/1", "chef", ("cook",)),
        EscoConcept("http://data.europa.eu/esco/occupation/2", "mine manager", ("operations manager",)),
        EscoConcept("http://data.europa.eu/esco/occupation/3", "plant manager", ("operations manager",)),
    ]
    result = merge_esco(TAXONOMY, concepts)
    assert result.matched == 0
    assert result.taxonomy.normalise("cook").skill_id == "esco-occupation-1"
    assert result.taxonomy.normalise("chef").skill_id == "chef"  # the canonical label keeps its owner
    assert result.taxonomy.normalise("operations manager").skill_id == "operations-management"


def test_one_word_esco_labels_are_not_found_in_prose() -> None:
    concepts = [EscoConcept("http://data.europa.eu/esco/occupation/9", "film extra", ("extra",))]
    merged = merge_esco(TAXONOMY, concepts).taxonomy
    assert merged.normalise("extra").skill_id == "esco-occupation-9"
    assert "esco-occupation-9" not in {s.skill_id for s in merged.suggest("I go the extra mile.")}
    assert "esco-occupation-9" in {s.skill_id for s in merged.suggest("Roles: film extra, stand-in")}


def test_esco_command_writes_a_taxonomy_the_loader_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "skills_en.csv"
    source.write_bytes(ESCO_CSV.encode("utf-8"))
    output = tmp_path / "merged.tsv"
    assert main([str(source), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "concepts read:     3" in printed
    assert "matched:           1" in printed
    assert "added:             2" in printed
    merged = load_taxonomy(output)
    assert merged.normalise("weld pipelines").skill_id == "esco-skill-bbbb-2222"
    kubernetes = merged.get("kubernetes")
    assert kubernetes is not None and kubernetes.esco_uris


def test_esco_command_refuses_a_csv_that_is_not_esco(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "other.csv"
    source.write_text("name,label\nx,y\n", encoding="utf-8")
    assert main([str(source), "--output", str(tmp_path / "out.tsv")]) == 2
    assert "missing column(s) conceptUri, preferredLabel" in capsys.readouterr().err
    assert not (tmp_path / "out.tsv").exists()


def test_prose_rules_are_parsed_from_markers() -> None:
    go = TAXONOMY.get("go")
    assert go is not None
    assert Label("Go", ProseRule.CONTEXT) in go.labels
    excel = TAXONOMY.get("microsoft-excel")
    assert excel is not None
    assert Label("Excel", ProseRule.CASE) in excel.labels
