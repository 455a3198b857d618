"""In-app notifications."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from chalicelib.domain.notifications import NotificationStatus
from chalicelib.schemas.base import RequestModel, ResponseModel


class NotificationQuery(RequestModel):
    unread: bool = Field(default=False, description="true: only the unread ones")


class NotificationResponse(ResponseModel):
    notification_id: str
    kind: str = Field(description="what happened, e.g. interview_scheduled")
    subject: str
    text: str
    status: NotificationStatus
    created_at: datetime
    read_at: datetime | None
    object_type: str | None = Field(description="what it is about (proposal, interview, ...), with object_id")
    object_id: str | None


class NotificationListResponse(ResponseModel):
    items: list[NotificationResponse] = Field(description="newest first")
    unread_count: int


class MarkAllReadResponse(ResponseModel):
    marked: int = Field(description="how many were unread and are now read")
