"""Reading, giving and withdrawing consents; staff reads are audited."""

from __future__ import annotations

import pytest

from chalicelib.domain.consent import ConsentAction, ConsentPurpose, ConsentState
from chalicelib.domain.identity import Principal
from chalicelib.errors import Forbidden, InvalidInput, NotFound
from chalicelib.services import consents, registration
from chalicelib.services.ports import Changes
from tests import builders
from tests.fakes import World, make_world
from tests.unit.test_registration import CTX, principal_of, register_agency


@pytest.fixture
def world() -> World:
    return make_world()


def test_withdrawal_is_one_call_and_a_repeat_replays_it(world: World) -> None:
    me = principal_of(register_agency(world))
    [state] = consents.my_consents(world.consents, me).states
    assert state.in_force

    withdrawn = consents.withdraw_consent(world.consents, me, state.given.entry_id, CTX)
    assert not withdrawn.in_force and withdrawn.withdrawal.action is ConsentAction.WITHDRAWN
    again = consents.withdraw_consent(world.consents, me, state.given.entry_id, CTX)
    assert again.withdrawal == withdrawn.withdrawal

    overview = consents.my_consents(world.consents, me)
    assert [e.action for e in overview.entries] == [ConsentAction.GIVEN, ConsentAction.WITHDRAWN]
    assert not overview.states[0].in_force


def test_a_withdrawal_racing_another_replays_the_winner(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    me = principal_of(register_agency(world))
    [state] = consents.my_consents(world.consents, me).states
    commit = world.db.commit
    winner: list[ConsentState] = []

    def winner_commits_first(changes: Changes) -> None:
        # The other call read the same ledger and commits between our read and our write.
        monkeypatch.setattr(world.db, "commit", commit)
        winner.append(consents.withdraw_consent(world.consents, me, state.given.entry_id, CTX))
        commit(changes)  # ours now fails its precondition: the withdrawal's id is derived, hence equal

    monkeypatch.setattr(world.db, "commit", winner_commits_first)
    replay = consents.withdraw_consent(world.consents, me, state.given.entry_id, CTX)
    assert replay.withdrawal == winner[0].withdrawal
    assert [e.action for e in consents.my_consents(world.consents, me).entries] == [ConsentAction.GIVEN, ConsentAction.WITHDRAWN]


def test_giving_consent_again_after_withdrawal(world: World) -> None:
    me = principal_of(register_agency(world))
    [state] = consents.my_consents(world.consents, me).states
    consents.withdraw_consent(world.consents, me, state.given.entry_id, CTX)
    version = builders.consent_fields()["privacy_notice_version"]
    given = consents.give_processing_consent(world.consents, me, version, True, CTX)
    assert given.in_force and given.given.entry_id != state.given.entry_id
    assert consents.give_processing_consent(world.consents, me, version, True, CTX) == given  # nothing new while in force
    with pytest.raises(InvalidInput):
        consents.give_processing_consent(world.consents, me, "1999-01-01", True, CTX)
    in_force = [s for s in consents.my_consents(world.consents, me).states if s.in_force]
    assert [s.given.purpose for s in in_force] == [ConsentPurpose.PLATFORM_PROCESSING]


def test_nobody_withdraws_someone_elses_consent(world: World) -> None:
    mine = register_agency(world)
    theirs = principal_of(register_agency(world, email="boss@other.example"))
    [state] = consents.my_consents(world.consents, principal_of(mine)).states
    with pytest.raises(NotFound):
        consents.withdraw_consent(world.consents, theirs, state.given.entry_id, CTX)
    with pytest.raises(NotFound):
        consents.withdraw_consent(world.consents, theirs, "01JZZZZZZZZZZZZZZZZZZZZZZZ", CTX)
    assert consents.my_consents(world.consents, principal_of(mine)).states[0].in_force


def test_staff_read_consents_and_audit_and_every_read_is_audited(world: World) -> None:
    subject = register_agency(world).user.user_id
    staff_user = registration.create_staff_user(
        world.accounts, email="staff@customersonly.example", name="Stina", password=builders.PASSWORD
    )
    staff = Principal(staff_user.user_id, staff_user.roles)
    assert len(consents.subject_consents(world.consents, staff, subject).states) == 1
    log = consents.subject_audit_log(world.consents, staff, subject)
    assert [e.action.value for e in log] == ["consent.given", "consents.read", "audit.read"]
    assert log[-1].actor_id == staff.user_id
    with pytest.raises(NotFound):
        consents.subject_consents(world.consents, staff, "01JZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(Forbidden):
        consents.subject_consents(world.consents, principal_of(register_agency(world, email="b@o.example")), subject)
