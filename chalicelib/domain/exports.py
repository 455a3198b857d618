"""An archive of a person's files for the personal-data export, built in the background.

Zipping up to 50 files of up to 25 MB each is no work for an API request: the request stores an archive
in ``preparing``, the main table's stream builds it (streamed to S3, never whole in memory), and the
person fetches a short-lived link once it is ``ready``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# An archive still preparing after this long will not be finished: the worker's 15-minute runs, retried
# five times, plus time queued behind other archives, are over. Say so, so that the person asks again.
BUILD_PATIENCE = timedelta(hours=2)
# Records and zips live a day (the bucket's lifecycle removes exports/ objects on the same schedule).
ARCHIVE_RETENTION = timedelta(days=1)


class ArchiveStatus(StrEnum):
    PREPARING = "preparing"
    READY = "ready"


@dataclass
class ExportArchive:
    user_id: str
    archive_id: str
    created_at: datetime
    status: ArchiveStatus = ArchiveStatus.PREPARING
    object_key: str = ""
    file_count: int = 0
    ready_at: datetime | None = None

    def failed(self, now: datetime) -> bool:
        return self.status is ArchiveStatus.PREPARING and now - self.created_at > BUILD_PATIENCE

    def expired(self, now: datetime) -> bool:
        """Its zip is about to go (the hour's margin outlasts any link handed out)."""
        return now - self.created_at >= ARCHIVE_RETENTION - timedelta(hours=1)

    def usable(self, now: datetime) -> bool:
        """Ready or still being built, and not about to expire: worth handing out instead of a new one."""
        return not self.expired(now) and (self.status is ArchiveStatus.READY or not self.failed(now))


def archive_key(user_id: str, archive_id: str) -> str:
    return f"exports/{user_id}/{archive_id}.zip"
