"""The data subject's rights: the personal-data export."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.files import file_out
from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.api.resume import resume_out
from chalicelib.schemas.accounts import DownloadResponse
from chalicelib.schemas.mappers import audit_out, consent_entry_out, organisation_out, profile_out, user_out
from chalicelib.schemas.privacy import ConsentEvidenceResponse, PersonalDataExportResponse
from chalicelib.services import privacy as service
from chalicelib.services.privacy import ARCHIVE_LINK_SECONDS
from chalicelib.services.resume import Resume

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
    export = service.export_personal_data(c.profiles, c.audit_log, c.storage, call.user)
    return PersonalDataExportResponse(
        generated_at=export.generated_at,
        user=user_out(export.user),
        organisation=organisation_out(export.organisation) if export.organisation else None,
        profile=profile_out(export.profile) if export.profile else None,
        resume=resume_out(Resume(export.user.user_id, export.resume)),
        json_resume=export.json_resume,
        files=[file_out(f) for f in export.files],
        archive=DownloadResponse(url=export.archive_url, expires_in=ARCHIVE_LINK_SECONDS) if export.archive_url else None,
        consents=[ConsentEvidenceResponse(**consent_entry_out(e).model_dump(), ip=e.ip, user_agent=e.user_agent) for e in export.consents],
        disclosures=[],  # proposals (issue 5) record disclosures; none can exist before them
        audit=[audit_out(e) for e in export.audit],
    )
