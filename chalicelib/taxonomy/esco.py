"""Import ESCO (the European skills, competences and occupations classification) into the skill taxonomy.

Reads ESCO's official CSV export: one concept per row with at least ``conceptUri`` and ``preferredLabel``;
``altLabels`` and ``hiddenLabels`` hold several labels separated by newlines inside the quoted field (ESCO's
collection files, such as ``ictSkillsCollection_en.csv``, separate them with `` | `` instead; both are read).
Other columns are ignored, and a UTF-8 byte-order mark is tolerated.

Merging: a concept whose URI is already recorded on a skill, or whose preferred label, or else whose alt
labels (those no other imported concept shares), name exactly one canonical skill, gives that skill its
labels as aliases and records its URI; every other concept becomes a new skill with the id
``esco-<kind>-<uuid>`` taken from its URI. A label another skill already owns is left out, so the result never
maps one label to two skills. A one-word ESCO label is found by ``suggest`` only as a list item, since ESCO's
single words are often everyday ones ("extra", "host").

For the operator::

    python -m chalicelib.taxonomy.esco skills_en.csv [more.csv ...] [--output skills-esco.tsv]

prints what was read, matched and added, and writes the whole merged taxonomy, to be named by
``SKILL_TAXONOMY_FILE`` (see ``chalicelib.taxonomy``). Importing again into a merged taxonomy changes nothing.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from chalicelib.taxonomy.core import Label, ProseRule, SkillCategory, SkillTaxonomy, TaxonomyBuilder, label_key
from chalicelib.taxonomy.store import default_taxonomy, write_taxonomy_file

REQUIRED_COLUMNS = ("conceptUri", "preferredLabel")
ESCO_ID_PREFIX = "esco-"
MAX_LABEL_LENGTH = 200
_WHITESPACE_RE = re.compile(r"\s+")
_ESCO_PATH_RE = re.compile(r"/esco/(?P<kind>[A-Za-z]+)/(?P<code>[A-Za-z0-9.\-]+)/?$")


class EscoFormatError(ValueError):
    """The CSV is not an ESCO export (a required column is missing)."""


@dataclass(frozen=True, slots=True)
class EscoConcept:
    uri: str
    preferred_label: str
    alt_labels: tuple[str, ...] = ()
    hidden_labels: tuple[str, ...] = ()
    concept_type: str | None = None
    description: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """Preferred label first, then alt and hidden labels, without repeats."""
        return tuple(dict.fromkeys((self.preferred_label, *self.alt_labels, *self.hidden_labels)))


@dataclass(frozen=True, slots=True)
class EscoFile:
    concepts: tuple[EscoConcept, ...]
    skipped_rows: int  # rows without a URI or a preferred label, and repeats of a URI already read


@dataclass(frozen=True, slots=True)
class EscoMergeResult:
    taxonomy: SkillTaxonomy
    concepts: int
    matched: int
    added: int
    aliases_added: int
    labels_refused: int  # labels owned by another skill, or not usable as a label


def split_labels(value: str) -> tuple[str, ...]:
    """The labels of an ``altLabels``/``hiddenLabels`` field, whitespace collapsed, in order, without repeats."""
    labels: dict[str, None] = {}
    for line in value.splitlines():
        for part in line.split(" | "):
            label = _WHITESPACE_RE.sub(" ", part).strip()
            if label:
                labels[label] = None
    return tuple(labels)


def read_esco_csv(source: Path | TextIO) -> EscoFile:
    """Read the concepts of one ESCO CSV file (a path, or a text stream opened with ``newline=""``)."""
    if isinstance(source, Path):
        with source.open(encoding="utf-8-sig", newline="") as handle:
            return _read(handle)
    return _read(source)


def _read(handle: TextIO) -> EscoFile:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        raise EscoFormatError("The file is empty.")
    columns = {name.lstrip("\ufeff").strip(): index for index, name in enumerate(header)}
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise EscoFormatError(f"Not an ESCO CSV: missing column(s) {', '.join(missing)}.")

    def cell(row: list[str], name: str) -> str:
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else ""

    concepts: dict[str, EscoConcept] = {}
    skipped = 0
    for row in reader:
        uri = cell(row, "conceptUri").strip()
        preferred = _WHITESPACE_RE.sub(" ", cell(row, "preferredLabel")).strip()
        if not uri or not preferred or uri in concepts:
            skipped += 1
            continue
        concepts[uri] = EscoConcept(
            uri=uri,
            preferred_label=preferred,
            alt_labels=split_labels(cell(row, "altLabels")),
            hidden_labels=split_labels(cell(row, "hiddenLabels")),
            concept_type=cell(row, "conceptType").strip() or None,
            description=cell(row, "description").strip() or None,
        )
    return EscoFile(tuple(concepts.values()), skipped)


def esco_skill_id(uri: str) -> str:
    """A stable skill id for an ESCO concept: ``esco-skill-<uuid>``, ``esco-occupation-<uuid>``, ..."""
    match = _ESCO_PATH_RE.search(uri)
    if match:
        slug = re.sub(r"[^a-z0-9]+", "-", f"{match['kind']}-{match['code']}".lower()).strip("-")
        return ESCO_ID_PREFIX + slug
    return ESCO_ID_PREFIX + hashlib.sha256(uri.encode("utf-8")).hexdigest()[:20]


def _usable(label: str) -> bool:
    return bool(label_key(label)) and len(label) <= MAX_LABEL_LENGTH and "|" not in label and label[0] not in "^?"


def _label(text: str) -> Label:
    # ESCO's one-word labels are often everyday words ("extra", "host", "chef"); in prose only multi-word labels
    # are specific enough, so one-word labels are found only as list items.
    return Label(text, ProseRule.CONTEXT if len(label_key(text).split(" ")) == 1 else ProseRule.ANY)


def _canonical_owner(builder: TaxonomyBuilder, label: str) -> str | None:
    # Concepts match canonical skills only: not a skill made from another ESCO concept (ESCO repeats alt labels
    # across concepts, "pipe fitter" under several occupations), and not through an ambiguous label.
    owner = builder.unambiguous_owner_of(label)
    return owner if owner is not None and not owner.startswith(ESCO_ID_PREFIX) else None


def merge_esco(taxonomy: SkillTaxonomy, concepts: Iterable[EscoConcept], category: SkillCategory = SkillCategory.ESCO) -> EscoMergeResult:
    """Merge ESCO concepts into ``taxonomy`` (which is not changed) and return the merged taxonomy with counts."""
    concepts = list(concepts)
    builder = TaxonomyBuilder(taxonomy.all())
    # A label several concepts share ("operations manager" is an alt label of 22 occupations) identifies none.
    concepts_per_key = Counter(key for concept in concepts for key in {label_key(label) for label in concept.labels})
    owner_by_uri = {uri: skill.skill_id for skill in taxonomy.all() for uri in skill.esco_uris}
    seen = matched = added = aliases_added = refused = 0
    for concept in concepts:
        seen += 1
        labels = [label for label in concept.labels if _usable(label)]
        refused += len(concept.labels) - len(labels)
        target = owner_by_uri.get(concept.uri) or _canonical_owner(builder, concept.preferred_label)
        if target is None:
            distinctive = [label for label in labels if concepts_per_key[label_key(label)] == 1]
            owners = {owner for owner in (_canonical_owner(builder, label) for label in distinctive) if owner is not None}
            target = owners.pop() if len(owners) == 1 else None
        if target is not None:
            matched += 1
        else:
            skill_id = esco_skill_id(concept.uri)
            if skill_id in builder:
                target = skill_id
                matched += 1
            else:
                name = next((label for label in labels if builder.owner_of(label) is None), None)
                if name is None or not builder.add_skill(skill_id, name, category, _label(name).prose):
                    refused += len(labels)
                    continue
                target = skill_id
                added += 1
                labels = [label for label in labels if label != name]
        for text in labels:
            before = builder.owner_of(text)
            if not builder.add_label(target, _label(text)):
                refused += 1
            elif before is None:
                aliases_added += 1
        builder.add_esco_uri(target, concept.uri)
        owner_by_uri[concept.uri] = target
    return EscoMergeResult(builder.build(), seen, matched, added, aliases_added, refused)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.taxonomy.esco",
        description="Merge ESCO CSV files into the skill taxonomy and write the result (for SKILL_TAXONOMY_FILE).",
    )
    parser.add_argument("csv", nargs="+", type=Path, help="ESCO CSV export(s), e.g. skills_en.csv")
    parser.add_argument("--output", type=Path, default=Path("skills-esco.tsv"), help="where to write the merged taxonomy")
    parser.add_argument(
        "--category",
        choices=[category.value for category in SkillCategory],
        default=SkillCategory.ESCO.value,
        help="category of concepts that match no existing skill",
    )
    arguments = parser.parse_args(argv)

    concepts: list[EscoConcept] = []
    for path in arguments.csv:
        try:
            read = read_esco_csv(path)
        except (OSError, EscoFormatError, csv.Error, UnicodeDecodeError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 2
        print(f"{path}: {len(read.concepts)} concepts read, {read.skipped_rows} rows skipped")
        concepts.extend(read.concepts)

    base = default_taxonomy()
    result = merge_esco(base, concepts, SkillCategory(arguments.category))
    print(f"concepts read:     {result.concepts}")
    print(f"matched:           {result.matched} (their labels added as aliases of existing skills)")
    print(f"added:             {result.added} (new skills, category {arguments.category})")
    print(f"aliases added:     {result.aliases_added}")
    print(f"labels left out:   {result.labels_refused} (owned by another skill, or unusable)")
    sources = ", ".join(path.name for path in arguments.csv)
    write_taxonomy_file(
        result.taxonomy.all(),
        arguments.output,
        comment=f"Skill taxonomy: the built-in list merged with ESCO ({sources}).\nUse it by naming this file in SKILL_TAXONOMY_FILE.",
    )
    print(f"skills:            {len(base)} before, {len(result.taxonomy)} after; written to {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
