"""The platform's own simple electronic signature: what it stores of an envelope and its signers.

Each signer gets a one-time link (a random token; only its hash is stored). Signing needs the link and
the signer's own sign-in; the signer reviews the PDF, types their name and confirms, and the evidence
(who, when, from which address and browser, and the SHA-256 of the document reviewed) is recorded. Once
everyone has signed, the final PDF is the original with an evidence page appended.

    sent → completed | declined | expired | voided
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.contracts import SignatureEvidence, SignerRole
from chalicelib.domain.identity import Role
from chalicelib.errors import Conflict


class EnvelopeState(StrEnum):
    SENT = "sent"
    COMPLETED = "completed"
    DECLINED = "declined"
    EXPIRED = "expired"
    VOIDED = "voided"


class RecipientState(StrEnum):
    WAITING = "waiting"
    SIGNED = "signed"
    DECLINED = "declined"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SigningRecipient:
    recipient_id: str
    user_id: str
    name: str
    email: str
    role: SignerRole
    routing_order: int
    token_hash: str
    required_role: Role = Role.STAFF  # the role the signer must still hold when signing
    org_id: str | None = None  # ...in this organisation (None: the platform's staff)
    state: RecipientState = RecipientState.WAITING
    evidence: SignatureEvidence | None = None
    declined_at: datetime | None = None
    decline_reason: str | None = None


@dataclass
class SigningEnvelope:
    envelope_id: str
    contract_id: str
    engagement_id: str
    subject: str
    document_name: str
    document_key: str  # the envelope's own copy of the PDF in the contracts bucket
    document_version: str | None
    document_sha256: str
    language: str
    created_at: datetime
    expires_at: datetime
    recipients: tuple[SigningRecipient, ...]
    status: EnvelopeState = EnvelopeState.SENT
    revision: int = 0
    completed_at: datetime | None = None
    ended_at: datetime | None = None
    reason: str | None = None

    def recipient_by_token(self, token: str) -> SigningRecipient | None:
        digest = token_hash(token)
        return next((r for r in self.recipients if r.token_hash == digest), None)

    def ensure_open(self, now: datetime) -> None:
        if self.status is not EnvelopeState.SENT:
            raise Conflict(f"This signing request is {self.status.value}.", current_state=self.status.value)
        if now >= self.expires_at:
            raise Conflict("This signing request has expired.", current_state=EnvelopeState.EXPIRED.value)

    def with_recipient(self, recipient: SigningRecipient, now: datetime) -> SigningEnvelope:
        recipients = tuple(recipient if r.recipient_id == recipient.recipient_id else r for r in self.recipients)
        updated = replace(self, recipients=recipients, revision=self.revision + 1)
        if recipient.state is RecipientState.DECLINED:
            return replace(updated, status=EnvelopeState.DECLINED, ended_at=now, reason=recipient.decline_reason)
        if all(r.state is RecipientState.SIGNED for r in recipients):
            return replace(updated, status=EnvelopeState.COMPLETED, completed_at=now, ended_at=now)
        return updated

    def ended(self, state: EnvelopeState, now: datetime, reason: str | None) -> SigningEnvelope:
        return replace(self, status=state, revision=self.revision + 1, ended_at=now, reason=reason)


@dataclass(frozen=True)
class WebhookDelivery:
    """A webhook the built-in signature owes the app: committed with the change it reports, posted (signed)
    to the app's webhook endpoint by the stream handler, exactly as an external provider would."""

    delivery_id: str
    body: str  # the Connect JSON message
    created_at: datetime
