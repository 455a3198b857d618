"""The consent ledger (own consents, withdrawal), on-behalf consent documents, staff reads and audit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.schemas import accounts as a
    from chalicelib.schemas import consents as s
    from chalicelib.schemas import mappers
    from chalicelib.services import consent_documents as documents
    from chalicelib.services import consents as service
    from chalicelib.services.ports import PresignedPost
else:  # imported on the first request that needs them (cold start)
    a = LazyModule("chalicelib.schemas.accounts")
    s = LazyModule("chalicelib.schemas.consents")
    mappers = LazyModule("chalicelib.schemas.mappers")
    documents = LazyModule("chalicelib.services.consent_documents")
    service = LazyModule("chalicelib.services.consents")


bp = Blueprint(__name__)
STAFF = frozenset({Role.STAFF})
AGENCY_ADMIN = frozenset({Role.AGENCY_ADMIN})
DOWNLOAD_EXPIRY_SECONDS = 300


def _overview(overview: service.ConsentOverview) -> s.ConsentListResponse:
    return s.ConsentListResponse(
        subject_id=overview.subject_id,
        consents=[mappers.consent_out(st) for st in overview.states],
        entries=[mappers.consent_entry_out(e) for e in overview.entries],
    )


@operation(
    bp,
    "/me/consents",
    "GET",
    summary="My consents and the raw ledger",
    tag="consents",
    response=lambda: s.ConsentListResponse,
    roles=ANY_ROLE,
)
def my_consents(call: Call[Any, Any]) -> s.ConsentListResponse:
    return _overview(service.my_consents(call.container.consents, call.user))


@operation(
    bp,
    "/me/consents",
    "POST",
    summary="Give processing consent to the current privacy notice",
    tag="consents",
    request=lambda: s.GiveProcessingConsentRequest,
    response=lambda: s.ConsentResponse,
    status=201,
    roles=ANY_ROLE,
)
def give_consent(call: Call[s.GiveProcessingConsentRequest, Any]) -> s.ConsentResponse:
    state = service.give_processing_consent(
        call.container.consents, call.user, call.body.privacy_notice_version, call.body.accept_privacy_notice, call.context
    )
    return mappers.consent_out(state)


@operation(
    bp,
    "/me/consents/{entry_id}/withdraw",
    "POST",
    summary="Withdraw one of my consents (idempotent)",
    tag="consents",
    response=lambda: s.ConsentResponse,
    roles=ANY_ROLE,
    errors=(404,),
)
def withdraw_consent(call: Call[Any, Any]) -> s.ConsentResponse:
    return mappers.consent_out(service.withdraw_consent(call.container.consents, call.user, call.path["entry_id"], call.context))


@operation(
    bp,
    "/subjects/{subject_id}/consents",
    "GET",
    summary="A person's consents (staff; the read is audited)",
    tag="consents",
    response=lambda: s.ConsentListResponse,
    roles=STAFF,
    errors=(404,),
)
def subject_consents(call: Call[Any, Any]) -> s.ConsentListResponse:
    return _overview(service.subject_consents(call.container.consents, call.user, call.path["subject_id"]))


@operation(
    bp,
    "/subjects/{subject_id}/audit",
    "GET",
    summary="The audit log of a person or organisation (staff)",
    tag="consents",
    response=lambda: s.AuditListResponse,
    roles=STAFF,
    errors=(404,),
)
def subject_audit(call: Call[Any, Any]) -> s.AuditListResponse:
    entries = service.subject_audit_log(call.container.consents, call.user, call.path["subject_id"])
    return s.AuditListResponse(subject_id=call.path["subject_id"], items=[mappers.audit_out(e) for e in entries])


def upload_out(post: PresignedPost, max_bytes: int, content_type: str = "application/pdf") -> a.PresignedUploadResponse:
    return a.PresignedUploadResponse(
        url=post.url, fields=post.fields, expires_at=post.expires_at, max_bytes=max_bytes, content_type=content_type
    )


@operation(
    bp,
    "/agencies/{agency_id}/consent-documents",
    "POST",
    summary="Name a consultant and get an upload form for their signed written consent (PDF)",
    tag="consent-documents",
    request=lambda: a.CreateConsentDocumentRequest,
    response=lambda: a.ConsentDocumentCreatedResponse,
    status=201,
    roles=AGENCY_ADMIN,
    errors=(404, 409),
)
def create_consent_document(call: Call[a.CreateConsentDocumentRequest, Any]) -> a.ConsentDocumentCreatedResponse:
    c = call.container
    document, post = documents.create_consent_document(
        c.accounts, c.storage, c.consent_document_policy, call.user, call.path["agency_id"], call.body
    )
    return a.ConsentDocumentCreatedResponse(
        document=mappers.consent_document_out(document), upload=upload_out(post, c.consent_document_policy.max_bytes)
    )


@operation(
    bp,
    "/agencies/{agency_id}/consent-documents",
    "GET",
    summary="An agency's consent documents",
    tag="consent-documents",
    response=lambda: a.ConsentDocumentListResponse,
    roles=frozenset({Role.STAFF, Role.AGENCY_ADMIN}),
    errors=(404,),
)
def list_agency_consent_documents(call: Call[Any, Any]) -> a.ConsentDocumentListResponse:
    items = documents.list_agency_documents(call.container.accounts, call.user, call.path["agency_id"])
    return a.ConsentDocumentListResponse(items=[mappers.consent_document_out(d) for d in items])


@operation(
    bp,
    "/consent-documents",
    "GET",
    summary="Consent documents by status (staff: pending verifications)",
    tag="consent-documents",
    query=lambda: a.ConsentDocumentStatusQuery,
    response=lambda: a.ConsentDocumentListResponse,
    roles=STAFF,
)
def list_consent_documents(call: Call[Any, a.ConsentDocumentStatusQuery]) -> a.ConsentDocumentListResponse:
    items = documents.list_documents_by_status(call.container.accounts, call.user, call.query.status)
    return a.ConsentDocumentListResponse(items=[mappers.consent_document_out(d) for d in items])


@operation(
    bp,
    "/consent-documents/{document_id}",
    "GET",
    summary="A consent document",
    tag="consent-documents",
    response=lambda: a.ConsentDocumentResponse,
    roles=frozenset({Role.STAFF, Role.AGENCY_ADMIN}),
    errors=(404,),
)
def get_consent_document(call: Call[Any, Any]) -> a.ConsentDocumentResponse:
    return mappers.consent_document_out(documents.get_consent_document(call.container.accounts, call.user, call.path["document_id"]))


@operation(
    bp,
    "/consent-documents/{document_id}/upload",
    "POST",
    summary="A new upload form (after a refused file)",
    tag="consent-documents",
    response=lambda: a.PresignedUploadResponse,
    roles=AGENCY_ADMIN,
    errors=(404, 409),
)
def renew_consent_document_upload(call: Call[Any, Any]) -> a.PresignedUploadResponse:
    c = call.container
    post = documents.renew_upload(c.accounts, c.storage, c.consent_document_policy, call.user, call.path["document_id"])
    return upload_out(post, c.consent_document_policy.max_bytes)


@operation(
    bp,
    "/consent-documents/{document_id}/file",
    "GET",
    summary="A short-lived download link for the PDF",
    tag="consent-documents",
    response=lambda: a.DownloadResponse,
    roles=frozenset({Role.STAFF, Role.AGENCY_ADMIN}),
    errors=(404,),
)
def consent_document_file(call: Call[Any, Any]) -> a.DownloadResponse:
    c = call.container
    url = documents.download_url(c.accounts, c.storage, call.user, call.path["document_id"], DOWNLOAD_EXPIRY_SECONDS)
    return a.DownloadResponse(url=url, expires_in=DOWNLOAD_EXPIRY_SECONDS)


@operation(
    bp,
    "/consent-documents/{document_id}/verify",
    "POST",
    summary="Verify a consent document and invite the consultant (staff)",
    tag="consent-documents",
    request=lambda: a.ReviewRequest,
    response=lambda: a.ConsentDocumentResponse,
    roles=STAFF,
    errors=(404, 409),
)
def verify_consent_document(call: Call[a.ReviewRequest, Any]) -> a.ConsentDocumentResponse:
    c = call.container
    document = documents.verify_consent_document(
        c.accounts, c.storage, c.consent_document_policy, call.user, call.path["document_id"], note=call.body.reason
    )
    return mappers.consent_document_out(document)


@operation(
    bp,
    "/consent-documents/{document_id}/reject",
    "POST",
    summary="Reject a consent document (staff)",
    tag="consent-documents",
    request=lambda: a.RejectRequest,
    response=lambda: a.ConsentDocumentResponse,
    roles=STAFF,
    errors=(404, 409),
)
def reject_consent_document(call: Call[a.RejectRequest, Any]) -> a.ConsentDocumentResponse:
    c = call.container
    return mappers.consent_document_out(
        documents.reject_consent_document(c.accounts, c.storage, call.user, call.path["document_id"], call.body.reason)
    )
