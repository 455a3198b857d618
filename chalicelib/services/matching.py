"""Matching: keeping the search index true to the consultants, and staff's match runs.

Only an active consultant with a saved profile and the platform-processing consent in force is indexed;
anything else (a withdrawal, a disabled or erased account, a deleted profile) removes them. Every change
to a consultant's profile, resume, account or consents reaches ``reindex_consultant`` from the main
table's stream; ``reindex_all`` rebuilds the index from the table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.domain.accounts import UserStatus
from chalicelib.domain.assignments import MAX_RECORDED, Assignment, AssignmentStatus, MatchRun, RankedEntry, candidate_ref
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.consent import ConsentPurpose, in_force
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import new_id
from chalicelib.errors import Conflict, NotFound
from chalicelib.logging import logger
from chalicelib.matching.candidates import Candidate, MatchReasons, adjusted_score, candidate_from, explain
from chalicelib.matching.embeddings import Embedder, EmbeddingUnavailable, assignment_text, candidate_text, vector_space
from chalicelib.matching.fusion import VECTOR_WEIGHT
from chalicelib.matching.index import Indexed, MatchIndex
from chalicelib.matching.ranking import RETRIEVE, RankedCandidate, rank, with_ratings
from chalicelib.services.accounts import ensure_staff
from chalicelib.services.assignments import AssignmentPorts, get_assignment
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.ports import AccountRepository, Changes, ConsentLedger, ProfileRepository, ReviewRepository

if TYPE_CHECKING:
    from chalicelib.taxonomy import SkillTaxonomy


@dataclass(frozen=True)
class IndexingPorts:
    accounts: AccountRepository
    profiles: ProfileRepository
    ledger: ConsentLedger
    index: MatchIndex
    embedder: Embedder | None = None  # off by default: the matching stands on skills and text alone
    # Skills normalised again at index time: a skill saved as free text before the taxonomy knew it
    # becomes findable by its canonical id at the next reindex (reindex-matching after a taxonomy update).
    taxonomy: SkillTaxonomy | None = None


def findable_candidate(ports: IndexingPorts, user_id: str) -> Candidate | None:
    """The consultant as the index should hold them, or None when they must not be findable."""
    user = ports.accounts.get_user(user_id)
    if user is None or user.status is not UserStatus.ACTIVE or Role.CONSULTANT not in user.roles:
        return None
    profile = ports.profiles.get_profile(user_id)
    if profile is None or not in_force(ports.ledger.list_for_subject(user_id), ConsentPurpose.PLATFORM_PROCESSING):
        return None
    candidate = candidate_from(profile, ports.profiles.list_resume_items(user_id))
    return candidate if ports.taxonomy is None else normalised(candidate, ports.taxonomy)


def normalised(candidate: Candidate, taxonomy: SkillTaxonomy) -> Candidate:
    """The candidate's skills with the ids the taxonomy gives their names now (a saved id is kept where the
    taxonomy has none: it was chosen knowingly)."""
    skills = tuple(dataclasses.replace(s, skill_id=taxonomy.normalise(s.name).skill_id or s.skill_id) for s in candidate.skills)
    return dataclasses.replace(candidate, skills=skills)


def reindex_consultant(ports: IndexingPorts, user_id: str) -> bool:
    """Upserts or removes one consultant; idempotent. Returns whether they are findable now."""
    candidate = findable_candidate(ports, user_id)
    if candidate is None:
        ports.index.delete(user_id)
        return False
    ports.index.upsert(candidate, _embedded(ports.embedder, candidate_text(candidate), user_id=user_id))
    return True


def _embedded(embedder: Embedder | None, text: str, **log_context: Any) -> tuple[float, ...] | None:
    """The text's vector, or None without an embedder, without text, or when the model fails: vectors only
    refine the ranking, so their absence must not stop the index from following the tables, nor a match."""
    if embedder is None or not text.strip():
        return None
    try:
        [vector] = embedder.embed([text])
    except EmbeddingUnavailable as exc:
        logger.warning("embedding failed, carrying on without a vector", extra={**log_context, "reason": exc.detail})
        return None
    return vector


def reindex_all(ports: IndexingPorts) -> int:
    """The index rebuilt from the tables (after a change of the taxonomy or of the index layout): searches
    go on answering from the old contents until the new ones are complete. Returns how many are findable.

    Changes that reach ``reindex_consultant`` from the stream while a rebuild runs are not lost: the
    rebuild reads each consultant after it started, and an engine that builds a new index aside
    (OpenSearch) also writes stream changes into that one until it is swapped in."""
    findable = 0

    def entries() -> Iterator[Indexed]:
        nonlocal findable
        for user in ports.accounts.list_consultants():
            candidate = findable_candidate(ports, user.user_id)
            if candidate is not None:
                findable += 1
                yield candidate, _embedded(ports.embedder, candidate_text(candidate), user_id=user.user_id)

    ports.index.rebuild(entries())
    return findable


@dataclass(frozen=True)
class MatchingPorts:
    assignments: AssignmentPorts
    indexing: IndexingPorts
    engine: str  # recorded with each run
    taxonomy_version: str
    reviews: ReviewRepository | None = None  # clients' ratings, a soft signal (ranking.with_ratings)


@dataclass(frozen=True)
class MatchPage:
    run: MatchRun
    items: list[RankedCandidate]


def run_match(
    ports: MatchingPorts, principal: Principal, assignment_id: str, *, limit: int, offset: int, min_required_coverage: float
) -> MatchPage:
    """Staff rank the candidates of a draft or open assignment. The run is recorded (engine, taxonomy,
    parameters, the ranked ids and scores), and each candidate shown is a staff read of a profile."""
    ensure_staff(principal)
    assignment = get_assignment(ports.assignments, principal, assignment_id)
    if assignment.status not in (AssignmentStatus.DRAFT, AssignmentStatus.OPEN):
        raise Conflict(f"A {assignment.status.value} assignment is not matched any more.")
    embedder = ports.indexing.embedder
    vector = _embedded(embedder, assignment_text(assignment), assignment_id=assignment_id)
    ranked = [r for r in rank(ports.indexing.index, assignment, vector) if r.reasons.required_coverage >= min_required_coverage]
    if ports.reviews is not None and ranked:
        ratings = ports.reviews.get_ratings([r.candidate.user_id for r in ranked])
        ranked = with_ratings(ranked, {user_id: (r.count, r.average) for user_id, r in ratings.items()})
    now = ports.assignments.accounts.now()
    run_id = new_id()
    run = MatchRun(
        assignment_id=assignment_id,
        run_id=run_id,
        at=now,
        run_by=principal.user_id,
        # Which vectors took part, if any: the engine and the embedding model's space.
        engine=f"{ports.engine}+{vector_space(embedder)}" if vector is not None and embedder is not None else ports.engine,
        taxonomy_version=ports.taxonomy_version,
        parameters={
            "retrieve": RETRIEVE,
            "min_required_coverage": min_required_coverage,
            "vector_weight": VECTOR_WEIGHT if vector is not None else 0.0,
        },
        ranked=tuple(RankedEntry(candidate_ref(run_id, r.candidate.user_id), r.score, r.relevance) for r in ranked[:MAX_RECORDED]),
        total=len(ranked),
    )
    page = ranked[offset : offset + limit]
    uow = ports.assignments.accounts.uow
    uow.commit(Changes().insert(run))
    record_staff_reads(uow, principal, now, AuditAction.PROFILE_READ, [Read(r.candidate.user_id, "match", run.run_id) for r in page])
    return MatchPage(run, page)


@dataclass(frozen=True)
class FittingAssignment:
    assignment: Assignment
    score: float
    reasons: MatchReasons


def assignments_for_consultant(ports: MatchingPorts, principal: Principal, user_id: str) -> list[FittingAssignment]:
    """The reverse direction, for the Consultant Agent (staff): open assignments the consultant passes the
    hard constraints of, best first. Assignments are few next to consultants, so they are compared one by
    one with the same reasons and adjustment; the text part is the share of skills in common."""
    ensure_staff(principal)
    fitting = fitting_assignments(ports, user_id)
    if fitting is None:
        raise NotFound("Consultant not found among those who may be matched.")
    now = ports.assignments.accounts.now()
    record_staff_reads(ports.assignments.accounts.uow, principal, now, AuditAction.PROFILE_READ, [Read(user_id, "match", user_id)])
    return fitting


def fitting_assignments(ports: MatchingPorts, user_id: str) -> list[FittingAssignment] | None:
    """Open assignments the consultant fits, best first; None when the consultant may not be matched."""
    candidate = findable_candidate(ports.indexing, user_id)
    if candidate is None:
        return None
    fitting = []
    for assignment in ports.assignments.assignments.list_assignments_by_status(AssignmentStatus.OPEN):
        reasons = explain(candidate, assignment)
        if reasons.passes_hard_constraints and reasons.matched_required:
            fitting.append(FittingAssignment(assignment, adjusted_score(reasons.required_coverage, reasons), reasons))
    return sorted(fitting, key=lambda f: (-f.score, f.assignment.assignment_id))


def record_reverse_run(ports: MatchingPorts, principal: Principal, user_id: str, assignment_id: str) -> MatchRun:
    """A match run of one consultant for an assignment they fit, recorded as any run is (engine "reverse"):
    what a Consultant Agent shortlists them from when starting a proposal from the consultant's side."""
    ensure_staff(principal)
    fitting = fitting_assignments(ports, user_id)
    if fitting is None:
        raise NotFound("Consultant not found among those who may be matched.")
    found = next((f for f in fitting if f.assignment.assignment_id == assignment_id), None)
    if found is None:
        if ports.assignments.assignments.get_assignment(assignment_id) is None:
            raise NotFound("Assignment not found.")
        raise Conflict("The consultant does not fit this open assignment.")
    now = ports.assignments.accounts.now()
    run_id = new_id()
    run = MatchRun(
        assignment_id=assignment_id,
        run_id=run_id,
        at=now,
        run_by=principal.user_id,
        engine="reverse",
        taxonomy_version=ports.taxonomy_version,
        parameters={"consultant_first": 1.0},
        ranked=(RankedEntry(candidate_ref(run_id, user_id), found.score, found.reasons.required_coverage),),
        total=1,
    )
    uow = ports.assignments.accounts.uow
    uow.commit(Changes().insert(run))
    record_staff_reads(uow, principal, now, AuditAction.PROFILE_READ, [Read(user_id, "match", run_id)])
    return run
