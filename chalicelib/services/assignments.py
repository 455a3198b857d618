"""Assignments: an approved client company (or staff on its behalf) posts them; they go draft → open →
filled | closed | cancelled by conditional writes. A client sees only its own company's assignments;
staff see all. Skills are normalised to the taxonomy, as in resumes, so that matching compares ids."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from chalicelib.domain.accounts import Organisation, OrgKind
from chalicelib.domain.assignments import (
    Assignment,
    AssignmentStatus,
    FixedFee,
    LanguageRequirement,
    SkillRequirement,
)
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import new_id
from chalicelib.domain.money import HourlyRate
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound
from chalicelib.schemas.assignments import AssignmentIn
from chalicelib.services.accounts import AccountPorts, ensure_staff
from chalicelib.services.ports import AssignmentRepository, Changes
from chalicelib.services.resume import normalise_skill

if TYPE_CHECKING:
    from chalicelib.taxonomy import SkillTaxonomy


@dataclass(frozen=True)
class AssignmentPorts:
    accounts: AccountPorts
    assignments: AssignmentRepository


def _client_company(ports: AssignmentPorts, principal: Principal, client_id: str) -> Organisation:
    """The client company the caller acts for: its own (a client user), or any (staff)."""
    org = ports.accounts.accounts.get_organisation(client_id)
    own = principal.has(Role.CLIENT) and principal.org_id == client_id
    if org is None or org.kind is not OrgKind.CLIENT or not (own or principal.is_staff):
        raise NotFound("Client company not found.")
    return org


def _visible(ports: AssignmentPorts, principal: Principal, assignment_id: str) -> Assignment:
    assignment = ports.assignments.get_assignment(assignment_id)
    if assignment is None:
        raise NotFound("Assignment not found.")
    _client_company(ports, principal, assignment.client_id)  # another company's is simply not found
    return assignment


def _skills(taxonomy: SkillTaxonomy, names: list[str], field: str) -> list[SkillRequirement]:
    normalised = [normalise_skill(taxonomy, name, f"{field}.{n}") for n, name in enumerate(names)]
    return [SkillRequirement(skill.skill_id, skill.name) for skill in normalised]


def _fields(taxonomy: SkillTaxonomy, body: AssignmentIn) -> dict[str, Any]:
    """The assignment's own fields from the form, skills normalised."""
    required = _skills(taxonomy, body.required_skills, "required_skills")
    nice = _skills(taxonomy, body.nice_to_have_skills, "nice_to_have_skills")
    both = {s.skill_id for s in required if s.skill_id} & {s.skill_id for s in nice if s.skill_id}
    if both:
        raise InvalidInput(
            "A skill is either required or nice to have.",
            issues=[FieldIssue("nice_to_have_skills", f"also required: {', '.join(sorted(both))}")],
        )
    rate, fee = body.max_hourly_rate, body.fixed_fee
    return {
        "title": body.title,
        "description": body.description,
        "required_skills": required,
        "nice_to_have_skills": nice,
        "seniority": body.seniority,
        "start_date": body.start_date,
        "end_date": body.end_date,
        "share_of_full_time": body.share_of_full_time,
        "city": body.city,
        "country": body.country,
        "work_modes": list(body.work_modes),
        "languages": [LanguageRequirement(lang.code, lang.min_level) for lang in body.languages],
        "max_hourly_rate": HourlyRate(rate.amount_minor, rate.currency) if rate else None,
        "fixed_fee": FixedFee(fee.amount_minor, fee.currency) if fee else None,
    }


def _ensure_starts_ahead(start: date, today: date) -> None:
    if start < today:
        raise InvalidInput("The assignment cannot start in the past.", issues=[FieldIssue("start_date", "in the past")])


def create_assignment(
    ports: AssignmentPorts, taxonomy: SkillTaxonomy, principal: Principal, client_id: str, body: AssignmentIn
) -> Assignment:
    org = _client_company(ports, principal, client_id)
    org.ensure_can_post_assignments()
    now = ports.accounts.now()
    _ensure_starts_ahead(body.start_date, now.date())
    assignment = Assignment(
        assignment_id=new_id(),
        client_id=client_id,
        created_at=now,
        created_by=principal.user_id,
        updated_at=now,
        updated_by=principal.user_id,
        **_fields(taxonomy, body),
    )
    ports.accounts.uow.commit(Changes().insert(assignment))
    return assignment


def get_assignment(ports: AssignmentPorts, principal: Principal, assignment_id: str) -> Assignment:
    return _visible(ports, principal, assignment_id)


def list_client_assignments(
    ports: AssignmentPorts, principal: Principal, client_id: str, status: AssignmentStatus | None
) -> list[Assignment]:
    _client_company(ports, principal, client_id)
    return ports.assignments.list_client_assignments(client_id, status)


def list_assignments(ports: AssignmentPorts, principal: Principal, status: AssignmentStatus) -> list[Assignment]:
    ensure_staff(principal)
    return ports.assignments.list_assignments_by_status(status)


def update_assignment(
    ports: AssignmentPorts, taxonomy: SkillTaxonomy, principal: Principal, assignment_id: str, body: AssignmentIn
) -> Assignment:
    current = _visible(ports, principal, assignment_id)
    current.ensure_editable()
    now = ports.accounts.now()
    if body.start_date != current.start_date:
        _ensure_starts_ahead(body.start_date, now.date())
    updated = replace(current, updated_at=now, updated_by=principal.user_id, **_fields(taxonomy, body))
    _commit(ports, updated, current)
    return updated


def move_assignment(ports: AssignmentPorts, principal: Principal, assignment_id: str, target: AssignmentStatus) -> Assignment:
    """Publishes (draft → open), fills, closes or cancels an assignment; a repeated move is answered as done."""
    current = _visible(ports, principal, assignment_id)
    if current.status is target:
        return current  # a double click
    current.ensure_can_move_to(target)
    now = ports.accounts.now()
    if target is AssignmentStatus.OPEN:
        _client_company(ports, principal, current.client_id).ensure_can_post_assignments()
        _ensure_starts_ahead(current.start_date, now.date())
    moved = replace(
        current,
        status=target,
        updated_at=now,
        updated_by=principal.user_id,
        published_at=now if target is AssignmentStatus.OPEN else current.published_at,
    )
    _commit(ports, moved, current)
    return moved


def _commit(ports: AssignmentPorts, updated: Assignment, current: Assignment) -> None:
    try:
        ports.accounts.uow.commit(Changes().transition(updated, current.status.value, was=current))
    except ConcurrencyConflict as exc:
        raise Conflict("The assignment was changed at the same time; load it again.") from exc
