"""Consultant Agents: every active consultant gets one by load, once, and each agent's workspace shows its
consultants with their open proposals, interviews and engagements."""

from __future__ import annotations

import threading

import pytest

from chalicelib.domain.identity import Principal
from chalicelib.errors import Forbidden, NotFound
from chalicelib.services import agents, interviews, registration
from tests import builders
from tests.unit.test_contracts import Deal, make_deal
from tests.unit.test_registration import invite, principal_of, register_agency, register_invited


def more_staff(deal: Deal, name: str) -> Principal:
    user = registration.create_staff_user(
        deal.scene.world.accounts, email=f"{name.lower()}@customersonly.example", name=name, password=builders.PASSWORD
    )
    return Principal(user.user_id, user.roles)


def agent_of(deal: Deal, consultant: Principal) -> str | None:
    found = deal.db.get_agent_assignment(consultant.user_id)
    return found.agent_id if found else None


def test_an_active_consultant_gets_the_least_loaded_staff_member_once() -> None:
    deal = make_deal()
    deal.scene.world.clock.advance(minutes=1)
    first, second = deal.scene.consultants[0], more_staff(deal, "Sven")  # joined after the scene's staff member
    for person in deal.scene.consultants:  # the scene's consultants have none yet
        assert agent_of(deal, person) is None
    given = agents.assign_agent_by_load(deal.ports, first.user_id)
    assert given is not None and given.assigned_by == agents.SYSTEM
    assert given.agent_id == deal.scene.staff.user_id  # both have none: the earliest joined
    assert agents.assign_agent_by_load(deal.ports, first.user_id) == given  # once
    told = {n.user_id for n in deal.notices("consultant_agent_assigned")}
    assert {first.user_id, deal.scene.staff.user_id} <= told
    # The next consultant goes to the staff member with fewer consultants.
    other = new_consultant(deal, "hugo@consultant.example")
    given_other = agents.assign_agent_by_load(deal.ports, other.user_id)
    assert given_other is not None and given_other.agent_id == second.user_id


def new_consultant(deal: Deal, email: str) -> Principal:
    world = deal.scene.world
    agency = register_agency(world, email=f"admin.{email}")
    return principal_of(register_invited(world, email, invite(world, agency, email)))


def test_nobody_but_an_active_consultant_gets_an_agent() -> None:
    deal = make_deal()
    assert agents.assign_agent_by_load(deal.ports, deal.scene.agency_admin.user_id) is None
    assert agents.assign_agent_by_load(deal.ports, "no-such-user") is None


def test_two_triggers_racing_give_one_agent() -> None:
    deal = make_deal()
    more_staff(deal, "Sven")
    consultant = deal.scene.consultants[0]
    barrier = threading.Barrier(8)
    given: list[str | None] = []

    def assign() -> None:
        barrier.wait()
        found = agents.assign_agent_by_load(deal.ports, consultant.user_id)
        given.append(found.agent_id if found else None)

    threads = [threading.Thread(target=assign) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(given)) == 1 and given[0] == agent_of(deal, consultant)
    assert len([a for a in deal.db._all("agent") if a.consultant_id == consultant.user_id]) == 1


def test_the_jobs_give_every_active_consultant_without_one_an_agent() -> None:
    deal = make_deal()
    more_staff(deal, "Sven")
    assert agents.assign_missing_agents(deal.ports) == len(deal.scene.consultants)
    assert agents.assign_missing_agents(deal.ports) == 0
    loads = {}
    for person in deal.scene.consultants:
        loads[agent_of(deal, person)] = loads.get(agent_of(deal, person), 0) + 1
    assert max(loads.values()) - min(loads.values()) <= 1  # spread by load


def test_the_workspace_lists_the_agents_consultants_and_what_is_under_way() -> None:
    deal = make_deal()
    staff = deal.scene.staff
    consultant = deal.scene.consultants[0]
    interviews.set_consultant_agent(deal.scene.ports, staff, consultant.user_id, staff.user_id, "Prefers remote work")
    workspace = agents.agent_workspace(deal.ports, staff, staff.user_id)
    [desk] = workspace.consultants
    assert desk.consultant.user_id == consultant.user_id and desk.assignment.note == "Prefers remote work"
    assert [e.engagement_id for e in desk.engagements] == [deal.engagement_id]  # being contracted
    assert desk.candidacies == []  # the accepted one is no longer open
    with pytest.raises(Forbidden):
        agents.agent_workspace(deal.ports, consultant, staff.user_id)
    with pytest.raises(NotFound):
        agents.agent_workspace(deal.ports, staff, consultant.user_id)  # not a staff member: no workspace
