"""Assignments: who may post and see them, what a valid one is, and their lifecycle."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.domain.assignments import AssignmentStatus
from chalicelib.domain.identity import Principal
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.schemas.accounts import ClientRegistrationRequest
from chalicelib.schemas.assignments import AssignmentIn
from chalicelib.services import assignments, organisations, registration
from chalicelib.taxonomy import default_taxonomy
from tests import builders
from tests.fakes import World, make_world
from tests.unit.test_registration import CTX, principal_of, register_agency, staff, verify

START = date(2027, 1, 11)  # after the fake clock's today (2026-11-27)
ASSIGNMENT: dict[str, Any] = builders.assignment_form(START)


@pytest.fixture
def world() -> World:
    return make_world()


def client(world: World, email: str = "buyer@client.example", number: str | None = None, approve: bool = True) -> Principal:
    body = ClientRegistrationRequest.model_validate(builders.client_registration(email, number))
    registered = verify(world, registration.register_client(world.accounts, body, CTX))
    assert registered.organisation is not None
    if approve:
        organisations.review_client_company(world.accounts, staff(world), registered.organisation.org_id, approve=True, reason=None)
    return principal_of(registered)


def post(world: World, who: Principal, client_id: str, **change: Any) -> Any:
    body = AssignmentIn.model_validate({**copy.deepcopy(ASSIGNMENT), **change})
    return assignments.create_assignment(world.assignments, default_taxonomy(), who, client_id, body)


def test_a_client_posts_publishes_edits_and_fills_an_assignment(world: World) -> None:
    me = client(world)
    assert me.org_id is not None
    draft = post(world, me, me.org_id)
    assert draft.status is AssignmentStatus.DRAFT and draft.published_at is None
    assert [s.skill_id for s in draft.required_skills] == ["kubernetes", "terraform", "aws"]
    assert draft.max_hourly_rate is not None and draft.max_hourly_rate.amount_minor == 120000 and draft.fixed_fee is None
    assert draft.country == "SE"

    opened = assignments.move_assignment(world.assignments, me, draft.assignment_id, AssignmentStatus.OPEN)
    assert opened.status is AssignmentStatus.OPEN and opened.published_at == world.clock()
    assert assignments.move_assignment(world.assignments, me, draft.assignment_id, AssignmentStatus.OPEN) == opened  # a double click

    body = AssignmentIn.model_validate(
        {
            **ASSIGNMENT,
            "title": "Senior platform engineer",
            "max_hourly_rate": None,
            "fixed_fee": {"amount_minor": 50_000_000, "currency": "SEK"},
        }
    )
    edited = assignments.update_assignment(world.assignments, default_taxonomy(), me, draft.assignment_id, body)
    assert edited.title == "Senior platform engineer" and edited.status is AssignmentStatus.OPEN and edited.fixed_fee is not None

    listed = assignments.list_client_assignments(world.assignments, me, me.org_id, AssignmentStatus.OPEN)
    assert [a.assignment_id for a in listed] == [draft.assignment_id]
    assert [a.assignment_id for a in assignments.list_assignments(world.assignments, staff(world), AssignmentStatus.OPEN)] == [
        draft.assignment_id
    ]

    filled = assignments.move_assignment(world.assignments, me, draft.assignment_id, AssignmentStatus.FILLED)
    assert filled.status is AssignmentStatus.FILLED
    with pytest.raises(Conflict):  # final
        assignments.move_assignment(world.assignments, me, draft.assignment_id, AssignmentStatus.CANCELLED)
    with pytest.raises(Conflict):
        assignments.update_assignment(world.assignments, default_taxonomy(), me, draft.assignment_id, body)
    assert assignments.list_client_assignments(world.assignments, me, me.org_id, AssignmentStatus.OPEN) == []


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (AssignmentStatus.DRAFT, AssignmentStatus.FILLED, False),
        (AssignmentStatus.DRAFT, AssignmentStatus.CLOSED, False),
        (AssignmentStatus.DRAFT, AssignmentStatus.CANCELLED, True),
        (AssignmentStatus.OPEN, AssignmentStatus.CLOSED, True),
        (AssignmentStatus.OPEN, AssignmentStatus.CANCELLED, True),
    ],
)
def test_the_lifecycle_moves_forward_only(world: World, source: AssignmentStatus, target: AssignmentStatus, allowed: bool) -> None:
    me = client(world)
    assert me.org_id is not None
    assignment = post(world, me, me.org_id)
    if source is AssignmentStatus.OPEN:
        assignments.move_assignment(world.assignments, me, assignment.assignment_id, AssignmentStatus.OPEN)
    if allowed:
        assert assignments.move_assignment(world.assignments, me, assignment.assignment_id, target).status is target
    else:
        with pytest.raises(Conflict):
            assignments.move_assignment(world.assignments, me, assignment.assignment_id, target)


def test_only_approved_companies_post_and_only_their_users_and_staff_see(world: World) -> None:
    pending = client(world, "pending@client.example", "5560000001", approve=False)
    assert pending.org_id is not None
    with pytest.raises(Conflict):
        post(world, pending, pending.org_id)

    me, other = client(world), client(world, "other@client.example", "5560000002")
    assert me.org_id is not None and other.org_id is not None
    mine = post(world, me, me.org_id)
    agency = principal_of(register_agency(world))
    for outsider in (other, agency):
        with pytest.raises(NotFound):
            assignments.get_assignment(world.assignments, outsider, mine.assignment_id)
        with pytest.raises(NotFound):
            assignments.move_assignment(world.assignments, outsider, mine.assignment_id, AssignmentStatus.OPEN)
        with pytest.raises(NotFound):
            assignments.list_client_assignments(world.assignments, outsider, me.org_id, None)
    with pytest.raises(NotFound):  # a client posts for its own company only
        post(world, other, me.org_id)
    with pytest.raises(Forbidden):
        assignments.list_assignments(world.assignments, me, AssignmentStatus.OPEN)

    on_behalf = post(world, staff(world), me.org_id)  # staff post for an approved company
    assert on_behalf.client_id == me.org_id
    assert {a.assignment_id for a in assignments.list_client_assignments(world.assignments, me, me.org_id, None)} == {
        mine.assignment_id,
        on_behalf.assignment_id,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_hourly_rate": None}, ""),  # no budget
        ({"fixed_fee": {"amount_minor": 1, "currency": "SEK"}}, ""),  # two budgets
        ({"end_date": (START - timedelta(days=1)).isoformat()}, "end_date"),
        ({"work_modes": ["on_site"], "country": None}, ""),
        ({"work_modes": []}, "work_modes"),
        ({"required_skills": []}, "required_skills"),
        ({"required_skills": ["Go", "go"]}, "required_skills"),
        ({"languages": [{"code": "sv", "min_level": "B2"}, {"code": "SV", "min_level": "C1"}]}, "languages"),
        ({"share_of_full_time": 0}, "share_of_full_time"),
        ({"max_hourly_rate": {"amount_minor": -1, "currency": "SEK"}}, "max_hourly_rate.amount_minor"),
        ({"max_hourly_rate": {"amount_minor": 1, "currency": "BTC"}}, "max_hourly_rate.currency"),
    ],
)
def test_invalid_assignments_are_refused_with_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        AssignmentIn.model_validate({**ASSIGNMENT, **change})
    assert field in {".".join(str(p) for p in e["loc"]) for e in raised.value.errors()}


def test_rules_the_form_cannot_know(world: World) -> None:
    me = client(world)
    assert me.org_id is not None
    with pytest.raises(InvalidInput) as raised:
        post(world, me, me.org_id, start_date="2026-11-01")
    assert raised.value.issues[0].field == "start_date"
    with pytest.raises(InvalidInput) as raised:
        post(world, me, me.org_id, nice_to_have_skills=["Kubernetes"])  # already required, as k8s
    assert raised.value.issues[0].field == "nice_to_have_skills"
    with pytest.raises(InvalidInput) as raised:
        post(world, me, me.org_id, required_skills=["\u200b"])
    assert raised.value.issues[0].field == "required_skills.0"
    assert world.db.list_client_assignments(me.org_id, None) == []


def test_a_draft_whose_start_has_passed_cannot_be_published(world: World) -> None:
    me = client(world)
    assert me.org_id is not None
    draft = post(world, me, me.org_id)
    world.clock.advance(days=60)
    with pytest.raises(InvalidInput):
        assignments.move_assignment(world.assignments, me, draft.assignment_id, AssignmentStatus.OPEN)


def test_two_moves_at_once_cannot_both_win(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    me = client(world)
    assert me.org_id is not None
    draft = post(world, me, me.org_id)
    stale = world.db.get_assignment(draft.assignment_id)
    assignments.move_assignment(world.assignments, me, draft.assignment_id, AssignmentStatus.CANCELLED)
    monkeypatch.setattr(world.db, "get_assignment", lambda _id: stale)
    with pytest.raises(Conflict):  # read as a draft, stored as cancelled meanwhile
        assignments.move_assignment(world.assignments, me, draft.assignment_id, AssignmentStatus.OPEN)
