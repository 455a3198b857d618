"""The built-in simple electronic signature: a ``SignatureProvider`` run by the platform itself, and what
its signers do (review, sign, decline).

It behaves as an external provider would: it keeps its own copy of the document and its own envelope
record, e-mails each signer a one-time link, and reports every change to the app by a signed Connect
webhook posted to the same endpoint DocuSign posts to (a ``WebhookDelivery`` committed with the change;
the stream handler posts it). The contracts service then re-fetches the status from here, as from any
provider. A signature needs the link *and* the signer's own sign-in; the evidence (signer, time, IP,
user agent and the SHA-256 of the document reviewed) is kept, and printed on a page appended to the
final PDF.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.adapters.esign.connect import connect_message
from chalicelib.domain.contracts import COUNTERPARTY_RECIPIENT, ContractStatus, SignatureEvidence, SignerRole
from chalicelib.domain.identity import Principal, RequestContext
from chalicelib.domain.ids import new_id
from chalicelib.domain.signing import EnvelopeState, RecipientState, SigningEnvelope, SigningRecipient, WebhookDelivery, token_hash
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound
from chalicelib.logging import logger
from chalicelib.services.accounts import AccountPorts
from chalicelib.services.integrity import verified_content
from chalicelib.services.notifications import commit_with_notices, notify
from chalicelib.services.ports import (
    Changes,
    ContractStorage,
    EnvelopeRequest,
    EnvelopeStatus,
    SignedDocuments,
    SigningRepository,
)

ATTEMPTS = 3
PDF = "application/pdf"
REVIEW_LINK_SECONDS = 600
ACCOUNT_ID = "customersonly"  # the account named in the Connect messages the built-in signature sends


@dataclass(frozen=True)
class SigningPorts:
    accounts: AccountPorts
    envelopes: SigningRepository
    storage: ContractStorage

    @property
    def now(self) -> datetime:
        return self.accounts.now()

    def commit(self, changes: Changes) -> None:
        commit_with_notices(self.accounts.uow, changes)


class BuiltinSignatureProvider:
    """The ``SignatureProvider`` port, served by the platform."""

    name = "builtin"

    def __init__(self, ports: SigningPorts) -> None:
        self._ports = ports

    def create_envelope(self, request: EnvelopeRequest) -> str:
        ports = self._ports
        now = ports.now
        envelope_id = new_id()
        key = f"esign/{envelope_id}/{request.document_name}"
        stored = ports.storage.put(key, request.document, content_type=PDF)
        tokens = {s.recipient_id: secrets.token_urlsafe(32) for s in request.signers}
        recipients = tuple(
            SigningRecipient(
                recipient_id=s.recipient_id,
                user_id=s.user_id,
                name=s.name,
                email=s.email,
                role=SignerRole.COUNTERPARTY if s.recipient_id == COUNTERPARTY_RECIPIENT else SignerRole.PLATFORM,
                routing_order=s.routing_order,
                token_hash=token_hash(tokens[s.recipient_id]),
                required_role=s.role,
                org_id=s.org_id,
            )
            for s in request.signers
        )
        envelope = SigningEnvelope(
            envelope_id=envelope_id,
            contract_id=request.contract_id,
            engagement_id=request.engagement_id,
            subject=request.subject,
            document_name=request.document_name,
            document_key=key,
            document_version=stored.version_id,
            document_sha256=hashlib.sha256(request.document).hexdigest(),
            language=request.language,
            created_at=now,
            expires_at=now + timedelta(days=request.expires_in_days),
            recipients=recipients,
        )
        changes = Changes().insert(envelope).insert(_delivery("envelope-sent", envelope, now))
        for recipient in recipients:
            user = ports.accounts.accounts.get_user(recipient.user_id)
            if user is None:
                raise NotFound("A signer's account was not found.")
            params = {
                "recipient_name": user.name,
                "document_name": request.document_name,
                "link": f"{ports.accounts.web_base_url}/sign/{envelope_id}?token={tokens[recipient.recipient_id]}",
                "expires_at": envelope.expires_at.date().isoformat(),
            }
            notify(changes, user, "signature_requested", params, now, object_type="signing", object_id=envelope_id)
        ports.commit(changes)
        return envelope_id

    def get_status(self, envelope_id: str) -> EnvelopeStatus:
        envelope = _envelope(self._ports, envelope_id)
        signed = {r.recipient_id: r.evidence.signed_at for r in envelope.recipients if r.evidence is not None}
        status = {
            EnvelopeState.COMPLETED: ContractStatus.COMPLETED,
            EnvelopeState.DECLINED: ContractStatus.DECLINED,
            EnvelopeState.EXPIRED: ContractStatus.EXPIRED,
            EnvelopeState.VOIDED: ContractStatus.VOIDED,
        }.get(envelope.status, ContractStatus.PARTLY_SIGNED if signed else ContractStatus.SENT)
        return EnvelopeStatus(envelope_id, status, signed, envelope.reason)

    def download_signed(self, envelope_id: str) -> SignedDocuments:
        from chalicelib.contracts.pdf import append_evidence

        envelope = _envelope(self._ports, envelope_id)
        if envelope.status is not EnvelopeState.COMPLETED or envelope.completed_at is None:
            raise Conflict("The envelope is not completed.", current_state=envelope.status.value)
        original = _verified_document(self._ports, envelope)
        evidence = [r.evidence for r in envelope.recipients if r.evidence is not None]
        # Deterministic: asked twice, it gives the same bytes (and so the same hash).
        final = append_evidence(
            original,
            evidence,
            language=envelope.language,
            reference=envelope.document_name.removesuffix(".pdf"),
            document_sha256=envelope.document_sha256,
            completed_at=envelope.completed_at,
        )
        return SignedDocuments(final)

    def void(self, envelope_id: str, reason: str) -> None:
        ports = self._ports
        for _ in range(ATTEMPTS):
            envelope = _envelope(ports, envelope_id)
            if envelope.status is EnvelopeState.COMPLETED:
                # As DocuSign refuses to void a completed envelope: a signed contract is never undone.
                raise Conflict("The envelope is completed; it cannot be voided.", current_state=envelope.status.value)
            if envelope.status is not EnvelopeState.SENT:
                return  # ended unsigned already
            now = ports.now
            voided = envelope.ended(EnvelopeState.VOIDED, now, reason)
            changes = Changes().transition(voided, EnvelopeState.SENT.value, revision=envelope.revision)
            try:
                ports.commit(changes.insert(_delivery("envelope-voided", voided, now)))
            except ConcurrencyConflict:
                continue
            return
        raise Conflict("The envelope is being changed; try again.")


# --- the signer's side ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningView:
    envelope: SigningEnvelope
    recipient: SigningRecipient
    document_url: str | None  # while the signer may still act
    url_expires_at: datetime | None


def signing_request(ports: SigningPorts, principal: Principal, envelope_id: str, token: str) -> SigningView:
    """What the signer reviews: the document (a short-lived link), its SHA-256 and their own state."""
    envelope, recipient = _as_signer(ports, principal, envelope_id, token)
    if recipient.state is not RecipientState.WAITING or envelope.status is not EnvelopeState.SENT:
        return SigningView(envelope, recipient, None, None)
    url = ports.storage.presigned_get(envelope.document_key, envelope.document_version, expires_in=REVIEW_LINK_SECONDS)
    return SigningView(envelope, recipient, url, ports.now + timedelta(seconds=REVIEW_LINK_SECONDS))


def sign(
    ports: SigningPorts, principal: Principal, envelope_id: str, token: str, typed_name: str, document_sha256: str, ctx: RequestContext
) -> SigningView:
    """The signer confirms: the typed name must be theirs and the hash the one of the document as stored
    (so what they reviewed is what they sign). The link is spent once used."""
    for _ in range(ATTEMPTS):
        envelope, recipient = _as_signer(ports, principal, envelope_id, token)
        now = ports.now
        _ensure_can_act(envelope, recipient, now)
        if _normalised(typed_name) != _normalised(recipient.name):
            raise InvalidInput("Type your name as it appears on the contract.", issues=[FieldIssue("typed_name", "does not match")])
        if document_sha256.lower() != envelope.document_sha256:
            raise Conflict("The document you reviewed is not the one to be signed; open the link again.")
        _verified_document(ports, envelope)
        evidence = SignatureEvidence(
            signer_name=recipient.name,
            signer_email=recipient.email,
            role=recipient.role,
            typed_name=typed_name.strip(),
            signed_at=now,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            document_sha256=envelope.document_sha256,
        )
        updated = envelope.with_recipient(replace(recipient, state=RecipientState.SIGNED, evidence=evidence), now)
        event = "envelope-completed" if updated.status is EnvelopeState.COMPLETED else "recipient-completed"
        changes = Changes().transition(updated, EnvelopeState.SENT.value, revision=envelope.revision)
        try:
            ports.commit(changes.insert(_delivery(event, updated, now, recipient.recipient_id)))
        except ConcurrencyConflict:
            continue  # the other signer signed meanwhile: read again
        signed = next(r for r in updated.recipients if r.recipient_id == recipient.recipient_id)
        return SigningView(updated, signed, None, None)
    raise Conflict("The envelope is being changed; try again.")


def decline(ports: SigningPorts, principal: Principal, envelope_id: str, token: str, reason: str) -> SigningView:
    for _ in range(ATTEMPTS):
        envelope, recipient = _as_signer(ports, principal, envelope_id, token)
        now = ports.now
        _ensure_can_act(envelope, recipient, now)
        declined = replace(recipient, state=RecipientState.DECLINED, declined_at=now, decline_reason=reason.strip())
        updated = envelope.with_recipient(declined, now)
        changes = Changes().transition(updated, EnvelopeState.SENT.value, revision=envelope.revision)
        try:
            ports.commit(changes.insert(_delivery("envelope-declined", updated, now, recipient.recipient_id)))
        except ConcurrencyConflict:
            continue
        return SigningView(updated, declined, None, None)
    raise Conflict("The envelope is being changed; try again.")


def expire_signing_requests(ports: SigningPorts) -> int:
    """Ends the envelopes whose deadline passed (the scheduled jobs); each reports its expiry by webhook."""
    expired = 0
    now = ports.now
    for envelope in ports.envelopes.list_open_envelopes(now):
        ended = envelope.ended(EnvelopeState.EXPIRED, now, "The signing deadline passed.")
        changes = Changes().transition(ended, EnvelopeState.SENT.value, revision=envelope.revision)
        try:
            ports.commit(changes.insert(_delivery("envelope-voided", ended, now)))
        except ConcurrencyConflict:
            continue  # signed or declined meanwhile: the next run sees it as it is
        expired += 1
    if expired:
        logger.info("signing requests expired", extra={"count": expired})
    return expired


# --- helpers ----------------------------------------------------------------------------------------------


def _delivery(event: str, envelope: SigningEnvelope, now: datetime, recipient_id: str | None = None) -> WebhookDelivery:
    delivery_id = new_id()
    body = connect_message(
        event, envelope.envelope_id, account_id=ACCOUNT_ID, generated_at=now, recipient_id=recipient_id, event_id=delivery_id
    )
    return WebhookDelivery(delivery_id=delivery_id, body=body.decode(), created_at=now)


def _envelope(ports: SigningPorts, envelope_id: str) -> SigningEnvelope:
    envelope = ports.envelopes.get_envelope(envelope_id)
    if envelope is None:
        raise NotFound("Envelope not found.")
    return envelope


def _as_signer(ports: SigningPorts, principal: Principal, envelope_id: str, token: str) -> tuple[SigningEnvelope, SigningRecipient]:
    """The link's envelope and recipient, for the signer the link was sent to only, while they may still
    sign for their party (an admin who lost the role, or left the company, may not): a link forwarded to
    someone else, or a wrong token, finds nothing."""
    envelope = ports.envelopes.get_envelope(envelope_id)
    recipient = envelope.recipient_by_token(token) if envelope is not None else None
    if (
        envelope is None
        or recipient is None
        or recipient.user_id != principal.user_id
        or not principal.has(recipient.required_role)
        or (recipient.org_id is not None and principal.org_id != recipient.org_id)
    ):
        raise NotFound("Signing request not found.")
    return envelope, recipient


def _ensure_can_act(envelope: SigningEnvelope, recipient: SigningRecipient, now: datetime) -> None:
    if recipient.state is not RecipientState.WAITING:
        raise Conflict(f"You have already {recipient.state.value} this document.", current_state=recipient.state.value)
    envelope.ensure_open(now)


def _verified_document(ports: SigningPorts, envelope: SigningEnvelope) -> bytes:
    return verified_content(ports.storage, envelope.document_key, envelope.document_version, envelope.document_sha256)


def _normalised(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())
