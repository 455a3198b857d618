"""Uploading CVs and portfolio files, as the API takes and shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from chalicelib.domain.files import FilePurpose, FileStatus, SuggestionState
from chalicelib.schemas.accounts import PresignedUploadResponse
from chalicelib.schemas.base import RequestModel, ResponseModel

TEXT_EXCERPT_CHARS = 2_000


class RequestUploadRequest(RequestModel):
    purpose: FilePurpose
    content_type: Annotated[str, StringConstraints(min_length=3, max_length=100)]
    # Shown back to the person only; the object key never uses it.
    filename: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f]+$")]


class SuggestionDecisionRequest(RequestModel):
    skill_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,80}$")]
    decision: Literal["accept", "dismiss"]


class SuggestedSkillOut(ResponseModel):
    skill_id: str
    name: str
    mentions: int
    state: SuggestionState


class UploadedFileResponse(ResponseModel):
    file_id: str
    purpose: FilePurpose
    content_type: str
    filename: str
    status: FileStatus
    created_at: datetime
    size_bytes: int | None
    problem: str | None = Field(description="why the file was refused, in words a person can act on")
    text_excerpt: str = Field(description=f"the first {TEXT_EXCERPT_CHARS} characters of the text read from the file")
    suggestions: list[SuggestedSkillOut]


class FileListResponse(ResponseModel):
    items: list[UploadedFileResponse]


class FileUploadResponse(ResponseModel):
    file: UploadedFileResponse
    upload: PresignedUploadResponse
