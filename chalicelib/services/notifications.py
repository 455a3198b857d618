"""Telling people what happened: an in-app notification and (usually) an e-mail, in the recipient's language.

``notify`` adds both to the caller's ``Changes``, so they are committed with the change that causes
them, or not at all; the e-mail goes out from the outbox like every other. The person reads their
notifications under ``/me/notifications`` and marks them read.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.accounts import User
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import new_id
from chalicelib.domain.notifications import Notification, NotificationStatus
from chalicelib.errors import ConcurrencyConflict, NotFound
from chalicelib.logging import logger
from chalicelib.notifications.templates import render
from chalicelib.services.ports import TRANSACTION_LIMIT, Attachment, Changes, Clock, NotificationRepository, OutboxMessage, UnitOfWork


@dataclass(frozen=True)
class NotificationPorts:
    notifications: NotificationRepository
    uow: UnitOfWork
    now: Clock


def notify(
    changes: Changes,
    recipient: User,
    kind: str,
    params: Mapping[str, str],
    now: datetime,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    attachments: tuple[Attachment, ...] = (),
    email: bool = True,
) -> Changes:
    """Adds a notification of ``kind`` for ``recipient`` (and, if ``email``, the e-mail with ``attachments``)
    to ``changes``, rendered in the recipient's language; returns ``changes``. Raises KeyError for an
    unknown kind and ``MissingParameter`` when ``params`` lacks a placeholder of its template."""
    subject, text = render(kind, recipient.language, params)
    changes.insert(
        Notification(
            user_id=recipient.user_id,
            notification_id=new_id(),
            kind=kind,
            subject=subject,
            text=text,
            created_at=now,
            object_type=object_type,
            object_id=object_id,
        )
    )
    if email:
        changes.insert(
            OutboxMessage(message_id=new_id(), to=recipient.email, subject=subject, text=text, created_at=now, attachments=attachments)
        )
    return changes


def commit_with_notices(uow: UnitOfWork, changes: Changes) -> None:
    """Commits ``changes`` with the notices ``notify`` added to them in one transaction when they fit in one.
    When they do not (an agency or a client company with many users), the change commits alone first and its
    notices follow in batches: they are fresh inserts that can only succeed, and a change must not fail for
    the number of people to tell. (A failure between the two loses notices, never the change.)"""
    if len(changes.writes) <= TRANSACTION_LIMIT:
        uow.commit(changes)
        return
    notices = Changes([w for w in changes.writes if isinstance(w[0], Notification | OutboxMessage)])
    uow.commit(Changes([w for w in changes.writes if not isinstance(w[0], Notification | OutboxMessage)], changes.request_token))
    try:
        for batch in notices.batches():
            uow.commit(batch)
    except Exception:
        # The change is made; failing the request now would only have it made again.
        logger.exception("notices of a committed change were not all stored", extra={"notices": len(notices.writes)})


def list_notifications(ports: NotificationPorts, principal: Principal, unread_only: bool = False) -> list[Notification]:
    """The caller's notifications, newest first."""
    found = ports.notifications.list_notifications(principal.user_id)
    return [n for n in found if n.status is NotificationStatus.UNREAD] if unread_only else found


def mark_read(ports: NotificationPorts, principal: Principal, notification_id: str) -> Notification:
    """Idempotent: one already read is answered as it is. Only the caller's own are found."""
    notification = ports.notifications.get_notification(principal.user_id, notification_id)
    if notification is None:
        raise NotFound("Notification not found.")
    if notification.status is NotificationStatus.READ:
        return notification
    read = notification.marked_read(ports.now())
    try:
        ports.uow.commit(Changes().transition(read, NotificationStatus.UNREAD.value))
    except ConcurrencyConflict:
        # Marked read meanwhile (another tab, read-all): answer with what was stored.
        stored = ports.notifications.get_notification(principal.user_id, notification_id)
        if stored is None:
            raise NotFound("Notification not found.") from None
        return stored
    return read


def mark_all_read(ports: NotificationPorts, principal: Principal) -> int:
    """Marks every unread notification of the caller read; returns how many this call marked."""
    now = ports.now()
    unread = [n for n in ports.notifications.list_notifications(principal.user_id) if n.status is NotificationStatus.UNREAD]
    changes = Changes()
    for notification in unread:
        changes.transition(notification.marked_read(now), NotificationStatus.UNREAD.value)
    marked = 0
    for batch in changes.batches():
        try:
            ports.uow.commit(batch)
            marked += len(batch.writes)
        except ConcurrencyConflict:
            # One of them was marked meanwhile: the others one by one, each still only if unread.
            for write in batch.writes:
                with suppress(ConcurrencyConflict):
                    ports.uow.commit(Changes([write]))
                    marked += 1
    return marked
