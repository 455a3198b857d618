"""GDPR access and portability (Art. 15/20): everything the platform holds about a person, in one export.

The export holds the account, the person's own organisation when it is a one-person agency, the
profile and resume, the uploaded files (their content in a zip behind a short-lived link), every
consent entry with its evidence, every disclosure of the profile to a client, and the audit entries
about the person. Producing it is itself audited."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.accounts import Organisation, User
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.consent import ConsentEntry
from chalicelib.domain.files import FileStatus, UploadedFile
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import iso, new_id
from chalicelib.domain.profiles import Profile
from chalicelib.domain.resume import ResumeItem
from chalicelib.services.json_resume import json_resume_of
from chalicelib.services.ports import AuditLog, Changes, DocumentStorage
from chalicelib.services.profiles import ProfilePorts

ARCHIVE_LINK_SECONDS = 900


@dataclass(frozen=True)
class PersonalDataExport:
    generated_at: datetime
    user: User
    organisation: Organisation | None
    profile: Profile | None
    resume: list[ResumeItem]
    json_resume: dict[str, Any] | None  # the profile and resume again, portable; None when neither is stored
    files: list[UploadedFile]
    consents: list[ConsentEntry]
    audit: list[AuditEntry]
    archive_url: str | None  # the files' content, zipped; None when there are no files


def export_personal_data(ports: ProfilePorts, audit_log: AuditLog, storage: DocumentStorage, principal: Principal) -> PersonalDataExport:
    repository = ports.accounts.accounts
    user = repository.get_user(principal.user_id)
    assert user is not None  # the caller was authenticated from this record
    org = repository.get_organisation(user.org_id) if user.org_id else None
    files = [f for f in ports.profiles.list_files(user.user_id) if f.status is FileStatus.ACCEPTED]
    now = ports.accounts.now()
    export_id = new_id()
    archive_url = _archive(storage, user, files, export_id) if files else None
    # Audited before the read of the audit log, so the export lists its own making.
    ports.accounts.uow.commit(
        Changes().insert(
            AuditEntry(
                subject_id=user.user_id,
                entry_id=new_id(),
                at=now,
                actor_id=user.user_id,
                action=AuditAction.DATA_EXPORTED,
                object_type="export",
                object_id=export_id,
            )
        )
    )
    return PersonalDataExport(
        generated_at=now,
        user=user,
        organisation=org if org is not None and org.independent else None,
        profile=ports.profiles.get_profile(user.user_id),
        resume=ports.profiles.list_resume_items(user.user_id),
        json_resume=json_resume_of(ports, user),
        files=files,
        consents=sorted(ports.ledger.list_for_subject(user.user_id), key=lambda e: e.at),
        audit=audit_log.list_for_subject(user.user_id),
        archive_url=archive_url,
    )


def _archive(storage: DocumentStorage, user: User, files: list[UploadedFile], export_id: str) -> str:
    """The files' content, zipped, stored under exports/ (which expires within a day) and linked briefly."""
    buffer = io.BytesIO()
    index = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            fetched = storage.fetch(file.object_key, file.object_version, file.size_bytes or 0)
            if fetched is None:
                continue
            name = f"{file.file_id}-{file.filename}"
            archive.writestr(name, fetched.content)
            # The full text read from each file travels in the archive; the JSON answer carries excerpts
            # (an answer with every CV's text could pass Lambda's 6 MB response limit).
            archive.writestr(f"{file.file_id}.txt", file.text)
            index.append(
                {
                    "file": name,
                    "text": f"{file.file_id}.txt",
                    "purpose": file.purpose.value,
                    "uploaded_at": iso(file.created_at),
                    "sha256": file.sha256,
                }
            )
        archive.writestr("index.json", json.dumps(index, indent=2))
    key = f"exports/{user.user_id}/{export_id}.zip"
    storage.put(key, buffer.getvalue(), "application/zip")
    return storage.presigned_get(key, None, expires_in=ARCHIVE_LINK_SECONDS)
