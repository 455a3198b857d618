"""The data subject's rights: the personal-data export, and the archive of one's files."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.files import file_out
from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.api.notifications import notification_out
from chalicelib.api.resume import resume_out
from chalicelib.domain.exports import ArchiveStatus, ExportArchive
from chalicelib.lazy import LazyModule
from chalicelib.schemas.accounts import DownloadResponse
from chalicelib.schemas.consents import HourlyRateOut
from chalicelib.schemas.mappers import (
    agent_out,
    audit_out,
    candidacy_item_out,
    consent_entry_out,
    engagement_record_out,
    interview_out,
    organisation_out,
    profile_out,
    user_out,
)
from chalicelib.schemas.privacy import ConsentEvidenceResponse, DisclosureResponse, ExportArchiveResponse, PersonalDataExportResponse

if TYPE_CHECKING:
    from chalicelib.services import privacy as service
    from chalicelib.services import resume
else:  # imported on the first request that needs them (cold start)
    service = LazyModule("chalicelib.services.privacy")
    resume = LazyModule("chalicelib.services.resume")

bp = Blueprint(__name__)


@operation(
    bp,
    "/me/export",
    "GET",
    summary="Everything the platform holds about me (GDPR access and portability)",
    tag="privacy",
    response=PersonalDataExportResponse,
    roles=ANY_ROLE,
)
def export_my_data(call: Call[Any, Any]) -> PersonalDataExportResponse:
    c = call.container
    export = service.export_personal_data(
        c.profiles, c.audit_log, call.user, c.notification_repository, c.candidacies.proposals, c.contracts.engagements
    )
    return PersonalDataExportResponse(
        generated_at=export.generated_at,
        user=user_out(export.user),
        organisation=organisation_out(export.organisation) if export.organisation else None,
        profile=profile_out(export.profile) if export.profile else None,
        resume=resume_out(resume.Resume(export.user.user_id, export.resume)),
        json_resume=export.json_resume,
        files=[file_out(f) for f in export.files],
        consents=[ConsentEvidenceResponse(**consent_entry_out(e).model_dump(), ip=e.ip, user_agent=e.user_agent) for e in export.consents],
        disclosures=[
            DisclosureResponse(
                client_id=d.client_id,
                client_name=d.client_name,
                assignment_id=d.assignment_id,
                assignment_title=d.assignment_title,
                proposal_id=d.proposal_id,
                disclosed_at=d.at,
                disclosed_by=d.by,
                consent_entry_ids=list(d.consent_entry_ids),
                hourly_rate=HourlyRateOut(amount_minor=d.rate.amount_minor, currency=d.rate.currency),
            )
            for d in export.disclosures
        ],
        candidacies=[candidacy_item_out(c) for c in export.candidacies],
        interviews=[interview_out(i, with_notes=True) for i in export.interviews],
        engagements=[engagement_record_out(e) for e in export.engagements],
        consultant_agent=agent_out(export.consultant_agent) if export.consultant_agent else None,
        notifications=[notification_out(n) for n in export.notifications],
        audit=[audit_out(e) for e in export.audit],
    )


def archive_out(archive: ExportArchive, link: str | None, now: datetime) -> ExportArchiveResponse:
    return ExportArchiveResponse(
        archive_id=archive.archive_id,
        status="failed" if archive.failed(now) else archive.status.value,
        created_at=archive.created_at,
        file_count=archive.file_count if archive.status is ArchiveStatus.READY else None,
        download=DownloadResponse(url=link, expires_in=service.ARCHIVE_LINK_SECONDS) if link else None,
    )


@operation(
    bp,
    "/me/export/archive",
    "POST",
    summary="Zip my files for the export (built in the background; returns the one already usable, if any)",
    tag="privacy",
    response=ExportArchiveResponse,
    status=202,
    roles=ANY_ROLE,
)
def request_archive(call: Call[Any, Any]) -> ExportArchiveResponse:
    c = call.container
    archive = service.request_archive(c.profiles, call.user)
    return archive_out(archive, service.archive_link(c.storage, archive), c.profiles.accounts.now())


@operation(
    bp,
    "/me/export/archive/{archive_id}",
    "GET",
    summary="The archive of my files: its state and, once ready, a short-lived download link",
    tag="privacy",
    response=ExportArchiveResponse,
    roles=ANY_ROLE,
)
def get_archive(call: Call[Any, Any]) -> ExportArchiveResponse:
    c = call.container
    archive = service.get_archive(c.profiles, call.user, call.path["archive_id"])
    return archive_out(archive, service.archive_link(c.storage, archive), c.profiles.accounts.now())
