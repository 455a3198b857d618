"""Organisations (agencies and client companies), users, invitations and on-behalf consent documents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.identity import Role
from chalicelib.errors import Conflict


class OrgKind(StrEnum):
    AGENCY = "agency"
    CLIENT = "client"


class OrgStatus(StrEnum):
    ACTIVE = "active"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    CLOSED = "closed"  # e.g. an independent consultant's one-person agency after joining an agency


@dataclass(frozen=True)
class Address:
    line1: str
    postal_code: str
    city: str
    country: str
    line2: str | None = None


@dataclass
class Organisation:
    org_id: str
    kind: OrgKind
    name: str
    country: str
    status: OrgStatus
    created_at: datetime
    organisation_number: str | None = None
    vat_number: str | None = None
    address: Address | None = None
    billing_email: str | None = None
    independent: bool = False  # a one-person agency of an independent consultant
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_reason: str | None = None

    def ensure_can_post_assignments(self) -> None:
        if self.kind is not OrgKind.CLIENT or self.status is not OrgStatus.ACTIVE:
            raise Conflict("The client company must be approved by staff before it can post assignments.")


class Language(StrEnum):
    """The language a person reads the platform's messages in (stored as these values)."""

    SV = "sv"
    EN = "en"


class UserStatus(StrEnum):
    PENDING_VERIFICATION = "pending_verification"  # registered, e-mail address not yet confirmed
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass
class User:
    user_id: str
    email: str
    name: str
    roles: frozenset[Role]
    created_at: datetime
    org_id: str | None = None
    status: UserStatus = UserStatus.ACTIVE
    # Only the SHA-256 of the e-mailed verification code is stored; it stays after use so that a
    # second click on the link is answered as a success.
    verification_code_hash: str | None = None
    verification_expires_at: datetime | None = None
    verification_sent_at: datetime | None = None
    # Retention (GDPR storage limitation): the last authenticated request (recorded at most daily), and
    # when the person was last asked to sign in to keep their account.
    last_active_at: datetime | None = None
    retention_notice_at: datetime | None = None
    # One-person agencies the person closed by joining an agency: kept (their invoices may need them),
    # and erased with the person.
    former_org_ids: tuple[str, ...] = ()
    language: Language = Language.EN  # of the e-mails and notifications the person gets

    @property
    def active_since(self) -> datetime:
        return self.last_active_at or self.created_at


class InvitationStatus(StrEnum):
    OPEN = "open"
    USED = "used"


@dataclass
class Invitation:
    """An agency's invitation for one consultant, bound to that consultant's e-mail.

    The code itself is never stored, only its SHA-256 (``code_hash``): a leaked table leaks no codes.
    """

    invitation_id: str
    code_hash: str
    agency_id: str
    email: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    status: InvitationStatus = InvitationStatus.OPEN
    consent_document_id: str | None = None  # set when the invitation follows an on-behalf consent
    used_by: str | None = None
    used_at: datetime | None = None

    def is_usable(self, now: datetime) -> bool:
        return self.status is InvitationStatus.OPEN and now < self.expires_at


class ConsentDocumentStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    UPLOAD_REJECTED = "upload_rejected"  # the file failed the checks (type, size); a new upload is allowed
    UPLOADED = "uploaded"  # waits for staff verification
    VERIFIED = "verified"  # staff checked it; the consultant was invited to confirm
    REJECTED = "rejected"  # staff rejected it; final
    CONFIRMED = "confirmed"  # the consultant confirmed; the agency may represent the consultant


# Forward-only lifecycle of a written on-behalf consent.
CONSENT_DOCUMENT_TRANSITIONS: dict[ConsentDocumentStatus, frozenset[ConsentDocumentStatus]] = {
    ConsentDocumentStatus.AWAITING_UPLOAD: frozenset({ConsentDocumentStatus.UPLOADED, ConsentDocumentStatus.UPLOAD_REJECTED}),
    ConsentDocumentStatus.UPLOAD_REJECTED: frozenset({ConsentDocumentStatus.UPLOADED, ConsentDocumentStatus.UPLOAD_REJECTED}),
    ConsentDocumentStatus.UPLOADED: frozenset({ConsentDocumentStatus.VERIFIED, ConsentDocumentStatus.REJECTED}),
    ConsentDocumentStatus.VERIFIED: frozenset({ConsentDocumentStatus.CONFIRMED}),
    ConsentDocumentStatus.REJECTED: frozenset(),
    ConsentDocumentStatus.CONFIRMED: frozenset(),
}


@dataclass
class ConsentDocument:
    """A consultant's signed written consent that lets an agency add and represent them."""

    document_id: str
    agency_id: str
    consultant_name: str
    consultant_email: str
    uploaded_by: str
    created_at: datetime
    status: ConsentDocumentStatus = ConsentDocumentStatus.AWAITING_UPLOAD
    object_key: str = ""
    object_version: str | None = None  # the S3 version that was checked: later overwrites do not change it
    size_bytes: int | None = None
    sha256: str | None = None
    problem: str | None = None  # why an upload was refused
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_reason: str | None = None
    consultant_user_id: str | None = None

    def can_move_to(self, target: ConsentDocumentStatus) -> bool:
        return target in CONSENT_DOCUMENT_TRANSITIONS[self.status]

    def ensure_can_move_to(self, target: ConsentDocumentStatus) -> None:
        if not self.can_move_to(target):
            raise Conflict(f"A consent document that is {self.status.value} cannot become {target.value}.")
