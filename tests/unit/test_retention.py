"""Retention: inactive consultants are asked once to sign in, and erased if they do not within the grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.erasure import ErasureReason
from chalicelib.services import erasure
from chalicelib.services.accounts import note_activity
from chalicelib.services.retention import RetentionPolicy, months_before, run_retention
from tests.fakes import World, make_world
from tests.unit.test_registration import invite, principal_of, register_agency, register_invited

POLICY = RetentionPolicy(inactive_months=24, grace=timedelta(days=30))


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2026, 3, 31, 9, tzinfo=UTC), 1, datetime(2026, 2, 28, 9, tzinfo=UTC)),
        (datetime(2028, 3, 31, 9, tzinfo=UTC), 1, datetime(2028, 2, 29, 9, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 24, datetime(2024, 1, 15, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 13, datetime(2024, 12, 15, tzinfo=UTC)),
    ],
)
def test_months_before(moment: datetime, months: int, expected: datetime) -> None:
    assert months_before(moment, months) == expected


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2100, 1, 1)), st.integers(0, 240))
def test_months_before_never_lands_later_and_keeps_the_time(moment: datetime, months: int) -> None:
    earlier = months_before(moment, months)
    assert earlier <= moment and earlier.time() == moment.time()
    assert (moment.year * 12 + moment.month) - (earlier.year * 12 + earlier.month) == months


def consultant(world: World, email: str = "cecilia@consultant.example") -> str:
    agency = register_agency(world, f"admin-{email}")
    return principal_of(register_invited(world, email, invite(world, agency, email))).user_id


def notices(world: World, to: str) -> list[str]:
    return [m.subject for m in world.db.outbox() if m.to == to and "Keep your" in m.subject]


def test_an_inactive_consultant_is_asked_once_then_erased_after_the_grace_period() -> None:
    world = make_world()
    sleeper = consultant(world)
    world.clock.advance(days=365 * 2 + 10)
    awake = consultant(world, "dan@consultant.example")  # registered just now: active

    assert run_retention(world.erasure, POLICY).notified == 1
    assert notices(world, "cecilia@consultant.example") == ["Keep your Customersonly account?"]
    assert notices(world, "dan@consultant.example") == []
    assert run_retention(world.erasure, POLICY).notified == 0  # asked once, not every day

    world.clock.advance(days=30, hours=1)
    assert run_retention(world.erasure, POLICY).erased == 0  # the stated day itself is still theirs
    world.clock.advance(days=1)
    assert run_retention(world.erasure, POLICY).erased == 1
    pending = world.db.get_erasure(sleeper)
    assert pending is not None and pending.reason is ErasureReason.RETENTION
    assert erasure.resume_pending_erasures(world.erasure) == 1
    assert world.db.get_user(sleeper) is None and world.db.get_user(awake) is not None
    # The agency's admin, as old as the sleeper, is no consultant: organisations' accounts are for staff.
    assert notices(world, "admin-cecilia@consultant.example") == []


def test_signing_in_after_the_notice_keeps_the_account() -> None:
    world = make_world()
    sleeper = consultant(world)
    world.clock.advance(days=365 * 2 + 10)
    run_retention(world.erasure, POLICY)
    world.clock.advance(days=3)
    user = world.db.get_user(sleeper)
    assert user is not None
    note_activity(world.accounts, user)  # any authenticated request
    world.clock.advance(days=60)
    report = run_retention(world.erasure, POLICY)
    assert (report.notified, report.erased) == (0, 0)
    assert world.db.get_erasure(sleeper) is None


def test_activity_is_recorded_at_most_daily() -> None:
    world = make_world()
    user_id = consultant(world)
    user = world.db.get_user(user_id)
    assert user is not None
    note_activity(world.accounts, user)
    commits = world.db.commits
    stored = world.db.get_user(user_id)
    assert stored is not None and stored.last_active_at == world.clock()
    world.clock.advance(hours=23)
    note_activity(world.accounts, stored)
    assert world.db.commits == commits
    world.clock.advance(hours=2)
    note_activity(world.accounts, stored)
    assert world.db.commits == commits + 1


def test_a_sign_in_during_the_run_is_not_set_back_and_two_runs_send_one_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world()
    sleeper = consultant(world)
    world.clock.advance(days=365 * 2 + 10)
    list_inactive = world.db.list_consultants_inactive_since
    listed = list_inactive(world.clock())

    # The consultant signs in after the job listed them: the job's copy is stale.
    user = world.db.get_user(sleeper)
    assert user is not None
    note_activity(world.accounts, user)
    monkeypatch.setattr(world.db, "list_consultants_inactive_since", lambda _moment: listed)
    assert run_retention(world.erasure, POLICY).notified == 0
    stored = world.db.get_user(sleeper)
    assert stored is not None and stored.last_active_at == world.clock() and stored.retention_notice_at is None

    # Two runs that read the same inactive consultant send one notice between them.
    world.clock.advance(days=365 * 2 + 10)
    both = list_inactive(world.clock())
    monkeypatch.setattr(world.db, "list_consultants_inactive_since", lambda _moment: both)
    assert run_retention(world.erasure, POLICY).notified == 1
    assert run_retention(world.erasure, POLICY).notified == 0
    assert len(notices(world, "cecilia@consultant.example")) == 1
