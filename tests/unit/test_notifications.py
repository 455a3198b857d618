"""Notifications: rendered in the recipient's language, committed with their e-mail, read and marked read
by their owner only, exported and erased with the person."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.domain.accounts import Language, User
from chalicelib.domain.identity import Principal
from chalicelib.domain.notifications import NotificationStatus
from chalicelib.errors import ConcurrencyConflict, NotFound
from chalicelib.notifications.templates import MissingParameter
from chalicelib.services import erasure, privacy
from chalicelib.services.notifications import list_notifications, mark_all_read, mark_read, notify
from chalicelib.services.ports import Attachment, Changes
from tests import builders
from tests.fakes import World, make_world
from tests.unit.test_registration import invite, principal_of, register_agency, register_invited

ACCEPTED = {"recipient_name": "Cecilia", "assignment_title": "Molnarkitekt", "client_name": "Kund AB", "link": "https://app.example/p/1"}
CANCELLED = {"recipient_name": "Cecilia", "assignment_title": "Molnarkitekt", "starts_at": "2026-12-03 10:00", "reason": "Sjukdom"}


@pytest.fixture
def world() -> World:
    return make_world()


def consultant(world: World, email: str = "cecilia@consultant.example") -> tuple[Principal, User]:
    agency = register_agency(world, f"admin-{email}")
    me = principal_of(register_invited(world, email, invite(world, agency, email)))
    user = world.db.get_user(me.user_id)
    assert user is not None
    return me, user


def test_notify_renders_in_the_recipients_language_and_commits_notification_and_mail_together(world: World) -> None:
    me, user = consultant(world)
    swedish = replace(user, language=Language.SV)
    invite_ics = Attachment("invite.ics", "text/calendar; method=CANCEL", "BEGIN:VCALENDAR\r\n")
    changes = notify(Changes(), swedish, "interview_cancelled", CANCELLED, world.clock(), object_type="interview", object_id="I1")
    notify(changes, user, "candidate_accepted", ACCEPTED, world.clock(), attachments=(invite_ics,))
    notify(changes, user, "candidate_accepted", ACCEPTED, world.clock(), email=False)
    world.db.commit(changes)

    cancelled, *accepted = sorted(list_notifications(world.notifications, me), key=lambda n: n.kind, reverse=True)
    assert cancelled.subject == "Intervjun är inställd: Molnarkitekt, 2026-12-03 10:00" and "Anledning: Sjukdom" in cancelled.text
    assert (cancelled.object_type, cancelled.object_id, cancelled.status, cancelled.read_at) == ("interview", "I1", "unread", None)
    assert [n.subject for n in accepted] == ["Selected: Molnarkitekt at Kund AB"] * 2
    mails = [m for m in world.db.outbox() if m.subject in (cancelled.subject, accepted[0].subject)]
    assert sorted((m.to, m.subject, m.attachments) for m in mails) == [
        (user.email, cancelled.subject, ()),
        (user.email, accepted[0].subject, (invite_ics,)),
    ]
    assert next(m for m in mails if m.subject == cancelled.subject).text == cancelled.text


def test_a_missing_parameter_fails_before_anything_is_written(world: World) -> None:
    _, user = consultant(world)
    changes = Changes()
    with pytest.raises(MissingParameter):
        notify(changes, user, "candidate_accepted", {"recipient_name": "Cecilia"}, world.clock())
    assert changes.writes == []


def test_lists_are_newest_first_and_unread_only_on_request(world: World) -> None:
    me, user = consultant(world)
    for title in ("first", "second", "third"):
        world.db.commit(notify(Changes(), user, "candidate_accepted", {**ACCEPTED, "assignment_title": title}, world.clock()))
        world.clock.advance(minutes=1)
    newest, middle, oldest = list_notifications(world.notifications, me)
    assert [n.subject.split(":")[1].split()[0] for n in (newest, middle, oldest)] == ["third", "second", "first"]
    mark_read(world.notifications, me, middle.notification_id)
    assert [n.notification_id for n in list_notifications(world.notifications, me, unread_only=True)] == [
        newest.notification_id,
        oldest.notification_id,
    ]


def test_marking_read_is_idempotent_and_only_for_the_owner(world: World) -> None:
    me, user = consultant(world)
    other, _ = consultant(world, "dan@consultant.example")
    world.db.commit(notify(Changes(), user, "candidate_accepted", ACCEPTED, world.clock()))
    [notification] = list_notifications(world.notifications, me)

    with pytest.raises(NotFound):
        mark_read(world.notifications, other, notification.notification_id)
    with pytest.raises(NotFound):
        mark_read(world.notifications, me, "01JZZZZZZZZZZZZZZZZZZZZZZZ")
    world.clock.advance(minutes=5)
    read = mark_read(world.notifications, me, notification.notification_id)
    assert read.status is NotificationStatus.READ and read.read_at == world.clock()
    world.clock.advance(minutes=5)
    again = mark_read(world.notifications, me, notification.notification_id)
    assert again == read  # the first reading stands
    assert world.db.get_notification(me.user_id, notification.notification_id) == read


def test_a_notification_marked_read_meanwhile_is_answered_as_stored(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    me, user = consultant(world)
    world.db.commit(notify(Changes(), user, "candidate_accepted", ACCEPTED, world.clock()))
    [unread] = list_notifications(world.notifications, me)
    first = unread.marked_read(world.clock())
    world.db.commit(Changes().transition(first, "unread"))  # another tab was quicker
    stale = iter([unread])
    real = world.db.get_notification
    monkeypatch.setattr(world.db, "get_notification", lambda user_id, nid: next(stale, None) or real(user_id, nid))
    world.clock.advance(minutes=1)
    assert mark_read(world.notifications, me, unread.notification_id) == first


def test_mark_all_read_marks_only_the_callers_unread_ones(world: World) -> None:
    me, user = consultant(world)
    other, dan = consultant(world, "dan@consultant.example")
    for _ in range(3):
        world.db.commit(notify(Changes(), user, "candidate_accepted", ACCEPTED, world.clock()))
    world.db.commit(notify(Changes(), dan, "candidate_accepted", ACCEPTED, world.clock()))
    first, *_ = list_notifications(world.notifications, me)
    mark_read(world.notifications, me, first.notification_id)

    assert mark_all_read(world.notifications, me) == 2
    assert all(n.status is NotificationStatus.READ for n in list_notifications(world.notifications, me))
    assert [n.status for n in list_notifications(world.notifications, other)] == [NotificationStatus.UNREAD]
    assert mark_all_read(world.notifications, me) == 0


def test_mark_all_read_survives_one_marked_concurrently(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    me, user = consultant(world)
    for _ in range(3):
        world.db.commit(notify(Changes(), user, "candidate_accepted", ACCEPTED, world.clock()))
    stale = list_notifications(world.notifications, me)
    mark_read(world.notifications, me, stale[1].notification_id)  # read in another tab after our listing
    monkeypatch.setattr(world.db, "list_notifications", lambda _user_id: stale)
    assert mark_all_read(world.notifications, me) == 2
    monkeypatch.undo()
    assert {n.status for n in list_notifications(world.notifications, me)} == {NotificationStatus.READ}
    with pytest.raises(ConcurrencyConflict):  # the transition is conditional on being unread
        world.db.commit(Changes().transition(stale[0].marked_read(world.clock()), "unread"))


def test_notifications_are_exported_and_erased_with_the_person(world: World) -> None:
    me, user = consultant(world)
    world.db.commit(notify(Changes(), user, "candidate_accepted", ACCEPTED, world.clock()))
    export = privacy.export_personal_data(world.profiles, world.consents.audit, me, world.db, world.db, world.db)
    assert [n.subject for n in export.notifications] == ["Selected: Molnarkitekt at Kund AB"]

    erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    assert erasure.run_erasure(world.erasure, me.user_id)
    assert world.db.list_notifications(me.user_id) == []
