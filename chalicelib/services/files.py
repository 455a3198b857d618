"""Uploading a CV or portfolio file: a presigned POST bound to the owner, the upload handler's check of
the real bytes (chalicelib.documents.inspection), and the skills found in a CV, which the consultant
accepts into the resume or dismisses.

Files are addressed by the S3 version that was checked, as consent documents are: an overwrite with a
still-valid upload form changes nothing that was accepted."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from chalicelib.domain.audit import AuditAction
from chalicelib.domain.files import (
    ALLOWED_KINDS,
    MAX_BYTES,
    MAX_FILES_PER_PERSON,
    FilePurpose,
    FileStatus,
    SuggestedSkill,
    SuggestionState,
    UploadedFile,
    storable_text,
)
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import ID_PATTERN, PATH_ID_PATTERN, new_id
from chalicelib.domain.resume import ResumePart
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, Forbidden, InvalidInput, NotFound
from chalicelib.schemas.resume import SkillIn
from chalicelib.services import resume
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.ports import Changes, DocumentStorage, PresignedPost
from chalicelib.services.profiles import ProfilePorts, consultant_for_read

if TYPE_CHECKING:
    from chalicelib.taxonomy import SkillTaxonomy

UPLOAD_FORM_SECONDS = 600
DOWNLOAD_LINK_SECONDS = 300
_DECISION_ATTEMPTS = 5
# A file still pending this long after its form was issued will not be checked any more: its form has
# expired and the upload handler's retries are over (the message sits in the dead-letter queue).
STALE_UPLOAD_AFTER = timedelta(days=1)
SUGGESTED_LEVEL = 3  # a skill accepted from a CV starts at "proficient"; the consultant adjusts it
_KEY = re.compile(rf"files/(?P<user>{PATH_ID_PATTERN.pattern.strip('^$')})/(?P<file>{ID_PATTERN.pattern.strip('^$')})")


def object_key(user_id: str, file_id: str) -> str:
    return f"files/{user_id}/{file_id}"


def _consultant(principal: Principal) -> None:
    if not principal.has(Role.CONSULTANT):
        raise Forbidden("Only consultants upload CVs and portfolio files.")


def request_upload(
    ports: ProfilePorts, storage: DocumentStorage, principal: Principal, purpose: FilePurpose, content_type: str, filename: str
) -> tuple[UploadedFile, PresignedPost]:
    _consultant(principal)
    kind = next((k for k in ALLOWED_KINDS[purpose] if k.value == content_type), None)
    if kind is None:
        allowed = ", ".join(sorted(k.value for k in ALLOWED_KINDS[purpose]))
        raise InvalidInput(
            f"A {purpose.value} may be one of: {allowed}.", issues=[FieldIssue("content_type", "not accepted for this purpose")]
        )
    if len(ports.profiles.list_files(principal.user_id)) >= MAX_FILES_PER_PERSON:
        raise Conflict(f"You have {MAX_FILES_PER_PERSON} files already; delete one before uploading another.")
    file_id = new_id()
    file = UploadedFile(
        user_id=principal.user_id,
        file_id=file_id,
        purpose=purpose,
        kind=kind,
        filename=filename,
        created_at=ports.accounts.now(),
        object_key=object_key(principal.user_id, file_id),
    )
    ports.accounts.uow.commit(Changes().insert(file))
    post = storage.presigned_post(file.object_key, content_type=kind.value, max_bytes=MAX_BYTES[purpose], expires_in=UPLOAD_FORM_SECONDS)
    return file, post


def record_file_upload(
    ports: ProfilePorts, storage: DocumentStorage, taxonomy: SkillTaxonomy, key: str, version_id: str | None
) -> UploadedFile | None:
    """Called by the upload handler for every new object version under ``files/``."""
    match = _KEY.fullmatch(key)
    file = ports.profiles.get_file(match["user"], match["file"]) if match else None
    if file is None or file.object_key != key:
        storage.delete(key, version_id)  # nobody awaits it
        return None
    if file.status is not FileStatus.PENDING:
        if version_id and version_id != file.object_version:
            storage.delete(key, version_id)  # an overwrite after the check changes nothing
        return file
    max_bytes = MAX_BYTES[file.purpose]
    fetched = storage.fetch(key, version_id, max_bytes)
    if fetched is None:
        return file
    # A bounded read holds at most max_bytes + 1 bytes: an oversized file is refused for its size.
    from chalicelib.documents.inspection import InspectionLimits, inspect_file  # the upload handler's work: not at API cold start

    result = inspect_file(fetched.content, file.kind, InspectionLimits(max_bytes))
    if result.accepted:
        text = storable_text(result.text)
        suggestions = (
            [SuggestedSkill(s.skill_id, s.name, s.count) for s in taxonomy.suggest(text)] if file.purpose is FilePurpose.CV else []
        )
        updated = replace(
            file,
            status=FileStatus.ACCEPTED,
            object_version=fetched.version_id,
            size_bytes=fetched.size,
            sha256=hashlib.sha256(fetched.content).hexdigest(),
            text=text,
            suggestions=suggestions,
        )
    else:
        updated = replace(file, status=FileStatus.REJECTED, size_bytes=fetched.size, problem=result.problem)
    try:
        ports.accounts.uow.commit(Changes().transition(updated, FileStatus.PENDING.value))
    except ConcurrencyConflict:
        current = ports.profiles.get_file(file.user_id, file.file_id)
        if current is not None and fetched.version_id and fetched.version_id != current.object_version:
            storage.delete(key, fetched.version_id)
        return current
    if not result.accepted:
        storage.delete(key, fetched.version_id)  # refused bytes are not kept
    return updated


def list_files(ports: ProfilePorts, principal: Principal) -> list[UploadedFile]:
    _consultant(principal)
    return sorted(ports.profiles.list_files(principal.user_id), key=lambda f: f.created_at, reverse=True)


def get_file(ports: ProfilePorts, principal: Principal, file_id: str) -> UploadedFile:
    _consultant(principal)
    return _file(ports, principal.user_id, file_id)


def _file(ports: ProfilePorts, user_id: str, file_id: str) -> UploadedFile:
    file = ports.profiles.get_file(user_id, file_id)
    if file is None:
        raise NotFound("File not found.")
    return file


def download_url(ports: ProfilePorts, storage: DocumentStorage, principal: Principal, file_id: str) -> str:
    return _download_link(storage, get_file(ports, principal, file_id))


def _download_link(storage: DocumentStorage, file: UploadedFile) -> str:
    if file.status is not FileStatus.ACCEPTED:
        raise NotFound("The file has no stored content.")
    return storage.presigned_get(file.object_key, file.object_version, expires_in=DOWNLOAD_LINK_SECONDS)


def list_consultant_files(ports: ProfilePorts, principal: Principal, user_id: str) -> list[UploadedFile]:
    """A consultant's files as its agency and staff see them (staff reads audited); read-only."""
    user = consultant_for_read(ports, principal, user_id)
    files = sorted(ports.profiles.list_files(user.user_id), key=lambda f: f.created_at, reverse=True)
    if principal.user_id != user_id:
        record_staff_reads(ports.accounts.uow, principal, ports.accounts.now(), AuditAction.FILE_READ, [Read(user_id, "files", user_id)])
    return files


def consultant_file_download_url(ports: ProfilePorts, storage: DocumentStorage, principal: Principal, user_id: str, file_id: str) -> str:
    user = consultant_for_read(ports, principal, user_id)
    link = _download_link(storage, _file(ports, user.user_id, file_id))
    if principal.user_id != user_id:
        record_staff_reads(ports.accounts.uow, principal, ports.accounts.now(), AuditAction.FILE_READ, [Read(user_id, "file", file_id)])
    return link


def delete_file(ports: ProfilePorts, storage: DocumentStorage, principal: Principal, file_id: str) -> None:
    file = get_file(ports, principal, file_id)
    try:
        ports.accounts.uow.commit(Changes().delete(file, file.status.value))
    except ConcurrencyConflict as exc:
        raise Conflict("The file is being checked right now; try again in a moment.") from exc
    if file.object_version:
        storage.delete(file.object_key, file.object_version)


def _has_skill(ports: ProfilePorts, user_id: str, skill_id: str) -> bool:
    return any(i.part is ResumePart.SKILLS and i.content.get("skill_id") == skill_id for i in ports.profiles.list_resume_items(user_id))


def decide_suggestion(
    ports: ProfilePorts, taxonomy: SkillTaxonomy, principal: Principal, file_id: str, skill_id: str, accept: bool
) -> UploadedFile:
    """Accepting adds the skill to the resume (once); dismissing only records the choice."""
    file = get_file(ports, principal, file_id)
    suggestion = next((s for s in file.suggestions if s.skill_id == skill_id), None)
    if suggestion is None:
        raise NotFound("No such suggestion for this file.")
    if accept and not _has_skill(ports, principal.user_id, skill_id):
        try:
            skill = SkillIn(name=suggestion.name, level=SUGGESTED_LEVEL)
            resume.add_item(ports, taxonomy, principal, principal.user_id, ResumePart.SKILLS, skill)
        except Conflict:
            if not _has_skill(ports, principal.user_id, skill_id):
                raise  # not a concurrent accept of the same skill: e.g. the resume holds the most skills it may
    state = SuggestionState.ACCEPTED if accept else SuggestionState.DISMISSED
    # Decisions on other suggestions of the same file may land meanwhile: apply this one to the copy as
    # stored now, so that none of them is lost.
    for _ in range(_DECISION_ATTEMPTS):
        suggestions = [replace(s, state=state) if s.skill_id == skill_id else s for s in file.suggestions]
        decided = replace(file, suggestions=suggestions, revision=file.revision + 1)
        try:
            ports.accounts.uow.commit(Changes().transition(decided, FileStatus.ACCEPTED.value, revision=file.revision))
            return decided
        except ConcurrencyConflict:
            file = _file(ports, principal.user_id, file_id)  # NotFound when it was deleted meanwhile
    raise Conflict("The file is being changed right now; try again.")


def sweep_stale_uploads(ports: ProfilePorts, storage: DocumentStorage) -> int:
    """Settles files that will never be checked: a form never used is forgotten (and stops counting against
    the person's file limit); an upload that could not be checked is refused with a reason the consultant
    can act on (delete it, upload again), and its bytes removed. Returns how many were settled."""
    settled = 0
    for file in ports.profiles.list_pending_files(ports.accounts.now() - STALE_UPLOAD_AFTER):
        uploaded = storage.fetch(file.object_key, None, 0) is not None
        if uploaded:
            problem = "We could not check this upload. Please delete it and upload the file again."
            changes = Changes().transition(replace(file, status=FileStatus.REJECTED, problem=problem), FileStatus.PENDING.value, was=file)
        else:
            changes = Changes().delete(file, FileStatus.PENDING.value)
        try:
            ports.accounts.uow.commit(changes)
        except ConcurrencyConflict:
            continue  # checked at the last moment
        storage.erase(file.object_key)
        settled += 1
    return settled
