"""In-app notifications: what the platform told a person, kept in their own partition (GDPR: found,
exported and erased from the person's id alone)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class NotificationStatus(StrEnum):
    UNREAD = "unread"
    READ = "read"


@dataclass
class Notification:
    user_id: str
    notification_id: str
    kind: str  # a template kind, e.g. "interview_scheduled"
    subject: str
    text: str
    created_at: datetime
    read_at: datetime | None = None
    object_type: str | None = None  # what it is about, for a link in the app: "proposal", "interview", ...
    object_id: str | None = None
    status: NotificationStatus = NotificationStatus.UNREAD

    def marked_read(self, now: datetime) -> Notification:
        return replace(self, status=NotificationStatus.READ, read_at=now)
