"""The index document every engine builds from one description (chalicelib/matching/document.py)."""

from __future__ import annotations

import json

from hypothesis import given

from chalicelib.matching import document as doc
from chalicelib.matching.candidates import Candidate, candidate_from
from chalicelib.matching.document import document_fields, plain_words, stored_candidate
from chalicelib.matching.filters import filter_values
from tests.strategies import candidates
from tests.unit.test_matching_candidates import RESUME, profile


def test_a_candidate_gives_a_value_for_every_declared_field_and_no_other() -> None:
    fields = document_fields(candidate_from(profile(), RESUME))
    declared = {
        doc.USER_ID,
        doc.CANDIDATE,
        *doc.KEYWORD_SKILL_FIELDS,
        *doc.TEXT_FIELDS,
        *doc.KEYWORD_FILTER_FIELDS,
        *doc.INTEGER_FILTER_FIELDS,
    }
    assert set(fields) == declared
    assert fields[doc.SKILLS] == ["kubernetes", "text:our in-house deployer", "terraform"]
    assert fields[doc.SKILL_TEXT] == "Kubernetes Our in-house deployer Terraform"
    assert fields[doc.TITLE] == "Platform engineer" and fields[doc.BODY].startswith("Kubernetes on AWS\n")


@given(candidates())
def test_the_stored_candidate_comes_back_whole_and_the_filter_fields_are_its_filter_values(candidate: Candidate) -> None:
    fields = json.loads(json.dumps(document_fields(candidate)))  # as any engine stores it: JSON
    assert stored_candidate(fields[doc.CANDIDATE]) == candidate
    values = filter_values(candidate)
    assert (fields[doc.RATE_CURRENCY], fields[doc.RATE_MINOR], fields[doc.AVAILABLE_FROM_DAY]) == (
        values.rate_currency,
        values.rate_minor,
        values.available_from_day,
    )
    assert (tuple(fields[doc.LANGUAGES]), fields[doc.REMOTE_PREFERENCE], fields[doc.COUNTRY]) == (
        values.language_keys,
        values.remote_preference,
        values.country,
    )


def test_query_syntax_becomes_plain_words() -> None:
    assert plain_words('title:"x" AND (NOT k8s^100 -engineer) C++/Node.js') == "title x AND NOT k8s 100 engineer C Node js"
