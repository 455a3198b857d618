"""The optional ``Embedder`` port, and the text of a candidate and of an assignment that gets embedded.

Off by default (``EMBEDDER=none``): the matching must be good on skills and text alone, and vectors only
add a share of the fused relevance (chalicelib/matching/fusion.py). What is embedded is defined here once,
so that every engine and every adapter embeds the same text.

Protected attributes never enter a vector: a candidate's text is their title, summary, skill names and
experience (roles and descriptions) — no name, contact data, age, nationality or place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chalicelib.domain.assignments import Assignment
from chalicelib.errors import UpstreamUnavailable
from chalicelib.matching.candidates import Candidate


class Embedder(Protocol):
    @property
    def model_id(self) -> str:
        """The model the vectors come from, recorded with each match run."""

    @property
    def dimension(self) -> int:
        """The length of every vector this embedder returns."""

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        """One vector per text, in order. Texts must not be blank (there is nothing to embed).
        Raises ``EmbeddingUnavailable`` when the model cannot be reached or refuses."""


class EmbeddingUnavailable(UpstreamUnavailable):
    """The embedding model failed; callers carry on without vectors."""

    title = "Embeddings temporarily unavailable"


def vector_space(embedder: Embedder) -> str:
    """Vectors are comparable only within one model and dimension: this names that space."""
    return f"{embedder.model_id}/{embedder.dimension}"


def candidate_text(candidate: Candidate) -> str:
    """What a candidate's vector stands for: what they do and have done, in their own words."""
    skills = ", ".join(s.name for s in candidate.skills)
    return _joined([candidate.title, candidate.summary, skills, candidate.experience])


def assignment_text(assignment: Assignment) -> str:
    """What an assignment's vector stands for: its title, description and the skills it asks for."""
    skills = ", ".join(s.name for s in [*assignment.required_skills, *assignment.nice_to_have_skills])
    return _joined([assignment.title, assignment.description, skills])


def _joined(parts: Sequence[str]) -> str:
    return "\n".join(part.strip() for part in parts if part and part.strip())
