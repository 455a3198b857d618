"""GDPR access and portability (Art. 15/20): everything the platform holds about a person, in one export.

The export holds the account, the person's own organisation when it is a one-person agency, the
profile and resume (also as JSON Resume), the uploaded files, every consent entry with its evidence,
every disclosure of the profile to a client, the person's notifications, the audit entries about
the person, and a consultant's engagements and reviews (those they wrote, and those of them once
revealed: a review still blind to them is not theirs to read yet; one staff hid is, marked hidden). The files'
content comes as a zip built in the background (``request_archive``, then a short-lived link). Both
are audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chalicelib.domain.accounts import Organisation, User
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.consent import ConsentEntry
from chalicelib.domain.contracts import Engagement
from chalicelib.domain.engagement_changes import EngagementChange
from chalicelib.domain.evaluations import Escalation, EvaluationRound
from chalicelib.domain.exports import ArchiveStatus, ExportArchive, archive_key
from chalicelib.domain.files import FileStatus, UploadedFile
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import iso, new_id
from chalicelib.domain.notifications import Notification
from chalicelib.domain.profiles import Profile
from chalicelib.domain.proposals import AgentAssignment, Candidacy, Disclosure, Interview
from chalicelib.domain.resume import ResumeItem
from chalicelib.domain.reviews import Review, ReviewSide
from chalicelib.errors import ConcurrencyConflict, NotFound
from chalicelib.services.ports import (
    ArchiveMember,
    AuditLog,
    Changes,
    DocumentStorage,
    EngagementRepository,
    EvaluationRepository,
    NotificationRepository,
    ProposalRepository,
    ReviewRepository,
)
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
    disclosures: list[Disclosure]
    candidacies: list[Candidacy]  # the assignments they were put forward for, with rates and answers
    interviews: list[Interview]  # with the agent's outcome and notes
    engagements: list[Engagement]  # the assignments they were contracted for, with the terms
    consultant_agent: AgentAssignment | None
    notifications: list[Notification]
    audit: list[AuditEntry]
    reviews: list[Review] = field(default_factory=list)  # a consultant's: written, and received once revealed
    # A consultant's performance follow-up, all of it: ratings of them, their self-assessments, the agent's
    # feedback and notes, and the escalations about them (as interviews come with the agent's notes).
    evaluations: list[EvaluationRound] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    # Changes proposed for their engagements (extensions, early ends, new rates), with every party's answer.
    engagement_changes: list[EngagementChange] = field(default_factory=list)


def export_personal_data(
    ports: ProfilePorts,
    audit_log: AuditLog,
    principal: Principal,
    notifications: NotificationRepository,
    proposals: ProposalRepository,
    engagements: EngagementRepository,
    reviews: ReviewRepository | None = None,
    evaluations: EvaluationRepository | None = None,
) -> PersonalDataExport:
    repository = ports.accounts.accounts
    user = repository.get_user(principal.user_id)
    assert user is not None  # the caller was authenticated from this record
    org = repository.get_organisation(user.org_id) if user.org_id else None
    files = [f for f in ports.profiles.list_files(user.user_id) if f.status is FileStatus.ACCEPTED]
    now = ports.accounts.now()
    export_id = new_id()
    # Audited before the read of the audit log, so the export lists its own making.
    ports.accounts.uow.commit(Changes().insert(_exported(user.user_id, "export", export_id, now)))
    return PersonalDataExport(
        generated_at=now,
        user=user,
        organisation=org if org is not None and org.independent else None,
        profile=ports.profiles.get_profile(user.user_id),
        resume=ports.profiles.list_resume_items(user.user_id),
        json_resume=_json_resume_of(ports, user),
        files=files,
        consents=sorted(ports.ledger.list_for_subject(user.user_id), key=lambda e: e.at),
        disclosures=ports.profiles.list_disclosures(user.user_id),
        candidacies=(candidacies := proposals.list_consultant_candidacies(user.user_id)),
        interviews=[i for c in candidacies for i in proposals.list_candidacy_interviews(c.candidacy_id)],
        engagements=(contracted := engagements.list_consultant_engagements(user.user_id)),
        engagement_changes=[c for e in contracted for c in engagements.list_changes(e.engagement_id)],
        consultant_agent=proposals.get_agent_assignment(user.user_id),
        notifications=notifications.list_notifications(user.user_id),
        audit=audit_log.list_for_subject(user.user_id),
        reviews=_reviews_of(reviews, user.user_id, now) if reviews is not None else [],
        evaluations=evaluations.list_consultant_rounds(user.user_id) if evaluations is not None else [],
        escalations=evaluations.list_consultant_escalations(user.user_id) if evaluations is not None else [],
    )


def _reviews_of(reviews: ReviewRepository, consultant_id: str, now: datetime) -> list[Review]:
    """The reviews the consultant wrote, and those of them once revealed (hidden ones too, marked so)."""
    return [r for r in reviews.list_consultant_reviews(consultant_id) if r.side is ReviewSide.CONSULTANT or r.revealed(now)]


def request_archive(ports: ProfilePorts, principal: Principal) -> ExportArchive:
    """Asks for the archive of one's files; one already usable (ready, or still being built) is answered
    instead of starting another."""
    now = ports.accounts.now()
    usable = [a for a in ports.profiles.list_archives(principal.user_id) if a.usable(now)]
    if usable:
        return max(usable, key=lambda a: a.created_at)
    archive = ExportArchive(principal.user_id, new_id(), now)
    ports.accounts.uow.commit(Changes().insert(archive).insert(_exported(principal.user_id, "archive", archive.archive_id, now)))
    return archive


def _exported(user_id: str, object_type: str, object_id: str, now: datetime) -> AuditEntry:
    """The person took their own data out (the export, or the archive of their files)."""
    return AuditEntry(
        subject_id=user_id,
        entry_id=new_id(),
        at=now,
        actor_id=user_id,
        action=AuditAction.DATA_EXPORTED,
        object_type=object_type,
        object_id=object_id,
    )


def get_archive(ports: ProfilePorts, principal: Principal, archive_id: str) -> ExportArchive:
    archive = ports.profiles.get_archive(principal.user_id, archive_id)
    if archive is None or archive.expired(ports.accounts.now()):  # TTL removes expired records only lazily
        raise NotFound("Archive not found; archives are kept a day: ask for a new one.")
    return archive


def archive_link(storage: DocumentStorage, archive: ExportArchive) -> str | None:
    if archive.status is not ArchiveStatus.READY:
        return None
    return storage.presigned_get(archive.object_key, None, expires_in=ARCHIVE_LINK_SECONDS)


def build_archive(ports: ProfilePorts, storage: DocumentStorage, user_id: str, archive_id: str) -> bool:
    """Run from the main table's stream: zips the person's accepted files with their texts and an index.
    Rebuilding is harmless (the same key is written again), so a retried record needs no guard."""
    archive = ports.profiles.get_archive(user_id, archive_id)
    if archive is None:
        storage.erase(archive_key(user_id, archive_id))  # a zip a crashed earlier attempt left after an erasure
        return False
    if archive.status is not ArchiveStatus.PREPARING:
        return False
    files = [f for f in ports.profiles.list_files(user_id) if f.status is FileStatus.ACCEPTED]
    key = archive_key(user_id, archive_id)
    storage.write_archive(key, _members(files))
    ready = replace(archive, status=ArchiveStatus.READY, object_key=key, file_count=len(files), ready_at=ports.accounts.now())
    try:
        ports.accounts.uow.commit(Changes().transition(ready, ArchiveStatus.PREPARING.value))
    except ConcurrencyConflict:
        if ports.profiles.get_archive(user_id, archive_id) is None:
            storage.erase(key)  # the person was erased meanwhile: their files must not outlive them in a zip
        return False  # or a concurrent build finished first
    return True


def _members(files: list[UploadedFile]) -> Iterator[ArchiveMember]:
    index = []
    for file in files:
        name = f"{file.file_id}-{file.filename}"
        yield ArchiveMember(name, source_key=file.object_key, source_version=file.object_version)
        # The full text read from each file travels in the archive; the JSON export carries excerpts (an
        # answer with every CV's text could pass Lambda's 6 MB response limit).
        yield ArchiveMember(f"{file.file_id}.txt", content=file.text.encode())
        index.append(
            {
                "file": name,
                "text": f"{file.file_id}.txt",
                "purpose": file.purpose.value,
                "uploaded_at": iso(file.created_at),
                "sha256": file.sha256,
            }
        )
    yield ArchiveMember("index.json", content=json.dumps(index, indent=2).encode())


def _json_resume_of(ports: ProfilePorts, user: User) -> dict[str, Any] | None:
    from chalicelib.services.json_resume import json_resume_of  # the mapping: loaded on first use

    return json_resume_of(ports, user)
