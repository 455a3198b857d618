"""What a search engine indexes for a candidate, and how the parts of a query weigh: one description
that every engine (embedded tantivy, OpenSearch) builds its schema, documents and queries from, so that
they cannot drift apart and rank alike on the same input.

Text fields are analysed alike in every engine: split at every character that is not a letter or a
digit, lower-cased, tokens of 40 bytes or more dropped, Snowball English stemming (tantivy's ``en_stem``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import TypeAdapter

from chalicelib.matching.candidates import Candidate, WantedSkill
from chalicelib.matching.filters import filter_values
from chalicelib.matching.index import TextQuery

LAYOUT_VERSION = 2
"""Of the fields below: raise it with any change of them. Engines keep each layout apart (a directory, a
versioned index name), so the next full reindex builds the new layout beside the old."""

# The candidate's id; each skill's exact key (canonical id, or "text:<free text>"), its core words
# ("microsoft excel") and every run of those words ("microsoft", "excel"), all keywords: what lets an
# assignment's skill find the consultant's written alike (candidates.WantedSkill).
USER_ID = "user_id"
SKILLS = "skills"
SKILL_CORES = "skill_cores"
SKILL_PARTS = "skill_parts"

# Stemmed English text: skill names as words, the title, and the summary with the experience.
TITLE = "title"
SKILL_TEXT = "skill_text"
BODY = "body"

# How a query weighs. Each wanted skill scores once, by the best of: the same skill (key, or written
# alike) or, weaker, its words among the consultant's skill names; required skills weigh more than
# nice-to-have ones. The assignment's title is compared with the consultant's, its description with
# their summary and experience (weak: prose shares many words by chance).
SAME_SKILL_BOOST = 2.0
SKILL_WORDS_BOOST = 1.0
REQUIRED_WEIGHT = 1.0
NICE_WEIGHT = 0.8
TITLE_BOOST = 1.5
DESCRIPTION_BOOST = 0.1

KEYWORD_SKILL_FIELDS = (SKILLS, SKILL_CORES, SKILL_PARTS)
TEXT_FIELDS = (SKILL_TEXT, TITLE, BODY)

# The hard constraints' values (chalicelib/matching/filters.py, FilterValues), filtered on, never scored.
RATE_CURRENCY = "rate_currency"
RATE_MINOR = "rate_minor"
AVAILABLE_FROM_DAY = "available_from_day"
LANGUAGES = "languages"
REMOTE_PREFERENCE = "remote_preference"
COUNTRY = "country"
KEYWORD_FILTER_FIELDS = (RATE_CURRENCY, LANGUAGES, REMOTE_PREFERENCE, COUNTRY)
INTEGER_FILTER_FIELDS = (RATE_MINOR, AVAILABLE_FROM_DAY)

# The candidate itself, stored (not searched) so that a hit needs no read of the tables.
CANDIDATE = "candidate"

# The candidate embedded, where an engine keeps vectors (fused with the text by chalicelib/matching/fusion.py).
VECTOR = "embedding"

_CANDIDATE = TypeAdapter(Candidate)


def document_fields(candidate: Candidate) -> dict[str, Any]:
    """The candidate's value for every indexed field (JSON types: strings, integers, lists, and the
    candidate as a JSON object)."""
    values = filter_values(candidate)
    return {
        USER_ID: candidate.user_id,
        SKILLS: [s.key for s in candidate.skills],
        SKILL_CORES: [s.core for s in candidate.skills],
        SKILL_PARTS: sorted({part for s in candidate.skills for part in s.parts}),
        SKILL_TEXT: " ".join(s.name for s in candidate.skills),
        TITLE: candidate.title,
        BODY: "\n".join([candidate.summary, candidate.experience]),
        RATE_CURRENCY: values.rate_currency,
        RATE_MINOR: values.rate_minor,
        AVAILABLE_FROM_DAY: values.available_from_day,
        LANGUAGES: list(values.language_keys),
        REMOTE_PREFERENCE: values.remote_preference,
        COUNTRY: values.country,
        CANDIDATE: _CANDIDATE.dump_python(candidate, mode="json"),
    }


def stored_candidate(data: Any) -> Candidate:
    """The candidate back from what ``document_fields`` stored under ``CANDIDATE``."""
    return _CANDIDATE.validate_python(data)


def plain_words(text: str) -> str:
    """The text of an assignment as words only: no engine's query language reaches the engine."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text).split())


# The query's parts, which each engine only translates into its own query language.


def weighted_skills(query: TextQuery) -> Iterator[tuple[WantedSkill, float]]:
    """Every wanted skill with the weight of its clause."""
    for skills, weight in ((query.required, REQUIRED_WEIGHT), (query.nice, NICE_WEIGHT)):
        for wanted in skills:
            yield wanted, weight


def same_skill_terms(wanted: WantedSkill) -> list[tuple[str, str]]:
    """The (field, keyword) terms that find a consultant's skill that is the wanted one, each scored with
    ``SAME_SKILL_BOOST``: the same key; a skill containing the wanted one's core as a run of words; a skill
    whose core is a run of the wanted one's (candidates.WantedSkill.found_in, as keywords)."""
    return [(SKILLS, wanted.key), (SKILL_PARTS, wanted.core), *((SKILL_CORES, part) for part in sorted(wanted.parts))]


def skill_words(wanted: WantedSkill) -> str:
    """The wanted skill's words, matched among the consultant's skill names with ``SKILL_WORDS_BOOST``:
    its core, without the generic words every other skill has too. Empty when it has none."""
    return plain_words(wanted.core)


def text_clauses(query: TextQuery) -> list[tuple[str, str, float]]:
    """(field, words, boost) for the query's prose: the title against the title, the description against
    summary and experience. Parts without words are left out."""
    parts = ((TITLE, query.title, TITLE_BOOST), (BODY, query.description, DESCRIPTION_BOOST))
    return [(field, words, boost) for field, text, boost in parts if (words := plain_words(text))]
