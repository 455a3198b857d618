"""An erased consultant is followed up no more, and nothing of the follow-up naming them stays behind; the
look-ahead before an engagement ends always reaches someone."""

from __future__ import annotations

import dataclasses

from chalicelib.domain.accounts import UserStatus
from chalicelib.services import agents, erasure, interviews
from chalicelib.services.matching import IndexingPorts, MatchingPorts
from tests.fakes import InMemoryMatchIndex
from tests.unit.test_agents import more_staff
from tests.unit.test_evaluations import following
from tests.unit.test_timesheets import active


def test_no_round_escalation_or_reminder_is_made_for_an_erased_consultant() -> None:
    follow = following()
    follow.run()  # the first round, due today
    world = follow.deal.scene.world
    erasure.request_erasure_by_staff(world.erasure, follow.staff, follow.consultant.user_id)
    assert erasure.run_erasure(world.erasure, follow.consultant.user_id) is True
    assert follow.rounds() == []
    follow.advance(30)  # the next due date
    follow.run()
    follow.advance(8)  # past its deadline
    follow.run()
    assert follow.rounds() == [] and follow.escalations() == []


def test_staff_notices_naming_an_erased_consultant_go_with_them() -> None:
    follow = following()
    follow.run()
    follow.rate(low=True)  # the agent is told, with the consultant's name and the client's comments
    world = follow.deal.scene.world
    user = world.db.get_user(follow.consultant.user_id)
    assert user is not None
    assert any(user.name in n.subject for n in world.db.list_notifications(follow.agent.user_id))
    erasure.request_erasure_by_staff(world.erasure, follow.staff, follow.consultant.user_id)
    assert erasure.run_erasure(world.erasure, follow.consultant.user_id) is True
    assert [n for n in world.db.list_notifications(follow.agent.user_id) if user.name in n.text or user.name in n.subject] == []


def test_the_client_users_and_agency_admins_notices_naming_an_erased_consultant_go_with_them() -> None:
    follow = following()
    follow.run()  # the client is asked to rate the first round, naming the consultant
    world = follow.deal.scene.world
    readers = (follow.deal.scene.buyer.user_id, follow.deal.scene.agency_admin.user_id)
    user = world.db.get_user(follow.consultant.user_id)
    assert user is not None

    def naming() -> list[object]:
        return [n for r in readers for n in world.db.list_notifications(r) if user.name in n.text or user.name in n.subject]

    kinds = {(n.user_id, n.kind) for n in naming()}
    assert {(readers[0], "engagement_active"), (readers[0], "evaluation_due_client"), (readers[1], "engagement_active")} <= kinds
    erasure.request_erasure_by_staff(world.erasure, follow.staff, follow.consultant.user_id)
    assert erasure.run_erasure(world.erasure, follow.consultant.user_id) is True
    assert naming() == []


def test_the_look_ahead_reaches_staff_when_the_agent_has_left() -> None:
    deal, _ = active()
    world, staff, consultant = deal.scene.world, deal.scene.staff, deal.scene.consultants[0]
    gone = more_staff(deal, "Gunnar")
    interviews.set_consultant_agent(deal.scene.ports, staff, consultant.user_id, gone.user_id, None)
    user = world.db.get_user(gone.user_id)
    assert user is not None
    world.db.items[("user", gone.user_id)] = dataclasses.replace(user, status=UserStatus.DISABLED)  # the agent left
    matching_ports = MatchingPorts(
        world.assignments, IndexingPorts(world.db, world.db, world.consents.ledger, InMemoryMatchIndex()), "m", "t"
    )
    end = deal.engagement().terms.end_date
    world.clock.advance(days=(end - world.clock().date()).days - 29)
    assert agents.suggest_next_assignments(deal.ports, matching_ports) == 1
    assert [n.user_id for n in deal.notices("next_assignments")] == [staff.user_id]  # the active staff
