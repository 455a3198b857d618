"""Reading and writing taxonomy files, and the process-wide default taxonomy.

A taxonomy file is UTF-8 tab-separated text with the header ``id  name  category  aliases  esco_uris``;
blank lines and lines starting with ``#`` are ignored. ``aliases`` and ``esco_uris`` hold several values
separated by `` | ``. An alias may start with a marker that limits where ``suggest`` finds it in prose
(``normalise`` always accepts it): ``^`` = only written with its capitals (``^Excel``), ``?`` = with its
capitals and as a list item only (``?Go``). Marking the name itself is done by repeating it as a marked alias.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from chalicelib.taxonomy.core import Label, ProseRule, Skill, SkillCategory, SkillTaxonomy, TaxonomyBuilder, TaxonomyError

BUILTIN_FILE = Path(__file__).with_name("skills.tsv")
ENVIRONMENT_VARIABLE = "SKILL_TAXONOMY_FILE"
HEADER = ("id", "name", "category", "aliases", "esco_uris")
_SEPARATOR = " | "
_MARKERS = {"^": ProseRule.CASE, "?": ProseRule.CONTEXT}
_MARKER_OF = {rule: marker for marker, rule in _MARKERS.items()}


def read_taxonomy_file(path: Path) -> list[Skill]:
    """The skills in a taxonomy file, in file order. Raises ``TaxonomyError`` naming the line of a bad row."""
    skills: list[Skill] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header_seen = False
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if not header_seen:
                if tuple(field.strip() for field in fields[: len(HEADER)]) != HEADER:
                    raise TaxonomyError(f"{path}:{number}: expected the header {' / '.join(HEADER)}")
                header_seen = True
                continue
            try:
                skills.append(_parse_row(fields))
            except ValueError as exc:
                raise TaxonomyError(f"{path}:{number}: {exc}") from exc
    return skills


def _parse_row(fields: list[str]) -> Skill:
    if len(fields) < 3:
        raise ValueError("a row needs at least id, name and category")
    fields = [field.strip() for field in fields] + [""] * (len(HEADER) - len(fields))
    skill_id, name, category_text, aliases_text, uris_text = fields[: len(HEADER)]
    if not name:
        raise ValueError(f"{skill_id}: the name is empty")
    try:
        category = SkillCategory(category_text)
    except ValueError:
        raise ValueError(f"{skill_id}: unknown category {category_text!r}") from None
    labels: dict[str, Label] = {name: Label(name)}
    for alias in _split(aliases_text):
        rule = _MARKERS.get(alias[0], ProseRule.ANY)
        text = alias[1:].strip() if rule is not ProseRule.ANY else alias
        if text:
            labels[text] = Label(text, rule)
    return Skill(skill_id, name, category, tuple(labels.values()), tuple(_split(uris_text)))


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


def write_taxonomy_file(skills: Iterable[Skill], path: Path, comment: str = "") -> None:
    """Write ``skills`` in the taxonomy file format (labels that cannot be written in it are left out)."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines.append("\t".join(HEADER))
    for skill in skills:
        aliases = [
            _MARKER_OF.get(label.prose, "") + label.text
            for label in skill.labels
            if _writable(label.text) and (label.text != skill.name or label.prose is not ProseRule.ANY)
        ]
        row = (skill.skill_id, skill.name, skill.category.value, _SEPARATOR.join(aliases), _SEPARATOR.join(skill.esco_uris))
        lines.append("\t".join(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _writable(text: str) -> bool:
    return bool(text) and "|" not in text and "\t" not in text and "\n" not in text and text[0] not in _MARKERS and text == text.strip()


def load_taxonomy(extra_file: Path | None = None) -> SkillTaxonomy:
    """The built-in taxonomy, with the skills of ``extra_file`` laid over it.

    A skill in the extra file replaces the built-in skill with its id (so a file written by the ESCO importer,
    which holds every skill, works as is), other skills are added. An extra label another skill already owns is
    left out and logged rather than failing, so a newer built-in list cannot break an older operator file.
    """
    builtin = read_taxonomy_file(BUILTIN_FILE)
    if extra_file is None:
        return SkillTaxonomy(builtin)
    extra = read_taxonomy_file(extra_file)
    replaced = {skill.skill_id for skill in extra}
    builder = TaxonomyBuilder(skill for skill in builtin if skill.skill_id not in replaced)
    refused: list[str] = []
    for skill in extra:
        refused.extend(f"{skill.skill_id}: {text}" for text in builder.put(skill))
    if refused:
        from chalicelib.logging import logger

        logger.warning(
            "Skill taxonomy file: labels already owned by other skills were left out",
            extra={"file": str(extra_file), "refused": len(refused), "first": refused[:10]},
        )
    return builder.build()


@cache
def default_taxonomy() -> SkillTaxonomy:
    """The taxonomy the application uses, loaded on first use and kept for the life of the process.

    The built-in skill list, plus the file named by ``SKILL_TAXONOMY_FILE`` when that variable is set.
    """
    from chalicelib.settings import Settings

    extra = (Settings.from_environment().skill_taxonomy_file or "").strip()
    if extra and not Path(extra).is_file():
        raise TaxonomyError(f"{ENVIRONMENT_VARIABLE} names {extra}, which is not a file")
    return load_taxonomy(Path(extra) if extra else None)
