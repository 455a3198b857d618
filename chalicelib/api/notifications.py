"""The caller's in-app notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.notifications import Notification, NotificationStatus
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.schemas import notifications as s
    from chalicelib.services import notifications as service
else:  # imported on the first request that needs it (cold start)
    s = LazyModule("chalicelib.schemas.notifications")
    service = LazyModule("chalicelib.services.notifications")

bp = Blueprint(__name__)


def notification_out(notification: Notification) -> s.NotificationResponse:
    return s.NotificationResponse(
        notification_id=notification.notification_id,
        kind=notification.kind,
        subject=notification.subject,
        text=notification.text,
        status=notification.status,
        created_at=notification.created_at,
        read_at=notification.read_at,
        object_type=notification.object_type,
        object_id=notification.object_id,
    )


@operation(
    bp,
    "/me/notifications",
    "GET",
    summary="My notifications, newest first (?unread=true: only the unread ones)",
    tag="notifications",
    query=lambda: s.NotificationQuery,
    response=lambda: s.NotificationListResponse,
    roles=ANY_ROLE,
)
def list_my_notifications(call: Call[Any, s.NotificationQuery]) -> s.NotificationListResponse:
    ports = call.container.notifications
    everything = service.list_notifications(ports, call.user)
    unread = [n for n in everything if n.status is NotificationStatus.UNREAD]
    shown = unread if call.query.unread else everything
    return s.NotificationListResponse(items=[notification_out(n) for n in shown], unread_count=len(unread))


@operation(
    bp,
    "/me/notifications/{notification_id}/read",
    "POST",
    summary="Mark one of my notifications read (idempotent)",
    tag="notifications",
    response=lambda: s.NotificationResponse,
    roles=ANY_ROLE,
    errors=(404,),
)
def mark_notification_read(call: Call[Any, Any]) -> s.NotificationResponse:
    return notification_out(service.mark_read(call.container.notifications, call.user, call.path["notification_id"]))


@operation(
    bp,
    "/me/notifications/read-all",
    "POST",
    summary="Mark all my notifications read",
    tag="notifications",
    response=lambda: s.MarkAllReadResponse,
    roles=ANY_ROLE,
)
def mark_all_notifications_read(call: Call[Any, Any]) -> s.MarkAllReadResponse:
    return s.MarkAllReadResponse(marked=service.mark_all_read(call.container.notifications, call.user))
