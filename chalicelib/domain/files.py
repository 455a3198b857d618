"""Files a consultant uploads (a CV, portfolio files): what may be uploaded, and what became of it.

A file is `pending` until the upload handler has checked the bytes S3 really holds; then it is
`accepted` (with its text and the skills found in it, which the consultant accepts or dismisses) or
`rejected` with a reason the person can act on. Nothing is attached half-way."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chalicelib.documents.kinds import FileKind


class FilePurpose(StrEnum):
    CV = "cv"
    PORTFOLIO = "portfolio"


ALLOWED_KINDS: dict[FilePurpose, frozenset[FileKind]] = {
    FilePurpose.CV: frozenset({FileKind.PDF, FileKind.DOCX}),
    FilePurpose.PORTFOLIO: frozenset({FileKind.PDF, FileKind.DOCX, FileKind.PNG, FileKind.JPEG}),
}
MAX_BYTES: dict[FilePurpose, int] = {FilePurpose.CV: 10 * 1024 * 1024, FilePurpose.PORTFOLIO: 25 * 1024 * 1024}
# Extracted text is kept with the file for the profile and matching. DynamoDB items hold at most 400 KB,
# and the text is stored as JSON, where a non-Latin character takes six bytes (a \u escape): bound the encoding.
MAX_STORED_TEXT_BYTES = 150_000


def storable_text(text: str) -> str:
    """``text``, cut so that its JSON encoding stays within MAX_STORED_TEXT_BYTES."""
    while len(json.dumps(text)) > MAX_STORED_TEXT_BYTES:
        text = text[: len(text) * 4 // 5]
    return text


# Files one consultant may hold at once: bounds storage, the list and the export archive.
MAX_FILES_PER_PERSON = 50


class FileStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class SuggestionState(StrEnum):
    SUGGESTED = "suggested"
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"


@dataclass
class SuggestedSkill:
    skill_id: str
    name: str
    mentions: int
    state: SuggestionState = SuggestionState.SUGGESTED


@dataclass
class UploadedFile:
    user_id: str
    file_id: str
    purpose: FilePurpose
    kind: FileKind
    filename: str
    created_at: datetime
    object_key: str
    status: FileStatus = FileStatus.PENDING
    object_version: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    problem: str | None = None
    text: str = ""
    suggestions: list[SuggestedSkill] = field(default_factory=list)
    revision: int = 0  # suggestion decisions are optimistic updates of one item
