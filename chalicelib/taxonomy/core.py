"""The skill taxonomy in memory: canonical skills, their labels, and the two ways of finding them.

``normalise`` resolves one skill as a person typed it ("k8s", "Node.JS", "MSSQL"); ``suggest`` finds every
skill mentioned in a longer text such as a CV. Both work on the same token keys, so a label that normalises
to a skill is also what ``suggest`` recognises in prose, except where a label is marked ambiguous.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

MAX_SKILL_TEXT_LENGTH = 100
"""Free-text skills are cut to this many characters (a skill is a name, not a paragraph)."""

SKILL_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# A token is a run of letters/digits with any trailing "+" or "#" (so "c", "c++", "c#" and "f#" stay apart),
# or such a run with a leading "." when the dot does not follow a letter or digit (".net", but "asp.net" is
# "asp" "net"). Everything else separates tokens, which is what makes "Node.JS", "node js" and "node-js" equal.
_TOKEN_RE = re.compile(r"(?<![^\W_])\.[^\W_]+[+#]*|[^\W_]+[+#]*")
_VERSION_TOKEN_RE = re.compile(r"^v?\d+[+x]?$")
_PARENTHETICAL_RE = re.compile(r"\s*[(\[][^)\]]*[)\]]")
_WHITESPACE_RE = re.compile(r"\s+")
# Characters allowed between the tokens of one multi-word mention in prose; a comma or a colon between
# "Node" and "JS" means two list items, not "Node.js".
_JOINING_GAP_RE = re.compile(r"[\s\-./_&'\u2019]{0,6}")
_GENERIC_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("programming", "language"),
    ("programming",),
    ("language",),
    ("lang",),
    ("framework",),
    ("library",),
    ("development",),
    ("skills",),
)
_STRONG_SEPARATORS = frozenset(",;/|()[]{}:*-\u2022\u00b7\u25aa\u25cf\u25e6\u2013\u2014")
_WORD_SEPARATORS = frozenset({"and", "or"})


class TaxonomyError(ValueError):
    """The skill data is inconsistent: a duplicate id, an invalid id, or one label claimed by two skills."""


class SkillCategory(StrEnum):
    SOFTWARE = "software"
    CLOUD = "cloud"
    DATA = "data"
    SECURITY = "security"
    MANAGEMENT = "management"
    FINANCE = "finance"
    ENGINEERING = "engineering"
    DESIGN = "design"
    ESCO = "esco"  # concepts imported from ESCO that match no canonical skill


class ProseRule(StrEnum):
    """When ``suggest`` may recognise a label in running text (``normalise`` always accepts every label)."""

    ANY = "any"
    CASE = "case"  # only written with the label's capitals: "Excel", "Spring", "React" (not "excel at", "react to")
    CONTEXT = "context"  # CASE, and only as a list item: "Go, Python", "Languages: R", a line of its own


@dataclass(frozen=True, slots=True)
class Label:
    text: str
    prose: ProseRule = ProseRule.ANY


@dataclass(frozen=True, slots=True)
class Skill:
    """A canonical skill. ``labels`` holds the name first, then aliases, abbreviations and spelling variants."""

    skill_id: str
    name: str
    category: SkillCategory
    labels: tuple[Label, ...]
    esco_uris: tuple[str, ...] = ()

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(label.text for label in self.labels if label.text != self.name)


@dataclass(frozen=True, slots=True)
class NormalisedSkill:
    """One skill as the user gave it: canonical when known (``skill_id`` set), otherwise the cleaned free text.

    ``name`` is what to show and store: the canonical name, or the free text itself. ``text`` is the cleaned
    input, kept so a UI can show what the person typed.
    """

    skill_id: str | None
    name: str
    category: SkillCategory | None
    text: str

    @property
    def known(self) -> bool:
        return self.skill_id is not None


@dataclass(frozen=True, slots=True)
class SkillSuggestion:
    """A skill found in a text: how often it is mentioned and the distinct ways it was written (at most five)."""

    skill_id: str
    name: str
    category: SkillCategory
    count: int
    mentions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    skill_id: str
    prose: ProseRule
    # Original-case token sequences of the labels that carry a prose rule; a mention must have their capitals.
    case_forms: tuple[tuple[str, ...], ...]


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    entry: _Entry | None = None


def tokens(text: str) -> list[str]:
    """The case-folded tokens of ``text``: the unit every label and every lookup is compared by."""
    return [token.casefold() for token in _TOKEN_RE.findall(unicodedata.normalize("NFKC", text))]


def label_key(text: str) -> str:
    """The lookup key of a label: its tokens joined by one space ("" when it has none)."""
    return " ".join(tokens(text))


def _compact(key: str) -> str:
    return key.replace(" ", "")


def clean_skill_text(text: str) -> str:
    """Free text as stored: NFC, without control or format characters, whitespace collapsed, length-bounded."""
    text = unicodedata.normalize("NFC", text)
    kept = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif unicodedata.category(char) not in {"Cc", "Cf", "Cs"}:
            kept.append(char)
    text = "".join(kept)
    text = _WHITESPACE_RE.sub(" ", text).strip()
    if len(text) > MAX_SKILL_TEXT_LENGTH:
        text = text[:MAX_SKILL_TEXT_LENGTH].rstrip()
    return text


def _rule_strength(rule: ProseRule) -> int:
    return (ProseRule.ANY, ProseRule.CASE, ProseRule.CONTEXT).index(rule)


class SkillTaxonomy:
    """An immutable set of canonical skills with case- and punctuation-tolerant lookup.

    Construction validates the data: ids are lowercase slugs and unique, and no label (nor its spacing-free
    form, "nodejs" for "Node.js") belongs to two skills. Raises ``TaxonomyError`` otherwise.
    """

    def __init__(self, skills: Iterable[Skill]) -> None:
        self._by_id: dict[str, Skill] = {}
        self._exact: dict[str, str] = {}
        self._compact: dict[str, str] = {}
        self._by_uri: dict[str, str] = {}
        problems: list[str] = []
        for skill in skills:
            if not SKILL_ID_PATTERN.match(skill.skill_id):
                problems.append(f"invalid id {skill.skill_id!r}")
            if skill.skill_id in self._by_id:
                problems.append(f"duplicate id {skill.skill_id!r}")
                continue
            self._by_id[skill.skill_id] = skill
            for uri in skill.esco_uris:
                self._by_uri.setdefault(uri, skill.skill_id)
            for label in skill.labels:
                problems.extend(self._claim(skill.skill_id, label.text))
        if problems:
            raise TaxonomyError("; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))
        self._trie = self._build_trie()

    @cached_property
    def version(self) -> str:
        """A fingerprint of the skills and their labels: match runs record which taxonomy ranked them."""
        digest = hashlib.sha256()
        for skill_id in sorted(self._by_id):
            skill = self._by_id[skill_id]
            digest.update("\x1f".join([skill_id, *(label.text for label in skill.labels)]).encode() + b"\x1e")
        return digest.hexdigest()[:16]

    def _claim(self, skill_id: str, text: str) -> list[str]:
        key = label_key(text)
        if not key:
            return [f"{skill_id}: label {text!r} has no letters or digits"]
        problems = []
        owner = self._exact.setdefault(key, skill_id)
        if owner != skill_id:
            problems.append(f"label {text!r} of {skill_id!r} is already a label of {owner!r}")
        compact_owner = self._compact.setdefault(_compact(key), skill_id)
        if compact_owner != skill_id:
            problems.append(f"label {text!r} of {skill_id!r} reads like a label of {compact_owner!r} without its spaces")
        return problems

    def _build_trie(self) -> dict[str, _Node]:
        owners: dict[tuple[str, ...], str] = {}
        strictest: dict[tuple[str, ...], ProseRule] = {}
        case_forms: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for skill in self._by_id.values():
            for label in skill.labels:
                original = tuple(_TOKEN_RE.findall(unicodedata.normalize("NFKC", label.text)))
                path = tuple(token.casefold() for token in original)
                owners[path] = skill.skill_id
                if _rule_strength(label.prose) > _rule_strength(strictest.get(path, ProseRule.ANY)):
                    strictest[path] = label.prose
                if label.prose is not ProseRule.ANY:
                    case_forms.setdefault(path, []).append(original)
                compact = "".join(path)
                # "nodejs" in prose is the label "Node.js" written without its dot; only for unambiguous labels,
                # since a joined form cannot be compared with the label's capitals.
                if label.prose is ProseRule.ANY and len(path) > 1 and tokens(compact) == [compact]:
                    owners.setdefault((compact,), skill.skill_id)
        root: dict[str, _Node] = {}
        for path, skill_id in owners.items():
            level = root
            node = _Node()
            for token in path:
                node = level.setdefault(token, _Node())
                level = node.children
            rule = strictest.get(path, ProseRule.ANY)
            node.entry = _Entry(skill_id, rule, tuple(case_forms.get(path, ())) if rule is not ProseRule.ANY else ())
        return root

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, skill_id: object) -> bool:
        return skill_id in self._by_id

    def get(self, skill_id: str) -> Skill | None:
        return self._by_id.get(skill_id)

    def all(self) -> tuple[Skill, ...]:
        """Every skill, ordered by id."""
        return tuple(self._by_id[skill_id] for skill_id in sorted(self._by_id))

    def by_category(self) -> dict[SkillCategory, tuple[Skill, ...]]:
        """The populated categories in their declared order, each with its skills ordered by name."""
        grouped: dict[SkillCategory, list[Skill]] = {}
        for skill in self._by_id.values():
            grouped.setdefault(skill.category, []).append(skill)
        return {
            category: tuple(sorted(grouped[category], key=lambda skill: (skill.name.casefold(), skill.skill_id)))
            for category in SkillCategory
            if category in grouped
        }

    def by_esco_uri(self, uri: str) -> Skill | None:
        skill_id = self._by_uri.get(uri)
        return self._by_id[skill_id] if skill_id else None

    def resolve(self, label: str) -> Skill | None:
        """The skill whose label this is, exactly (ignoring case, spacing and punctuation), without fallbacks."""
        key = label_key(label)
        if not key:
            return None
        skill_id = self._exact.get(key) or self._compact.get(_compact(key))
        return self._by_id[skill_id] if skill_id else None

    def owner_of(self, label: str) -> str | None:
        """The id of the skill that claims this label or its spacing-free form (what a new label would collide with)."""
        key = label_key(label)
        return self._exact.get(key) or self._compact.get(_compact(key)) if key else None

    def normalise(self, text: str) -> NormalisedSkill:
        """Resolve one skill name as a person typed it; unknown skills come back as cleaned free text.

        Tolerates case, spacing and punctuation ("node js", "Node.JS", "nodejs"), a trailing version
        ("Python 3.11", "SQL Server 2019"), a parenthetical ("Go (programming language)") and a generic
        suffix ("R programming", "Spring framework"). Raises ``ValueError`` for text with nothing in it.
        """
        cleaned = clean_skill_text(text)
        if not cleaned:
            raise ValueError("A skill needs a name.")
        skill = self._lookup(cleaned)
        if skill is None:
            return NormalisedSkill(skill_id=None, name=cleaned, category=None, text=cleaned)
        return NormalisedSkill(skill_id=skill.skill_id, name=skill.name, category=skill.category, text=cleaned)

    def _lookup(self, cleaned: str) -> Skill | None:
        variants = [cleaned]
        without_parenthetical = _PARENTHETICAL_RE.sub("", cleaned).strip()
        if without_parenthetical and without_parenthetical != cleaned:
            variants.append(without_parenthetical)
        for variant in variants:
            found = self.resolve(variant)
            if found:
                return found
            words = tokens(variant)
            while len(words) > 1 and _VERSION_TOKEN_RE.match(words[-1]):
                words = words[:-1]
                found = self.resolve(" ".join(words))
                if found:
                    return found
            for suffix in _GENERIC_SUFFIXES:
                if len(words) > len(suffix) and tuple(words[-len(suffix) :]) == suffix:
                    found = self.resolve(" ".join(words[: -len(suffix)]))
                    if found:
                        return found
        return None

    def suggest(self, text: str, limit: int = 50) -> list[SkillSuggestion]:
        """The skills mentioned in ``text``, most mentioned first (ties: first mentioned first).

        Longest labels win ("Microsoft SQL Server" over "SQL"); a label marked ``CASE`` counts only when written
        with its capitals, one marked ``CONTEXT`` only as a list item (see ``ProseRule``), so the verb in
        "we go live" is not the language Go while "Golang" and "Languages: Go, Rust" are.
        """
        if limit < 0:
            raise ValueError("limit must not be negative")
        text = unicodedata.normalize("NFKC", text)
        found = list(_TOKEN_RE.finditer(text))
        folded = [match.group().casefold() for match in found]
        counts: dict[str, int] = {}
        first_seen: dict[str, int] = {}
        mentions: dict[str, list[str]] = {}
        root = self._trie
        total = len(folded)
        index = 0
        while index < total:
            node = root.get(folded[index])
            if node is None:
                index += 1
                continue
            candidates: list[tuple[int, _Entry]] = []
            last = index
            while True:
                if node.entry is not None:
                    candidates.append((last, node.entry))
                following = last + 1
                if following >= total or not node.children:
                    break
                child = node.children.get(folded[following])
                if child is None or not _JOINING_GAP_RE.fullmatch(text, found[last].end(), found[following].start()):
                    break
                node, last = child, following
            accepted: tuple[int, _Entry] | None = None
            for end, entry in reversed(candidates):
                if entry.prose is ProseRule.ANY or self._acceptable_in_prose(entry, text, found, index, end):
                    accepted = (end, entry)
                    break
            if accepted is None:
                index += 1
                continue
            end, entry = accepted
            skill_id = entry.skill_id
            counts[skill_id] = counts.get(skill_id, 0) + 1
            first_seen.setdefault(skill_id, index)
            written = mentions.setdefault(skill_id, [])
            if len(written) < 5:
                mention = _WHITESPACE_RE.sub(" ", text[found[index].start() : found[end].end()])
                if mention not in written:
                    written.append(mention)
            index = end + 1
        ranked = sorted(counts, key=lambda skill_id: (-counts[skill_id], first_seen[skill_id]))[:limit]
        suggestions = []
        for skill_id in ranked:
            skill = self._by_id[skill_id]
            suggestions.append(SkillSuggestion(skill_id, skill.name, skill.category, counts[skill_id], tuple(mentions[skill_id])))
        return suggestions

    @staticmethod
    def _acceptable_in_prose(entry: _Entry, text: str, found: list[re.Match[str]], start: int, end: int) -> bool:
        written = [match.group() for match in found[start : end + 1]]
        if not any(_has_capitals_of(written, form) for form in entry.case_forms):
            return False
        if entry.prose is ProseRule.CASE:
            return True
        before = _context_before(text, found[start].start())
        after = _context_after(text, found[end].end())
        if before is None or after is None:
            return False
        return "strong" in (before, after) or (before == "line" and after == "line")


def _has_capitals_of(written: list[str], form: tuple[str, ...]) -> bool:
    if len(written) != len(form):
        return False
    for mention, label in zip(written, form, strict=True):
        if len(mention) != len(label):
            return False
        if any(wanted.isupper() and not got.isupper() for got, wanted in zip(mention, label, strict=True)):
            return False
    return True


def _context_before(text: str, position: int) -> str | None:
    position -= 1
    while position >= 0 and text[position] in " \t":
        position -= 1
    if position < 0 or text[position] in "\r\n":
        return "line"
    char = text[position]
    if char in _STRONG_SEPARATORS:
        return "strong"
    if char == "&":
        return "word"
    start = position
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    return "word" if text[start : position + 1].casefold() in _WORD_SEPARATORS else None


def _context_after(text: str, position: int) -> str | None:
    length = len(text)
    while position < length and text[position] in " \t":
        position += 1
    if position >= length or text[position] in "\r\n":
        return "line"
    char = text[position]
    if char in _STRONG_SEPARATORS:
        return "strong"
    if char in ".&":
        return "word"
    end = position
    while end < length and text[end].isalpha():
        end += 1
    return "word" if text[position:end].casefold() in _WORD_SEPARATORS else None


@dataclass(slots=True)
class _Draft:
    name: str
    category: SkillCategory
    labels: list[Label]
    esco_uris: list[str]


class TaxonomyBuilder:
    """Assembles a taxonomy label by label, refusing (not raising on) labels another skill already claims.

    Used to merge ESCO concepts and an operator's taxonomy file into the built-in one, where a collision is an
    expected outcome to count and report, not a data error.
    """

    def __init__(self, skills: Iterable[Skill] = ()) -> None:
        self._drafts: dict[str, _Draft] = {}
        self._exact: dict[str, str] = {}
        self._compact: dict[str, str] = {}
        self._ambiguous: set[str] = set()  # exact keys of labels marked CASE or CONTEXT
        for skill in skills:
            self.put(skill)

    def __contains__(self, skill_id: object) -> bool:
        return skill_id in self._drafts

    def owner_of(self, label: str) -> str | None:
        key = label_key(label)
        return self._exact.get(key) or self._compact.get(_compact(key)) if key else None

    def unambiguous_owner_of(self, label: str) -> str | None:
        """Like ``owner_of``, but None when the label is marked ambiguous ("Chef" the tool is not the cook)."""
        key = label_key(label)
        return None if key in self._ambiguous else self.owner_of(label)

    def put(self, skill: Skill) -> list[str]:
        """Add ``skill``, replacing any skill with its id; returns the labels refused because others own them."""
        self.remove(skill.skill_id)
        self._drafts[skill.skill_id] = _Draft(skill.name, skill.category, [], list(skill.esco_uris))
        return [label.text for label in skill.labels if not self.add_label(skill.skill_id, label, keep_variants=True)]

    def remove(self, skill_id: str) -> None:
        if self._drafts.pop(skill_id, None) is None:
            return
        self._ambiguous -= {key for key, owner in self._exact.items() if owner == skill_id}
        self._exact = {key: owner for key, owner in self._exact.items() if owner != skill_id}
        self._compact = {key: owner for key, owner in self._compact.items() if owner != skill_id}

    def add_skill(self, skill_id: str, name: str, category: SkillCategory, prose: ProseRule = ProseRule.ANY) -> bool:
        """Start a new skill named ``name``; False (and nothing added) when the id exists or the name is taken."""
        if skill_id in self._drafts or not label_key(name) or self.owner_of(name) is not None:
            return False
        self._drafts[skill_id] = _Draft(name, category, [], [])
        self.add_label(skill_id, Label(name, prose))
        return True

    def add_label(self, skill_id: str, label: Label, keep_variants: bool = False) -> bool:
        """Give ``skill_id`` this label; False when the label is empty or belongs to another skill.

        A label the skill already has under another spelling ("java" for "Java") is only kept with
        ``keep_variants``: a variant from elsewhere must not change how the skill's own label is found in prose.
        """
        draft = self._drafts[skill_id]
        key = label_key(label.text)
        if not key:
            return False
        compact = _compact(key)
        if self._exact.get(key, skill_id) != skill_id or self._compact.get(compact, skill_id) != skill_id:
            return False
        if key in self._exact and not keep_variants:
            return True
        self._exact[key] = skill_id
        self._compact[compact] = skill_id
        if label.prose is not ProseRule.ANY:
            self._ambiguous.add(key)
        if all(existing.text != label.text for existing in draft.labels):
            draft.labels.append(label)
        return True

    def add_esco_uri(self, skill_id: str, uri: str) -> None:
        uris = self._drafts[skill_id].esco_uris
        if uri not in uris:
            uris.append(uri)

    def build(self) -> SkillTaxonomy:
        return SkillTaxonomy(
            Skill(skill_id, draft.name, draft.category, tuple(draft.labels), tuple(draft.esco_uris))
            for skill_id, draft in self._drafts.items()
        )
