"""A consultant's CV and portfolio files: upload forms, what the checks found, and suggested skills."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.api.consents import upload_out
from chalicelib.api.http import Call, operation
from chalicelib.domain.files import MAX_BYTES, UploadedFile
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.schemas import accounts as account_schemas
    from chalicelib.schemas import files as s
    from chalicelib.services import files as service
else:  # imported on the first request that needs them (cold start)
    account_schemas = LazyModule("chalicelib.schemas.accounts")
    s = LazyModule("chalicelib.schemas.files")
    service = LazyModule("chalicelib.services.files")


bp = Blueprint(__name__)
CONSULTANT = frozenset({Role.CONSULTANT})
# Like the profile: the consultant, its agency's admins and staff read; clients never do.
FILE_READERS = frozenset({Role.STAFF, Role.AGENCY_ADMIN, Role.CONSULTANT})


def file_out(file: UploadedFile) -> s.UploadedFileResponse:
    return s.UploadedFileResponse(
        file_id=file.file_id,
        purpose=file.purpose,
        content_type=file.kind.value,
        filename=file.filename,
        status=file.status,
        created_at=file.created_at,
        size_bytes=file.size_bytes,
        problem=file.problem,
        text_excerpt=file.text[: s.TEXT_EXCERPT_CHARS],
        suggestions=[s.SuggestedSkillOut(skill_id=k.skill_id, name=k.name, mentions=k.mentions, state=k.state) for k in file.suggestions],
    )


@operation(
    bp,
    "/me/files",
    "POST",
    summary="An upload form for a CV (PDF, DOCX; 10 MB) or a portfolio file (also images; 25 MB)",
    tag="files",
    request=lambda: s.RequestUploadRequest,
    response=lambda: s.FileUploadResponse,
    status=201,
    roles=CONSULTANT,
)
def request_upload(call: Call[s.RequestUploadRequest, Any]) -> s.FileUploadResponse:
    c, body = call.container, call.body
    file, post = service.request_upload(c.profiles, c.storage, call.user, body.purpose, body.content_type, body.filename)
    return s.FileUploadResponse(file=file_out(file), upload=upload_out(post, MAX_BYTES[file.purpose], file.kind.value))


@operation(bp, "/me/files", "GET", summary="My files, newest first", tag="files", response=lambda: s.FileListResponse, roles=CONSULTANT)
def list_files(call: Call[Any, Any]) -> s.FileListResponse:
    return s.FileListResponse(items=[file_out(f) for f in service.list_files(call.container.profiles, call.user)])


@operation(
    bp,
    "/me/files/{file_id}",
    "GET",
    summary="One of my files: its status, text and suggested skills",
    tag="files",
    response=lambda: s.UploadedFileResponse,
    roles=CONSULTANT,
)
def get_file(call: Call[Any, Any]) -> s.UploadedFileResponse:
    return file_out(service.get_file(call.container.profiles, call.user, call.path["file_id"]))


@operation(
    bp,
    "/me/files/{file_id}/download",
    "GET",
    summary="A short-lived download link for an accepted file",
    tag="files",
    response=lambda: account_schemas.DownloadResponse,
    roles=CONSULTANT,
)
def download_file(call: Call[Any, Any]) -> account_schemas.DownloadResponse:
    url = service.download_url(call.container.profiles, call.container.storage, call.user, call.path["file_id"])
    return account_schemas.DownloadResponse(url=url, expires_in=service.DOWNLOAD_LINK_SECONDS)


@operation(bp, "/me/files/{file_id}", "DELETE", summary="Delete one of my files", tag="files", status=204, roles=CONSULTANT, errors=(409,))
def delete_file(call: Call[Any, Any]) -> Response:
    service.delete_file(call.container.profiles, call.container.storage, call.user, call.path["file_id"])
    return Response(body="", status_code=204)


@operation(
    bp,
    "/me/files/{file_id}/suggestions",
    "POST",
    summary="Accept a suggested skill into my resume, or dismiss it",
    tag="files",
    request=lambda: s.SuggestionDecisionRequest,
    response=lambda: s.UploadedFileResponse,
    roles=CONSULTANT,
)
def decide_suggestion(call: Call[s.SuggestionDecisionRequest, Any]) -> s.UploadedFileResponse:
    c, body = call.container, call.body
    file = service.decide_suggestion(c.profiles, c.taxonomy, call.user, call.path["file_id"], body.skill_id, body.decision == "accept")
    return file_out(file)


@operation(
    bp,
    "/consultants/{user_id}/files",
    "GET",
    summary="A consultant's files (the consultant, its agency, staff; audited), newest first",
    tag="files",
    response=lambda: s.FileListResponse,
    roles=FILE_READERS,
)
def list_consultant_files(call: Call[Any, Any]) -> s.FileListResponse:
    files = service.list_consultant_files(call.container.profiles, call.user, call.path["user_id"])
    return s.FileListResponse(items=[file_out(f) for f in files])


@operation(
    bp,
    "/consultants/{user_id}/files/{file_id}/download",
    "GET",
    summary="A short-lived download link for a consultant's accepted file (its agency, staff; audited)",
    tag="files",
    response=lambda: account_schemas.DownloadResponse,
    roles=FILE_READERS,
)
def download_consultant_file(call: Call[Any, Any]) -> account_schemas.DownloadResponse:
    c = call.container
    url = service.consultant_file_download_url(c.profiles, c.storage, call.user, call.path["user_id"], call.path["file_id"])
    return account_schemas.DownloadResponse(url=url, expires_in=service.DOWNLOAD_LINK_SECONDS)
