"""Agency-on-behalf written consent: upload, automatic file checks, staff verification, invitation.

Flow: the agency admin names the consultant and gets a presigned POST (PDF only, size-limited, key
bound to the agency and the document) → the upload handler checks the real file and records its
SHA-256 → staff verify or reject → on verification the consultant is e-mailed an invitation bound to
the named e-mail → the consultant registers with it and confirms (see accounts.register_consultant).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.accounts import ConsentDocument, ConsentDocumentStatus, OrgKind
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import ID_PATTERN, new_id
from chalicelib.errors import ConcurrencyConflict, Conflict, Forbidden, NotFound
from chalicelib.schemas.accounts import CreateConsentDocumentRequest
from chalicelib.services.accounts import AccountPorts, IssuedInvitation, invitation_email, new_invitation, normalise_email
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.ports import Changes, DocumentStorage, PresignedPost

PDF_CONTENT_TYPE = "application/pdf"
PDF_MAGIC = b"%PDF-"
_KEY = re.compile(rf"^consent-documents/(?P<agency>{ID_PATTERN.pattern[1:-1]})/(?P<document>{ID_PATTERN.pattern[1:-1]})\.pdf$")


@dataclass(frozen=True)
class UploadPolicy:
    max_bytes: int
    expires_in: int


def object_key(agency_id: str, document_id: str) -> str:
    return f"consent-documents/{agency_id}/{document_id}.pdf"


def _visible_document(ports: AccountPorts, principal: Principal, document_id: str) -> ConsentDocument:
    document = ports.accounts.get_consent_document(document_id)
    if document is None or not (principal.is_staff or principal.administers(document.agency_id)):
        raise NotFound("Consent document not found.")
    return document


def _owned_document(ports: AccountPorts, principal: Principal, document_id: str) -> ConsentDocument:
    document = ports.accounts.get_consent_document(document_id)
    if document is None or not principal.administers(document.agency_id):
        raise NotFound("Consent document not found.")
    return document


def _upload(storage: DocumentStorage, document: ConsentDocument, policy: UploadPolicy) -> PresignedPost:
    return storage.presigned_post(
        document.object_key, content_type=PDF_CONTENT_TYPE, max_bytes=policy.max_bytes, expires_in=policy.expires_in
    )


def create_consent_document(
    ports: AccountPorts,
    storage: DocumentStorage,
    policy: UploadPolicy,
    principal: Principal,
    agency_id: str,
    body: CreateConsentDocumentRequest,
) -> tuple[ConsentDocument, PresignedPost]:
    agency = ports.accounts.get_organisation(agency_id)
    if agency is None or agency.kind is not OrgKind.AGENCY or not principal.administers(agency_id):
        raise NotFound("Agency not found.")
    if agency.independent:
        raise Conflict("An independent consultant's own company cannot add consultants.")
    document_id = new_id()
    document = ConsentDocument(
        document_id=document_id,
        agency_id=agency_id,
        consultant_name=body.consultant_name,
        consultant_email=normalise_email(body.consultant_email),
        uploaded_by=principal.user_id,
        created_at=ports.now(),
        object_key=object_key(agency_id, document_id),
    )
    ports.uow.commit(Changes().insert(document))
    return document, _upload(storage, document, policy)


def renew_upload(
    ports: AccountPorts, storage: DocumentStorage, policy: UploadPolicy, principal: Principal, document_id: str
) -> PresignedPost:
    document = _owned_document(ports, principal, document_id)
    if document.status not in (ConsentDocumentStatus.AWAITING_UPLOAD, ConsentDocumentStatus.UPLOAD_REJECTED):
        raise Conflict(f"The document is {document.status.value}; it can no longer be replaced.")
    return _upload(storage, document, policy)


def record_upload(ports: AccountPorts, storage: DocumentStorage, policy: UploadPolicy, key: str) -> ConsentDocument | None:
    """Called by the upload handler for every new object under ``consent-documents/``.

    Checks the real file (size, PDF magic bytes) rather than trusting the upload policy, records the
    SHA-256 that the consent ledger will cite, and deletes refused files. Returns None for objects
    that no document awaits (they are deleted too: nothing unexpected stays in the bucket)."""
    match = _KEY.match(key)
    document = ports.accounts.get_consent_document(match["document"]) if match else None
    if document is None or match is None or document.agency_id != match["agency"]:
        storage.delete(key)
        return None
    if not document.can_move_to(ConsentDocumentStatus.UPLOADED):
        return document  # a redelivered event, or an overwrite after upload: verification re-checks the hash
    stored = storage.head(key)
    if stored is None:
        return document
    problem = None
    if stored.size == 0 or stored.size > policy.max_bytes:
        problem = f"The file must be between 1 byte and {policy.max_bytes} bytes."
    elif storage.read_prefix(key, len(PDF_MAGIC)) != PDF_MAGIC:
        problem = "The file is not a PDF document."
    if problem:
        storage.delete(key)
        updated = replace(document, status=ConsentDocumentStatus.UPLOAD_REJECTED, problem=problem, size_bytes=stored.size)
    else:
        updated = replace(document, status=ConsentDocumentStatus.UPLOADED, problem=None, size_bytes=stored.size, sha256=storage.sha256(key))
    try:
        ports.uow.commit(Changes().transition(updated, document.status.value))
    except ConcurrencyConflict:
        return ports.accounts.get_consent_document(document.document_id)  # processed concurrently
    return updated


def get_consent_document(ports: AccountPorts, principal: Principal, document_id: str) -> ConsentDocument:
    document = _visible_document(ports, principal, document_id)
    _audited_list(ports, principal, [document])
    return document


def download_url(ports: AccountPorts, storage: DocumentStorage, principal: Principal, document_id: str, expires_in: int) -> str:
    document = _visible_document(ports, principal, document_id)
    if document.sha256 is None or document.status in (ConsentDocumentStatus.REJECTED, ConsentDocumentStatus.UPLOAD_REJECTED):
        raise NotFound("The document has no stored file.")
    _audited_list(ports, principal, [document])
    return storage.presigned_get(document.object_key, expires_in=expires_in)


def list_agency_documents(ports: AccountPorts, principal: Principal, agency_id: str) -> list[ConsentDocument]:
    if not (principal.is_staff or principal.administers(agency_id)):
        raise NotFound("Agency not found.")
    return _audited_list(ports, principal, ports.accounts.list_consent_documents(agency_id))


def list_documents_by_status(ports: AccountPorts, principal: Principal, status: ConsentDocumentStatus) -> list[ConsentDocument]:
    if not principal.is_staff:
        raise Forbidden("Only staff may do this.")
    return _audited_list(ports, principal, ports.accounts.list_consent_documents_by_status(status))


def _audited_list(ports: AccountPorts, principal: Principal, documents: list[ConsentDocument]) -> list[ConsentDocument]:
    reads = [Read(d.consultant_user_id or d.document_id, "consent_document", d.document_id) for d in documents]
    record_staff_reads(ports.uow, principal, ports.now(), AuditAction.CONSENT_DOCUMENT_READ, reads)
    return documents


def verify_consent_document(
    ports: AccountPorts,
    storage: DocumentStorage,
    principal: Principal,
    document_id: str,
    *,
    invitation_ttl: timedelta,
    web_base_url: str,
    note: str | None = None,
) -> tuple[ConsentDocument, IssuedInvitation]:
    if not principal.is_staff:
        raise Forbidden("Only staff may verify consent documents.")
    document = _visible_document(ports, principal, document_id)
    document.ensure_can_move_to(ConsentDocumentStatus.VERIFIED)
    if storage.head(document.object_key) is None or storage.sha256(document.object_key) != document.sha256:
        raise Conflict("The stored file changed after it was checked; ask the agency to upload it again.")
    agency = ports.accounts.get_organisation(document.agency_id)
    if agency is None:
        raise NotFound("Consent document not found.")
    now = ports.now()
    verified = replace(document, status=ConsentDocumentStatus.VERIFIED, reviewed_by=principal.user_id, reviewed_at=now, review_reason=note)
    issued = new_invitation(document.agency_id, document.consultant_email, principal.user_id, now, invitation_ttl, document.document_id)
    changes = (
        Changes()
        .transition(verified, document.status.value)
        .insert(issued.invitation)
        .insert(invitation_email(agency, issued, web_base_url, now))
        .insert(_audit(principal, document, AuditAction.CONSENT_DOCUMENT_VERIFIED, now))
    )
    try:
        ports.uow.commit(changes)
    except ConcurrencyConflict as exc:
        raise Conflict("The document was reviewed concurrently.") from exc
    return verified, issued


def reject_consent_document(
    ports: AccountPorts, storage: DocumentStorage, principal: Principal, document_id: str, reason: str
) -> ConsentDocument:
    if not principal.is_staff:
        raise Forbidden("Only staff may reject consent documents.")
    document = _visible_document(ports, principal, document_id)
    document.ensure_can_move_to(ConsentDocumentStatus.REJECTED)
    now = ports.now()
    rejected = replace(
        document, status=ConsentDocumentStatus.REJECTED, reviewed_by=principal.user_id, reviewed_at=now, review_reason=reason
    )
    try:
        ports.uow.commit(
            Changes()
            .transition(rejected, document.status.value)
            .insert(_audit(principal, document, AuditAction.CONSENT_DOCUMENT_REJECTED, now))
        )
    except ConcurrencyConflict as exc:
        raise Conflict("The document was reviewed concurrently.") from exc
    storage.delete(document.object_key)  # no legal basis to keep a refused consent
    return rejected


def _audit(principal: Principal, document: ConsentDocument, action: AuditAction, now: datetime) -> AuditEntry:
    # The consultant has no user id before registering: pre-registration events are filed under the document.
    return AuditEntry(
        subject_id=document.consultant_user_id or document.document_id,
        entry_id=new_id(),
        at=now,
        actor_id=principal.user_id,
        action=action,
        object_type="consent_document",
        object_id=document.document_id,
        details={"agency_id": document.agency_id},
    )
