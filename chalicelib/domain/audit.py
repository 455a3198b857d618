"""Audit log entries: staff reads of personal data and every consent change, queryable by subject."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AuditAction(StrEnum):
    CONSENT_GIVEN = "consent.given"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    CONSENTS_READ = "consents.read"
    AUDIT_READ = "audit.read"
    USER_READ = "user.read"
    PROFILE_READ = "profile.read"
    PROFILE_DISCLOSED = "profile.disclosed"  # sent to a client in a proposal
    FILE_READ = "file.read"
    DATA_EXPORTED = "data.exported"
    ORGANISATION_READ = "organisation.read"
    INVITATION_READ = "invitation.read"
    CONSENT_DOCUMENT_READ = "consent_document.read"
    CONSENT_DOCUMENT_VERIFIED = "consent_document.verified"
    CONSENT_DOCUMENT_REJECTED = "consent_document.rejected"
    CONSENT_DOCUMENT_CONFIRMED = "consent_document.confirmed"
    ORGANISATION_APPROVED = "organisation.approved"
    ORGANISATION_REJECTED = "organisation.rejected"
    ERASURE_REQUESTED = "erasure.requested"
    ERASURE_COMPLETED = "erasure.completed"  # filed under the pseudonym


@dataclass(frozen=True)
class AuditEntry:
    subject_id: str  # the person (or organisation) the entry is about
    entry_id: str
    at: datetime
    actor_id: str
    action: AuditAction
    object_type: str
    object_id: str
    details: dict[str, str] = field(default_factory=dict)
