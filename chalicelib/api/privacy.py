"""The data subject's rights: the personal-data export, and the archive of one's files."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.evaluations import escalation_out, evaluation_out, full_view
from chalicelib.api.files import file_out
from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.api.notifications import notification_out
from chalicelib.api.resume import resume_out
from chalicelib.domain.exports import ArchiveStatus, ExportArchive
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.domain.reviews import Review
    from chalicelib.schemas import accounts as account_schemas
    from chalicelib.schemas import consents as consent_schemas
    from chalicelib.schemas import engagement_changes as change_schemas
    from chalicelib.schemas import mappers
    from chalicelib.schemas import privacy as s
    from chalicelib.schemas import reviews as review_schemas
    from chalicelib.services import privacy as service
    from chalicelib.services import resume
    from chalicelib.services.reviews import SeenReview
else:  # imported on the first request that needs them (cold start)
    account_schemas = LazyModule("chalicelib.schemas.accounts")
    consent_schemas = LazyModule("chalicelib.schemas.consents")
    change_schemas = LazyModule("chalicelib.schemas.engagement_changes")
    mappers = LazyModule("chalicelib.schemas.mappers")
    s = LazyModule("chalicelib.schemas.privacy")
    review_schemas = LazyModule("chalicelib.schemas.reviews")
    service = LazyModule("chalicelib.services.privacy")
    resume = LazyModule("chalicelib.services.resume")

bp = Blueprint(__name__)


@operation(
    bp,
    "/me/export",
    "GET",
    summary="Everything the platform holds about me (GDPR access and portability)",
    tag="privacy",
    response=lambda: s.PersonalDataExportResponse,
    roles=ANY_ROLE,
)
def export_my_data(call: Call[Any, Any]) -> s.PersonalDataExportResponse:
    c = call.container
    export = service.export_personal_data(
        c.profiles,
        c.audit_log,
        call.user,
        c.notification_repository,
        c.candidacies.proposals,
        c.contracts.engagements,
        c.reviews.reviews,
        c.evaluations.evaluations,
    )
    return s.PersonalDataExportResponse(
        generated_at=export.generated_at,
        user=mappers.user_out(export.user),
        organisation=mappers.organisation_out(export.organisation) if export.organisation else None,
        profile=mappers.profile_out(export.profile) if export.profile else None,
        resume=resume_out(resume.Resume(export.user.user_id, export.resume)),
        json_resume=export.json_resume,
        files=[file_out(f) for f in export.files],
        consents=[
            s.ConsentEvidenceResponse(**mappers.consent_entry_out(e).model_dump(), ip=e.ip, user_agent=e.user_agent)
            for e in export.consents
        ],
        disclosures=[
            s.DisclosureResponse(
                client_id=d.client_id,
                client_name=d.client_name,
                assignment_id=d.assignment_id,
                assignment_title=d.assignment_title,
                proposal_id=d.proposal_id,
                disclosed_at=d.at,
                disclosed_by=d.by,
                consent_entry_ids=list(d.consent_entry_ids),
                hourly_rate=consent_schemas.HourlyRateOut(amount_minor=d.rate.amount_minor, currency=d.rate.currency),
            )
            for d in export.disclosures
        ],
        candidacies=[mappers.candidacy_item_out(c) for c in export.candidacies],
        interviews=[mappers.interview_out(i, with_notes=True) for i in export.interviews],
        engagements=[mappers.engagement_record_out(e) for e in export.engagements],
        consultant_agent=mappers.agent_out(export.consultant_agent) if export.consultant_agent else None,
        notifications=[notification_out(n) for n in export.notifications],
        audit=[mappers.audit_out(e) for e in export.audit],
        reviews=[review_schemas.review_out(_exported_review(r, export.generated_at)) for r in export.reviews],
        evaluations=[evaluation_out(full_view(r)) for r in export.evaluations],
        escalations=[escalation_out(e) for e in export.escalations],
        engagement_changes=[change_schemas.change_record_out(c) for c in export.engagement_changes],
    )


def _exported_review(review: Review, now: datetime) -> SeenReview:
    """A review in its subject's export: their own (written) with who wrote it; one of them without."""
    from chalicelib.domain.reviews import ReviewSide
    from chalicelib.services.reviews import SeenReview

    own = review.side is ReviewSide.CONSULTANT
    return SeenReview(review, review.revealed_moment(now), editable=False, as_staff=False, own=own)


def archive_out(archive: ExportArchive, link: str | None, now: datetime) -> s.ExportArchiveResponse:
    return s.ExportArchiveResponse(
        archive_id=archive.archive_id,
        status="failed" if archive.failed(now) else archive.status.value,
        created_at=archive.created_at,
        file_count=archive.file_count if archive.status is ArchiveStatus.READY else None,
        download=account_schemas.DownloadResponse(url=link, expires_in=service.ARCHIVE_LINK_SECONDS) if link else None,
    )


@operation(
    bp,
    "/me/export/archive",
    "POST",
    summary="Zip my files for the export (built in the background; returns the one already usable, if any)",
    tag="privacy",
    response=lambda: s.ExportArchiveResponse,
    status=202,
    roles=ANY_ROLE,
)
def request_archive(call: Call[Any, Any]) -> s.ExportArchiveResponse:
    c = call.container
    archive = service.request_archive(c.profiles, call.user)
    return archive_out(archive, service.archive_link(c.storage, archive), c.profiles.accounts.now())


@operation(
    bp,
    "/me/export/archive/{archive_id}",
    "GET",
    summary="The archive of my files: its state and, once ready, a short-lived download link",
    tag="privacy",
    response=lambda: s.ExportArchiveResponse,
    roles=ANY_ROLE,
)
def get_archive(call: Call[Any, Any]) -> s.ExportArchiveResponse:
    c = call.container
    archive = service.get_archive(c.profiles, call.user, call.path["archive_id"])
    return archive_out(archive, service.archive_link(c.storage, archive), c.profiles.accounts.now())
