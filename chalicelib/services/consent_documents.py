"""Agency-on-behalf written consent: upload, automatic file checks, staff verification, invitation.

Flow: the agency admin names the consultant and gets a presigned POST (PDF only, size-limited, key
bound to the agency and the document) → the upload handler reads the uploaded version once, checks
size and type, and records that version and its SHA-256 → staff verify or reject → on verification
the consultant is e-mailed an invitation bound to the named e-mail → the consultant registers (or, if
registered, accepts) with it and confirms (see registration and invitations).

The bucket is versioned: a document refers to the version that was checked, so overwriting the key
with the still-valid upload form changes nothing that staff verify or the ledger cites.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain.accounts import ConsentDocument, ConsentDocumentStatus, OrgKind
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import ID_PATTERN, new_id
from chalicelib.errors import ConcurrencyConflict, Conflict, NotFound
from chalicelib.notifications.templates import FALLBACK_LANGUAGE
from chalicelib.schemas.accounts import CreateConsentDocumentRequest
from chalicelib.services.accounts import AccountPorts, ensure_staff, normalise_email
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.invitations import invitation_email, new_invitation
from chalicelib.services.ports import Changes, DocumentStorage, FetchedObject, PresignedPost

PDF_CONTENT_TYPE = "application/pdf"
PDF_MAGIC = b"%PDF-"
_ID = ID_PATTERN.pattern.strip("^$")
_KEY = re.compile(rf"consent-documents/(?P<agency>{_ID})/(?P<document>{_ID})\.pdf")
_REPLACEABLE = (ConsentDocumentStatus.AWAITING_UPLOAD, ConsentDocumentStatus.UPLOAD_REJECTED)


@dataclass(frozen=True)
class UploadPolicy:
    max_bytes: int
    expires_in: int


def object_key(agency_id: str, document_id: str) -> str:
    return f"consent-documents/{agency_id}/{document_id}.pdf"


def _document(ports: AccountPorts, principal: Principal, document_id: str, *, staff_may: bool = True) -> ConsentDocument:
    """The document if the caller may see it: its agency's admins, and (unless excluded) staff."""
    document = ports.accounts.get_consent_document(document_id)
    if document is None or not (principal.administers(document.agency_id) or (staff_may and principal.is_staff)):
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
    document = _document(ports, principal, document_id, staff_may=False)
    if document.status not in _REPLACEABLE:
        raise Conflict(f"The document is {document.status.value}; it can no longer be replaced.")
    return _upload(storage, document, policy)


def _problem(fetched: FetchedObject, policy: UploadPolicy) -> str | None:
    if fetched.size == 0 or fetched.size > policy.max_bytes:
        return f"The file must be between 1 byte and {policy.max_bytes} bytes."
    if not fetched.content.startswith(PDF_MAGIC):
        return "The file is not a PDF document."
    return None


def record_upload(
    ports: AccountPorts, storage: DocumentStorage, policy: UploadPolicy, key: str, version_id: str | None, *, retried: bool = False
) -> ConsentDocument | None:
    """Called by the upload handler for every new object version under ``consent-documents/``.

    Reads the uploaded version once (never trusting the upload policy alone), records it with its
    SHA-256 for the ledger to cite, and deletes versions that are refused or that nobody awaits.
    Returns None for objects that no document awaits."""
    match = _KEY.fullmatch(key)
    document = ports.accounts.get_consent_document(match["document"]) if match else None
    if document is None or document.object_key != key:
        storage.delete(key, version_id)
        return None
    if document.status not in _REPLACEABLE:
        if version_id and version_id != document.object_version:
            storage.delete(key, version_id)  # an overwrite after the check: the checked version stays the document
        return document
    fetched = storage.fetch(key, version_id, policy.max_bytes)
    if fetched is None:
        return document  # deleted again before we got to it
    problem = _problem(fetched, policy)
    if problem:
        updated = replace(document, status=ConsentDocumentStatus.UPLOAD_REJECTED, problem=problem, size_bytes=fetched.size)
    else:
        updated = replace(
            document,
            status=ConsentDocumentStatus.UPLOADED,
            problem=None,
            size_bytes=fetched.size,
            object_version=fetched.version_id,
            sha256=hashlib.sha256(fetched.content).hexdigest(),
        )
    try:
        ports.uow.commit(Changes().transition(updated, document.status.value))
    except ConcurrencyConflict:
        current = ports.accounts.get_consent_document(document.document_id)
        if current is not None and current.status in _REPLACEABLE and not retried:
            # A refused file was recorded concurrently: this version may be the good one, so look again.
            return record_upload(ports, storage, policy, key, fetched.version_id, retried=True)
        # Another version was recorded concurrently; keep only the one the document refers to.
        if current is not None and fetched.version_id and fetched.version_id != current.object_version:
            storage.delete(key, fetched.version_id)
        return current
    if problem:
        storage.delete(key, fetched.version_id)  # only after the refusal is recorded
    return updated


def get_consent_document(ports: AccountPorts, principal: Principal, document_id: str) -> ConsentDocument:
    document = _document(ports, principal, document_id)
    _audited_list(ports, principal, [document])
    return document


def download_url(ports: AccountPorts, storage: DocumentStorage, principal: Principal, document_id: str, expires_in: int) -> str:
    document = _document(ports, principal, document_id)
    if document.sha256 is None or document.status in (ConsentDocumentStatus.REJECTED, ConsentDocumentStatus.UPLOAD_REJECTED):
        raise NotFound("The document has no stored file.")
    _audited_list(ports, principal, [document])
    return storage.presigned_get(document.object_key, document.object_version, expires_in=expires_in)


def list_agency_documents(ports: AccountPorts, principal: Principal, agency_id: str) -> list[ConsentDocument]:
    if not (principal.is_staff or principal.administers(agency_id)):
        raise NotFound("Agency not found.")
    return _audited_list(ports, principal, ports.accounts.list_consent_documents(agency_id))


def list_documents_by_status(ports: AccountPorts, principal: Principal, status: ConsentDocumentStatus) -> list[ConsentDocument]:
    ensure_staff(principal)
    return _audited_list(ports, principal, ports.accounts.list_consent_documents_by_status(status))


def _audited_list(ports: AccountPorts, principal: Principal, documents: list[ConsentDocument]) -> list[ConsentDocument]:
    reads = [Read(d.consultant_user_id or d.document_id, "consent_document", d.document_id) for d in documents]
    record_staff_reads(ports.uow, principal, ports.now(), AuditAction.CONSENT_DOCUMENT_READ, reads)
    return documents


def verify_consent_document(
    ports: AccountPorts,
    storage: DocumentStorage,
    policy: UploadPolicy,
    principal: Principal,
    document_id: str,
    note: str | None = None,
) -> ConsentDocument:
    ensure_staff(principal)
    document = _document(ports, principal, document_id)
    document.ensure_can_move_to(ConsentDocumentStatus.VERIFIED)
    agency = ports.accounts.get_organisation(document.agency_id)
    if agency is None:
        raise NotFound("Consent document not found.")
    now = ports.now()
    fetched = storage.fetch(document.object_key, document.object_version, policy.max_bytes)
    if fetched is None or hashlib.sha256(fetched.content).hexdigest() != document.sha256:
        # The checked version is gone: the agency must upload again, and can, with a new form.
        lost = replace(
            document,
            status=ConsentDocumentStatus.UPLOAD_REJECTED,
            problem="The stored file is missing; upload it again.",
            object_version=None,
            sha256=None,
            size_bytes=None,
        )
        ports.uow.commit(Changes().transition(lost, document.status.value))
        raise Conflict("The stored file is missing; the agency has to upload it again.")
    verified = replace(document, status=ConsentDocumentStatus.VERIFIED, reviewed_by=principal.user_id, reviewed_at=now, review_reason=note)
    issued = new_invitation(
        document.agency_id, document.consultant_email, principal.user_id, now, ports.invitation_ttl, document.document_id
    )
    uploader = ports.accounts.get_user(document.uploaded_by)  # the agency's admin: their language is the best guess
    language = uploader.language if uploader else FALLBACK_LANGUAGE
    changes = (
        Changes()
        .transition(verified, document.status.value)
        .insert(issued.invitation)
        .insert(invitation_email(agency, issued, ports.web_base_url, now, language))
        .insert(_audit(principal, document, AuditAction.CONSENT_DOCUMENT_VERIFIED, now))
    )
    try:
        ports.uow.commit(changes)
    except ConcurrencyConflict as exc:
        raise Conflict("The document was reviewed concurrently.") from exc
    return verified


def reject_consent_document(
    ports: AccountPorts, storage: DocumentStorage, principal: Principal, document_id: str, reason: str
) -> ConsentDocument:
    ensure_staff(principal)
    document = _document(ports, principal, document_id)
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
    storage.delete(document.object_key, document.object_version)  # no legal basis to keep a refused consent
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
