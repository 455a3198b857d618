"""Consultant Agents: every active consultant gets one by load, once, and each agent's workspace shows its
consultants with their open proposals, interviews and engagements."""

from __future__ import annotations

import threading

import pytest

from chalicelib.domain.assignments import AssignmentStatus
from chalicelib.domain.identity import Principal
from chalicelib.domain.proposals import CandidacyStatus
from chalicelib.errors import Conflict, Forbidden, NotFound
from chalicelib.services import agents, assignments, evaluations, interviews, registration
from chalicelib.services.evaluations import EvaluationPorts
from chalicelib.services.matching import IndexingPorts, MatchingPorts
from tests import builders
from tests.fakes import InMemoryMatchIndex
from tests.unit.test_assignments import post
from tests.unit.test_contracts import Deal, make_deal
from tests.unit.test_registration import invite, principal_of, register_agency, register_invited
from tests.unit.test_timesheets import active


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
    evaluation_ports = EvaluationPorts(deal.ports, deal.db)
    workspace = agents.agent_workspace(evaluation_ports, staff, staff.user_id)
    [desk] = workspace.consultants
    assert desk.consultant.user_id == consultant.user_id and desk.assignment.note == "Prefers remote work"
    assert [e.engagement_id for e in desk.engagements] == [deal.engagement_id]  # being contracted
    assert desk.candidacies == []  # the accepted one is no longer open
    with pytest.raises(Forbidden):
        agents.agent_workspace(evaluation_ports, consultant, staff.user_id)
    with pytest.raises(NotFound):
        agents.agent_workspace(evaluation_ports, staff, consultant.user_id)  # not a staff member: no workspace


def test_a_month_before_the_end_the_agent_gets_fitting_assignments_once_and_can_propose_from_them() -> None:
    deal, _ = active()
    world, staff, consultant, buyer = deal.scene.world, deal.scene.staff, deal.scene.consultants[0], deal.scene.buyer
    interviews.set_consultant_agent(deal.scene.ports, staff, consultant.user_id, staff.user_id, None)
    assert buyer.org_id is not None
    following = post(world, buyer, buyer.org_id, title="Platform engineer, next year")
    assignments.move_assignment(world.assignments, buyer, following.assignment_id, AssignmentStatus.OPEN)
    indexing = IndexingPorts(world.db, world.db, world.consents.ledger, InMemoryMatchIndex())
    matching_ports = MatchingPorts(world.assignments, indexing, "in-memory", "t")
    end = deal.engagement().terms.end_date
    world.clock.advance(days=(end - world.clock().date()).days - 31)
    assert agents.suggest_next_assignments(deal.ports, matching_ports) == 0  # not yet within 30 days of the end
    world.clock.advance(days=2)
    assert agents.suggest_next_assignments(deal.ports, matching_ports) == 1
    assert agents.suggest_next_assignments(deal.ports, matching_ports) == 0  # once per engagement
    [notice] = deal.notices("next_assignments")
    assert notice.user_id == staff.user_id and "Platform engineer, next year" in notice.text
    candidacy = agents.propose_next_assignment(deal.ports, matching_ports, staff, consultant.user_id, following.assignment_id, None)
    assert (candidacy.assignment_id, candidacy.consultant_id, candidacy.status) == (
        following.assignment_id,
        consultant.user_id,
        CandidacyStatus.SUGGESTED,
    )
    [run] = [r for r in world.db.list_match_runs(following.assignment_id) if r.run_id == candidacy.match_run_id]
    assert run.engine == "reverse" and run.total == 1
    with pytest.raises(Conflict):  # the engagement's own assignment is filled: nothing to propose for
        agents.propose_next_assignment(deal.ports, matching_ports, staff, consultant.user_id, deal.engagement().assignment_id, None)
    with pytest.raises(Forbidden):
        agents.propose_next_assignment(deal.ports, matching_ports, consultant, consultant.user_id, following.assignment_id, None)
    with pytest.raises(NotFound):
        agents.propose_next_assignment(deal.ports, matching_ports, staff, consultant.user_id, "no-such-assignment", None)
    with pytest.raises(NotFound):
        agents.propose_next_assignment(deal.ports, matching_ports, staff, "no-such-consultant", following.assignment_id, None)


def test_the_workspace_shows_due_evaluations_and_escalations_which_follow_a_handover() -> None:
    from tests.unit.test_evaluations import following, other_staff, scores

    follow = following()
    follow.run()  # the first round is due today
    evaluation = follow.only_round()
    evaluations.rate_delivery(follow.ports, follow.buyer, evaluation.evaluation_id, scores(quality=2), None)  # escalates
    [desk] = agents.agent_workspace(follow.ports, follow.staff, follow.agent.user_id).consultants
    assert [r.evaluation_id for r in desk.due_evaluations] == [evaluation.evaluation_id]
    assert [e.evaluation_id for e in desk.escalations] == [evaluation.evaluation_id]
    # Handed over: the open round and escalation are in the new agent's workspace at once.
    newcomer = other_staff(follow.deal, "new.agent@customersonly.example", "Nora Newagent")
    consultant = follow.deal.scene.consultants[0]
    agents.change_agent(follow.ports, follow.staff, consultant.user_id, newcomer.user_id, "Client wants weekly check-ins")
    assert agents.agent_workspace(follow.ports, follow.staff, follow.agent.user_id).consultants == []
    [handed] = agents.agent_workspace(follow.ports, follow.staff, newcomer.user_id).consultants
    assert handed.assignment.note == "Client wants weekly check-ins"
    assert [r.evaluation_id for r in handed.due_evaluations] == [evaluation.evaluation_id] and len(handed.escalations) == 1
