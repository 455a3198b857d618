"""Engagements and contracts: from a client's acceptance to two signed contracts and an active engagement.

Staff send the engagement's two contracts (platform↔agency, platform↔client), each generated as a PDF
from the terms, stored with its SHA-256 and sent for signature to the counterparty and to the platform's
signer through a signature provider. The provider reports progress through a signed webhook; the
handler trusts the webhook only as a hint: it re-fetches the envelope's status from the provider and
moves the contract forward only. Each event id is handled at most once (recorded in the same transaction
as its effect). Every contract move also writes the engagement (optimistic lock on its revision), so two
completions arriving together are serialised there and the engagement becomes active exactly once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, TypedDict

from chalicelib.domain.accounts import User, UserStatus
from chalicelib.domain.assignments import AssignmentStatus
from chalicelib.domain.contracts import (
    COUNTERPARTY_RECIPIENT,
    ENDED,
    PLATFORM_RECIPIENT,
    UNSIGNED_ENDS,
    Contract,
    ContractParty,
    ContractStatus,
    Engagement,
    EngagementStatus,
    EngagementTerms,
    ProcessedEvent,
    Signer,
    SignerRole,
    StoredDocument,
    SupersededEnvelope,
    moves_forward,
)
from chalicelib.domain.engagement_changes import ChangeStatus, EngagementChange
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import new_id
from chalicelib.domain.money import format_amount
from chalicelib.domain.proposals import Party
from chalicelib.errors import ConcurrencyConflict, Conflict, NotFound, Unauthenticated, UpstreamUnavailable
from chalicelib.logging import log_failure, logger
from chalicelib.services.accounts import ensure_staff
from chalicelib.services.candidacies import ATTEMPTS, CandidacyPorts, active_staff, client_name, client_recipients, party_recipients
from chalicelib.services.integrity import verified_content
from chalicelib.services.notifications import notify
from chalicelib.services.ports import (
    Changes,
    ContractStorage,
    EngagementRepository,
    EnvelopeRequest,
    EnvelopeSigner,
    EnvelopeStatus,
    SignatureProvider,
    SignatureWebhooks,
)

PDF = "application/pdf"
DOWNLOAD_LINK_SECONDS = 300
OUT = frozenset({ContractStatus.SENT, ContractStatus.PARTLY_SIGNED})  # out for signature
TERMS_CHANGED = "The terms changed."
CANCELLED = "The engagement was cancelled."
# Events that report an end: when the provider's own status does not show it yet, the event is not
# recorded, so that its redelivery is applied (DocuSign's REST reads may lag its Connect messages).
TERMINAL_EVENTS = frozenset({"envelope-completed", "envelope-declined", "envelope-voided"})
# A contract out for signature that heard nothing this long is checked with its provider by the jobs (a
# webhook lost for good); DocuSign asks integrations to poll an envelope at most every 15 minutes.
RECONCILE_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class ContractPorts:
    candidacies: CandidacyPorts
    engagements: EngagementRepository
    storage: ContractStorage
    providers: Callable[[str], SignatureProvider]  # by name: "builtin" | "docusign"
    default_provider: str
    webhooks: SignatureWebhooks
    platform_name: str = "Customersonly AB"
    platform_org_number: str = ""
    signing_days: int = 14
    # Signed contracts are bookkeeping records: kept to the end of the seventh year after the year they were
    # signed in (Swedish bookkeeping law counts from the end of the financial year; a calendar year is assumed).
    retention_years: int = 7

    @property
    def now(self) -> datetime:
        return self.candidacies.now

    def commit(self, changes: Changes) -> None:
        self.candidacies.commit(changes)

    @property
    def users(self) -> Callable[[str], User | None]:
        return self.candidacies.assignments.accounts.accounts.get_user


# --- who sees what ----------------------------------------------------------------------------------------


def sees_engagement(principal: Principal, engagement: Engagement) -> bool:
    """Staff, the consultant, the agency's admins and the client company's users."""
    return (
        principal.is_staff
        or principal.user_id == engagement.consultant_id
        or principal.administers(engagement.agency_id)
        or (principal.has(Role.CLIENT) and principal.org_id == engagement.client_id)
    )


def sees_contract(principal: Principal, engagement: Engagement, contract: Contract) -> bool:
    """A contract is read by its parties alone: the platform's staff and the counterparty's people."""
    if principal.is_staff:
        return True
    if contract.party is ContractParty.AGENCY:
        return principal.administers(engagement.agency_id)
    return principal.has(Role.CLIENT) and principal.org_id == engagement.client_id


def get_engagement(ports: ContractPorts, principal: Principal, engagement_id: str) -> tuple[Engagement, list[Contract]]:
    """The engagement and the current contracts the caller may read."""
    engagement = ports.engagements.get_engagement(engagement_id)
    if engagement is None or not sees_engagement(principal, engagement):
        raise NotFound("Engagement not found.")
    return engagement, _current_contracts(ports, principal, engagement)


def _current_contracts(ports: ContractPorts, principal: Principal, engagement: Engagement) -> list[Contract]:
    return [c for c in _contracts_in_force(ports, engagement) if sees_contract(principal, engagement, c)]


def list_engagements(ports: ContractPorts, principal: Principal, status: EngagementStatus | None) -> list[Engagement]:
    """Staff list by status (contracting unless named); everyone else sees their own, newest first."""
    repo = ports.engagements
    if principal.is_staff:
        return repo.list_engagements_by_status(status or EngagementStatus.CONTRACTING)
    found: dict[str, Engagement] = {}
    if principal.has(Role.CONSULTANT):
        found |= {e.engagement_id: e for e in repo.list_consultant_engagements(principal.user_id)}
    if principal.has(Role.AGENCY_ADMIN) and principal.org_id:
        found |= {e.engagement_id: e for e in repo.list_agency_engagements(principal.org_id)}
    if principal.has(Role.CLIENT) and principal.org_id:
        found |= {e.engagement_id: e for e in repo.list_client_engagements(principal.org_id)}
    ordered = sorted(found.values(), key=lambda e: (e.created_at, e.engagement_id), reverse=True)
    return [e for e in ordered if status is None or e.status is status]


def visible_contract(ports: ContractPorts, principal: Principal, engagement_id: str, contract_id: str) -> tuple[Engagement, Contract]:
    engagement = ports.engagements.get_engagement(engagement_id)
    contract = ports.engagements.get_contract(engagement_id, contract_id) if engagement else None
    if engagement is None or contract is None or not sees_contract(principal, engagement, contract):
        raise NotFound("Contract not found.")
    return engagement, contract


# --- terms ------------------------------------------------------------------------------------------------


def update_terms(ports: ContractPorts, principal: Principal, engagement_id: str, terms: EngagementTerms) -> Engagement:
    """Staff settle the terms before the contracts are signed. Both contracts must state the same terms, so
    a contract out for signature is voided (with its provider) and sent again with the new ones; once one
    is signed, the terms are fixed."""
    ensure_staff(principal)
    for _ in range(ATTEMPTS):
        engagement = _engagement(ports, engagement_id)
        engagement.ensure_contracting()
        if terms_digest(terms) == terms_digest(engagement.terms):
            return engagement  # saved unchanged (a double submit): nothing out for signature is voided
        in_force = _contracts_in_force(ports, engagement)
        if any(c.status is ContractStatus.COMPLETED for c in in_force):
            raise Conflict("A contract is signed; the terms can no longer change.", current_state=ContractStatus.COMPLETED.value)
        now = ports.now
        changes = Changes()
        if void_outstanding(ports, in_force, TERMS_CHANGED, changes, now, unless_signed=True):
            raise Conflict("A contract was just signed; the terms can no longer change.", current_state="completed")
        updated = replace(engagement, terms=terms, revision=engagement.revision + 1, updated_at=now)
        try:
            ports.commit(changes.transition(updated, engagement.status.value, revision=engagement.revision))
        except ConcurrencyConflict:
            continue
        return updated
    raise engagement_busy()


def cancel_engagement(ports: ContractPorts, principal: Principal, engagement_id: str, reason: str) -> Engagement:
    """Staff call off an engagement whose contracts will not be signed (a party walked away): the contracts
    still out are voided with their provider, and everyone is told. A contract already signed stays signed."""
    ensure_staff(principal)
    for _ in range(ATTEMPTS):
        engagement = _engagement(ports, engagement_id)
        engagement.ensure_contracting()
        now = ports.now
        changes = Changes()
        void_outstanding(ports, _contracts_in_force(ports, engagement), CANCELLED, changes, now)
        updated = replace(
            engagement,
            status=EngagementStatus.CANCELLED,
            revision=engagement.revision + 1,
            updated_at=now,
            cancelled_at=now,
            cancelled_by=principal.user_id,
            cancel_reason=reason,
        )
        changes.transition(updated, engagement.status.value, revision=engagement.revision)
        tell_everyone(ports, engagement, "engagement_cancelled", {"reason": reason}, changes, now)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return updated
    raise engagement_busy()


def void_outstanding(
    ports: ContractPorts, contracts: list[Contract], reason: str, changes: Changes, now: datetime, *, unless_signed: bool = False
) -> bool:
    """Voids, with their providers, the contracts still out for signature, adding their moves to ``changes``.
    One that its provider reports signed a moment ago (its webhook still on the way) is left alone: the
    answer is whether there was one. With ``unless_signed``, nothing is voided when there was one (the
    caller refuses, and must not have voided the others first)."""
    out = [c for c in contracts if c.status in OUT and c.provider and c.envelope_id]
    statuses = {c.contract_id: ports.providers(c.provider).get_status(c.envelope_id).status for c in out if c.provider and c.envelope_id}
    signed_meanwhile = ContractStatus.COMPLETED in statuses.values()
    if signed_meanwhile and unless_signed:
        return True
    for contract in out:
        if statuses[contract.contract_id] is ContractStatus.COMPLETED:
            continue
        assert contract.provider and contract.envelope_id
        ports.providers(contract.provider).void(contract.envelope_id, reason)
        voided = replace(contract.moved(ContractStatus.VOIDED, now), end_reason=reason)
        changes.transition(voided, contract.status.value, revision=contract.revision)
    return signed_meanwhile


def terms_digest(terms: EngagementTerms) -> str:
    return hashlib.sha256(repr(terms).encode()).hexdigest()


# --- sending ----------------------------------------------------------------------------------------------


def send_contracts(ports: ContractPorts, principal: Principal, engagement_id: str, provider: str | None = None) -> Engagement:
    """Staff generate both contracts from the current terms and send them for signature, the caller signing
    for the platform. Sending again resends only what is not out yet (a draft, or a contract that ended
    unsigned, which gets a new version). Of two requests racing, one envelope per contract stays out: an
    envelope made by the slower one is voided (its signers may see a withdrawn request)."""
    ensure_staff(principal)
    name = provider or ports.default_provider
    engagement = _prepare_drafts(ports, principal, engagement_id)
    for listed in _contracts_in_force(ports, engagement):
        # Read again just before: a concurrent request may have sent it, or changed the terms, meanwhile.
        contract = ports.engagements.get_contract(engagement_id, listed.contract_id)
        current_terms = terms_digest(_engagement(ports, engagement_id).terms)
        if contract is not None and contract.status is ContractStatus.DRAFT and contract.terms_digest == current_terms:
            send_for_signature(ports, contract, name, _still_contracting)
    return _engagement(ports, engagement_id)


def _still_contracting(ports: ContractPorts, contract: Contract) -> Changes | None:
    """A contract is sent while its engagement is contracting on the terms it states; the engagement's
    revision is written with it, so that terms changed meanwhile make the send fail, not go out stale."""
    engagement = _engagement(ports, contract.engagement_id)
    if contract.terms_digest != terms_digest(engagement.terms) or engagement.status is not EngagementStatus.CONTRACTING:
        return None
    bumped = replace(engagement, revision=engagement.revision + 1)
    return Changes().transition(bumped, engagement.status.value, revision=engagement.revision)


def _prepare_drafts(ports: ContractPorts, principal: Principal, engagement_id: str) -> Engagement:
    for _ in range(ATTEMPTS):
        engagement = _engagement(ports, engagement_id)
        engagement.ensure_contracting()
        digest = terms_digest(engagement.terms)
        changes = Changes()
        contracts = dict(engagement.contracts)
        current = {c.party: c for c in _contracts_in_force(ports, engagement)}
        for party in ContractParty:
            contract = current.get(party)
            if contract is not None and contract.status not in UNSIGNED_ENDS and not _stale_draft(contract, digest, principal):
                continue
            draft = _draft(ports, principal, engagement, party, contract, digest)
            if contract is not None and contract.contract_id == draft.contract_id:
                changes.transition(draft, contract.status.value, revision=contract.revision)
            else:
                changes.insert(draft)
            contracts[party] = draft.contract_id
        if not changes.writes:
            return engagement
        updated = replace(engagement, contracts=contracts, revision=engagement.revision + 1, updated_at=ports.now)
        changes.transition(updated, engagement.status.value, revision=engagement.revision)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return updated
    raise engagement_busy()


def _stale_draft(contract: Contract, digest: str, principal: Principal) -> bool:
    """A draft made from other terms, or naming another staff member as the platform's signer."""
    platform_signer = next(s.user_id for s in contract.signers if s.role is SignerRole.PLATFORM)
    return contract.status is ContractStatus.DRAFT and (contract.terms_digest != digest or platform_signer != principal.user_id)


def _draft(
    ports: ContractPorts, principal: Principal, engagement: Engagement, party: ContractParty, previous: Contract | None, digest: str
) -> Contract:
    """A contract generated from the engagement's terms: a draft made again in place, or a new version of a
    contract that ended unsigned (or the first)."""
    from chalicelib.contracts.pdf import ContractView, render_contract

    now = ports.now
    keep = previous is not None and previous.status is ContractStatus.DRAFT
    contract_id = previous.contract_id if keep and previous else new_id()
    version = (previous.version + (0 if keep else 1)) if previous else 1
    names = document_parties(ports, engagement, party, principal.user_id)
    reference = contract_reference(contract_id, version)
    view = ContractView(party=party, reference=reference, issued_on=now.date(), terms=engagement.terms, **names.printed(ports))
    contract = document_contract(ports, engagement, party, names, contract_id, version, reference, render_contract(view), digest, now)
    if keep and previous:
        return replace(contract, created_at=previous.created_at, revision=previous.revision + 1)
    return contract


class PrintedParties(TypedDict):
    """What every document (a contract or an addendum) prints of its parties."""

    language: str
    platform_name: str
    platform_org_number: str
    counterparty_name: str
    counterparty_org_number: str
    counterparty_signer_name: str
    platform_signer_name: str
    agency_name: str
    client_name: str
    consultant_name: str
    assignment_title: str


@dataclass(frozen=True)
class DocumentParties:
    """Who a contract (or an addendum) names and who signs it."""

    counterparty: User  # signs for the agency or the client
    platform_signer: User  # a staff member, for the platform
    counterparty_org_name: str
    counterparty_org_number: str
    agency_name: str
    client_name: str
    consultant_name: str
    assignment_title: str

    def printed(self, ports: ContractPorts) -> PrintedParties:
        return PrintedParties(
            language=self.counterparty.language,
            platform_name=ports.platform_name,
            platform_org_number=ports.platform_org_number,
            counterparty_name=self.counterparty_org_name,
            counterparty_org_number=self.counterparty_org_number,
            counterparty_signer_name=self.counterparty.name,
            platform_signer_name=self.platform_signer.name,
            agency_name=self.agency_name,
            client_name=self.client_name,
            consultant_name=self.consultant_name,
            assignment_title=self.assignment_title,
        )

    @property
    def signers(self) -> tuple[Signer, Signer]:
        counterparty, platform = self.counterparty, self.platform_signer
        return (
            Signer(COUNTERPARTY_RECIPIENT, SignerRole.COUNTERPARTY, counterparty.user_id, counterparty.name, counterparty.email),
            Signer(PLATFORM_RECIPIENT, SignerRole.PLATFORM, platform.user_id, platform.name, platform.email),
        )


def document_parties(ports: ContractPorts, engagement: Engagement, party: ContractParty, platform_signer_id: str) -> DocumentParties:
    platform_signer = ports.users(platform_signer_id)
    if platform_signer is None:
        raise NotFound("The platform's signer was not found.")
    accounts = ports.candidacies.assignments.accounts.accounts
    agency, client = accounts.get_organisation(engagement.agency_id), accounts.get_organisation(engagement.client_id)
    consultant = ports.users(engagement.consultant_id)
    assignment = ports.candidacies.assignments.assignments.get_assignment(engagement.assignment_id)
    org = agency if party is ContractParty.AGENCY else client
    return DocumentParties(
        counterparty=counterparty_signer(ports, engagement, party),
        platform_signer=platform_signer,
        counterparty_org_name=org.name if org else "",
        counterparty_org_number=(org.organisation_number or "") if org else "",
        agency_name=agency.name if agency else "",
        client_name=client.name if client else "",
        consultant_name=consultant.name if consultant else "",
        assignment_title=assignment.title if assignment else "",
    )


def document_contract(
    ports: ContractPorts,
    engagement: Engagement,
    party: ContractParty,
    names: DocumentParties,
    contract_id: str,
    version: int,
    reference: str,
    pdf: bytes,
    digest: str,
    now: datetime,
) -> Contract:
    """A new draft (a contract or an addendum) of ``pdf``, stored, to be signed by ``names``' signers."""
    return Contract(
        contract_id=contract_id,
        engagement_id=engagement.engagement_id,
        party=party,
        counterparty_id=engagement.agency_id if party is ContractParty.AGENCY else engagement.client_id,
        version=version,
        language=names.counterparty.language,
        created_at=now,
        created_by=names.platform_signer.user_id,
        updated_at=now,
        terms_digest=digest,
        document=store_document(ports, engagement, contract_id, reference, pdf),
        signers=names.signers,
    )


def store_document(ports: ContractPorts, engagement: Engagement, contract_id: str, reference: str, pdf: bytes) -> StoredDocument:
    key = f"contracts/{engagement.engagement_id}/{contract_id}/{reference}.pdf"
    stored = ports.storage.put(key, pdf, content_type=PDF)
    return StoredDocument(key, stored.version_id, hashlib.sha256(pdf).hexdigest(), len(pdf))


def contract_reference(contract_id: str, version: int, *, addendum: bool = False) -> str:
    return f"{'AD' if addendum else 'CO'}-{contract_id.upper()}-v{version}"


def reference_of(contract: Contract) -> str:
    return contract_reference(contract.contract_id, contract.version, addendum=contract.is_addendum)


def counterparty_signer(ports: ContractPorts, engagement: Engagement, party: ContractParty) -> User:
    """Who signs for the counterparty: for the agency, the admin who consented to the disclosure (else any
    active admin); for the client, the user who accepted (else any active client user)."""
    accounts = ports.candidacies.assignments.accounts.accounts
    if party is ContractParty.AGENCY:
        candidacy = ports.candidacies.proposals.get_candidacy(engagement.candidacy_id)
        answer = candidacy.answers.get(Party.AGENCY) if candidacy else None
        preferred, org_id, role = answer.actor_id if answer else None, engagement.agency_id, Role.AGENCY_ADMIN
    else:
        preferred, org_id, role = engagement.accepted_by, engagement.client_id, Role.CLIENT
    members = [u for u in accounts.list_members(org_id) if role in u.roles and u.status is UserStatus.ACTIVE]
    chosen = next((u for u in members if u.user_id == preferred), members[0] if members else None)
    if chosen is None:
        raise Conflict(f"The {party.value} has no active user who can sign.")
    return chosen


def send_for_signature(
    ports: ContractPorts, contract: Contract, provider_name: str, still_wanted: Callable[[ContractPorts, Contract], Changes | None]
) -> None:
    """Sends a draft (a contract or an addendum) for signature. ``still_wanted`` is asked, after the envelope
    is made, whether the draft is still the one to send: it answers with the writes that hold that true in
    the same transaction (a revision-checked write of what the draft stems from), or None when not."""
    provider = ports.providers(provider_name)
    document = _verified_content(ports, contract.document)
    request = EnvelopeRequest(
        contract_id=contract.contract_id,
        engagement_id=contract.engagement_id,
        subject=_subject(contract),
        document_name=f"{reference_of(contract)}.pdf",
        document=document,
        signers=tuple(_envelope_signer(contract, s) for s in contract.signers),
        language=contract.language,
        expires_in_days=ports.signing_days,
    )
    envelope_id = provider.create_envelope(request)
    for _ in range(ATTEMPTS):
        current = ports.engagements.get_contract(contract.engagement_id, contract.contract_id)
        if current is None or current.status is not ContractStatus.DRAFT or current.document != contract.document:
            break  # sent by a concurrent request, or made again meanwhile: one envelope too many
        guard = still_wanted(ports, current)
        if guard is None:
            break  # what it stems from changed meanwhile
        sent = replace(current.moved(ContractStatus.SENT, ports.now), provider=provider_name, envelope_id=envelope_id, sent_at=ports.now)
        changes = guard.transition(sent, current.status.value, revision=current.revision)
        try:
            ports.commit(changes)
        except ConcurrencyConflict:
            continue
        return
    # Remembered first, so that the envelope's own events (sent, voided) are acknowledged, not retried.
    with suppress(ConcurrencyConflict):
        ports.commit(Changes().insert(SupersededEnvelope(envelope_id, provider_name, contract.contract_id, ports.now)))
    provider.void(envelope_id, "Superseded: the contract was sent by another request, or changed meanwhile.")


def _envelope_signer(contract: Contract, signer: Signer) -> EnvelopeSigner:
    if signer.role is SignerRole.PLATFORM:
        role, org_id = Role.STAFF, None
    else:
        role = Role.AGENCY_ADMIN if contract.party is ContractParty.AGENCY else Role.CLIENT
        org_id = contract.counterparty_id
    return EnvelopeSigner(signer.recipient_id, signer.user_id, signer.name, signer.email, 1, role, org_id)


def _subject(contract: Contract) -> str:
    reference = reference_of(contract)
    if contract.is_addendum:
        return f"Tilläggsavtal att signera: {reference}" if contract.language == "sv" else f"Contract addendum to sign: {reference}"
    return f"Avtal att signera: {reference}" if contract.language == "sv" else f"Contract to sign: {reference}"


# --- webhooks ---------------------------------------------------------------------------------------------

Outcome = Literal["applied", "stale", "duplicate"]


def handle_signature_webhook(ports: ContractPorts, raw_body: bytes, headers: Mapping[str, str]) -> Outcome:
    """A signature provider's event. Verified on the raw bytes before anything is read from them; the event
    only says which envelope to look at: its status is fetched from the provider, and only a forward move
    of the contract is applied. Raises Unauthenticated (401, nothing stored) for a bad signature, NotFound
    for an envelope not (yet) known and UpstreamUnavailable for an end the provider does not confirm yet,
    so that the provider delivers the event again later."""
    if not ports.webhooks.verify(raw_body, headers):
        raise Unauthenticated("The webhook signature is missing or does not match.")
    event = ports.webhooks.parse(raw_body)
    contract = ports.engagements.find_contract_by_envelope(event.envelope_id)
    if contract is None or contract.provider is None:
        if ports.engagements.envelope_superseded(event.envelope_id):
            return "stale"  # an envelope made one too many (a double submit) and voided
        raise NotFound("No contract has this envelope.")
    if ports.engagements.event_processed(contract.provider, event.event_id):
        return "duplicate"
    status = ports.providers(contract.provider).get_status(event.envelope_id)
    if event.event in TERMINAL_EVENTS and contract.status not in ENDED and not moves_forward(contract.status, status.status):
        raise UpstreamUnavailable("The signature provider does not confirm this event yet.")
    record = ProcessedEvent(contract.provider, event.event_id, ports.now, event.envelope_id)
    return _settle(ports, contract, status, record)


def reconcile_contracts(ports: ContractPorts) -> int:
    """The scheduled check of contracts out for signature that heard nothing for ``RECONCILE_AFTER``: their
    status is fetched and applied as a webhook's would be, so a webhook lost for good (retries exhausted,
    a delivery never made) delays a contract, never strands it. Returns how many moved."""
    moved = 0
    for contract in ports.engagements.list_open_contracts(checked_before=ports.now - RECONCILE_AFTER):
        if contract.provider is None or contract.envelope_id is None:
            continue
        try:
            status = ports.providers(contract.provider).get_status(contract.envelope_id)
            if _settle(ports, contract, status, None) == "applied":
                moved += 1
        except Exception as exc:
            log_failure("contract reconciliation failed", exc, contract_id=contract.contract_id)
    return moved


def _settle(ports: ContractPorts, contract: Contract, status: EnvelopeStatus, record: ProcessedEvent | None) -> Outcome:
    """Applies the provider's ``status`` to the contract (recording ``record``, the event, with it)."""
    stored = None
    if status.status is ContractStatus.COMPLETED and contract.status is not ContractStatus.COMPLETED:
        stored = _store_signed(ports, contract)  # once, outside the retries: each version stays locked for years
    for _ in range(ATTEMPTS):
        try:
            return _apply(ports, contract.engagement_id, contract.contract_id, status, record, stored)
        except ConcurrencyConflict:
            if record is not None and ports.engagements.event_processed(record.provider, record.event_id):
                return "duplicate"
    raise engagement_busy()


SignedCopies = tuple[StoredDocument, StoredDocument | None]


def _apply(
    ports: ContractPorts,
    engagement_id: str,
    contract_id: str,
    status: EnvelopeStatus,
    record: ProcessedEvent | None,
    stored: SignedCopies | None,
) -> Outcome:
    contract = ports.engagements.get_contract(engagement_id, contract_id)
    engagement = ports.engagements.get_engagement(engagement_id)
    assert contract is not None and engagement is not None, "a contract and its engagement are never deleted"
    now = ports.now
    changes = Changes()
    if record is not None:
        changes.insert(record)
    signers = tuple(replace(s, signed_at=status.signed_at.get(s.recipient_id, s.signed_at)) for s in contract.signers)
    if not moves_forward(contract.status, status.status):
        if signers == contract.signers or contract.status in ENDED:
            if record is not None:
                ports.commit(changes)  # remembered, so a redelivery is not fetched again
            elif contract.status in OUT:
                # Checked by the jobs and unchanged: filed as checked, so that it is asked again only later.
                checked = replace(contract, checked_at=now, revision=contract.revision + 1)
                ports.commit(Changes().transition(checked, contract.status.value, revision=contract.revision))
            return "stale"
        updated = replace(contract, signers=signers, revision=contract.revision + 1, updated_at=now)
    else:
        updated = replace(contract.moved(status.status, now), signers=signers, end_reason=status.reason)
    if updated.status is ContractStatus.COMPLETED and contract.status is not ContractStatus.COMPLETED:
        document, certificate = stored or _store_signed(ports, contract)
        updated = replace(updated, signed_document=document, certificate=certificate)
    changes.transition(updated, contract.status.value, revision=contract.revision)
    _follow_on_engagement(ports, engagement, contract, updated, changes, now)
    ports.commit(changes)
    logger.info("contract moved", extra={"contract_id": contract_id, "from": contract.status.value, "to": updated.status.value})
    return "applied"


def _follow_on_engagement(
    ports: ContractPorts, engagement: Engagement, before: Contract, after: Contract, changes: Changes, now: datetime
) -> None:
    """Every contract move writes the engagement: its revision serialises concurrent moves, so of two
    completions arriving together the second sees the first and activates the engagement, once. An
    addendum's move writes its change instead (and, once both addenda are signed, the engagement)."""
    if after.is_addendum:
        # Imported here: the changes build on this module (drafts, sending, the signature flow).
        from chalicelib.services.engagement_changes import follow_addendum

        follow_addendum(ports, engagement, before, after, changes, now)
        return
    current = engagement.contracts.get(after.party) == after.contract_id
    signed = engagement.signed | {after.party} if after.status is ContractStatus.COMPLETED and current else engagement.signed
    updated = replace(engagement, signed=frozenset(signed), revision=engagement.revision + 1, updated_at=now)
    if updated.fully_signed and engagement.status is EngagementStatus.CONTRACTING:
        updated = replace(updated, status=EngagementStatus.ACTIVE, activated_at=now)
        _activate(ports, updated, changes, now)
    changes.transition(updated, engagement.status.value, revision=engagement.revision)
    if after.status in UNSIGNED_ENDS and before.status not in ENDED and current:
        alert_unsigned(ports, engagement, after, changes, now)


def _store_signed(ports: ContractPorts, contract: Contract) -> SignedCopies:
    """Downloads the completed documents from the provider and keeps them locked for the retention period."""
    assert contract.provider and contract.envelope_id
    documents = ports.providers(contract.provider).download_signed(contract.envelope_id)
    until = datetime(ports.now.year + ports.retention_years, 12, 31, 23, 59, 59, tzinfo=UTC)
    base = f"contracts/{contract.engagement_id}/{contract.contract_id}/{reference_of(contract)}"
    document = _keep(ports, f"{base}-signed.pdf", documents.document, until)
    certificate = _keep(ports, f"{base}-certificate.pdf", documents.certificate, until) if documents.certificate is not None else None
    return document, certificate


def _keep(ports: ContractPorts, key: str, content: bytes, until: datetime) -> StoredDocument:
    stored = ports.storage.put(key, content, content_type=PDF, retain_until=until)
    return StoredDocument(key, stored.version_id, hashlib.sha256(content).hexdigest(), len(content))


def _activate(ports: ContractPorts, engagement: Engagement, changes: Changes, now: datetime) -> None:
    """Both contracts are signed: the assignment is filled, time reporting opens, and everyone is told."""
    assignment = ports.candidacies.assignments.assignments.get_assignment(engagement.assignment_id)
    if assignment is not None and assignment.status is AssignmentStatus.OPEN:
        filled = replace(assignment, status=AssignmentStatus.FILLED, updated_at=now, updated_by="system")
        changes.transition(filled, AssignmentStatus.OPEN.value)
    tell_everyone(ports, engagement, "engagement_active", {}, changes, now)


def alert_unsigned(ports: ContractPorts, engagement: Engagement, contract: Contract, changes: Changes, now: datetime) -> None:
    """A contract declined, voided or expired: the consultant's agent and staff must act (talk to the
    party, change the terms, send again or cancel)."""
    accounts = ports.candidacies.assignments.accounts.accounts
    agent = ports.candidacies.proposals.get_agent_assignment(engagement.consultant_id)
    people = active_staff(accounts)
    params = {
        **engagement_params(ports, engagement),
        "party": contract.party.value,
        "status": contract.status.value,
        "reason": contract.end_reason or "-",
    }
    is_agent = {agent.agent_id} if agent is not None else set()
    for user in people:
        kind = "contract_unsigned_agent" if user.user_id in is_agent else "contract_unsigned"
        notify(
            changes, user, kind, {**params, "recipient_name": user.name}, now, object_type="engagement", object_id=engagement.engagement_id
        )


def tell_everyone(ports: ContractPorts, engagement: Engagement, kind: str, extra: dict[str, str], changes: Changes, now: datetime) -> None:
    """The consultant, the agency's admins and the client's users, each once."""
    candidacy = ports.candidacies.proposals.get_candidacy(engagement.candidacy_id)
    people = party_recipients(ports.candidacies, candidacy) if candidacy else []
    people += client_recipients(ports.candidacies, engagement.client_id)
    params = {**engagement_params(ports, engagement), **extra}
    for user in {u.user_id: u for u in people}.values():
        notify(
            changes, user, kind, {**params, "recipient_name": user.name}, now, object_type="engagement", object_id=engagement.engagement_id
        )


def engagement_params(ports: ContractPorts, engagement: Engagement) -> dict[str, str]:
    """What notices about the engagement name: the assignment, the client, the consultant, dates, price, link."""
    assignment = ports.candidacies.assignments.assignments.get_assignment(engagement.assignment_id)
    consultant = ports.users(engagement.consultant_id)
    terms = engagement.terms
    return {
        "assignment_title": assignment.title if assignment else "",
        "client_name": client_name(ports.candidacies, engagement.client_id),
        "consultant_name": consultant.name if consultant else "",
        "start_date": terms.start_date.isoformat(),
        "end_date": terms.end_date.isoformat(),
        "price": format_amount(terms.price_minor, terms.currency),
        "link": f"{ports.candidacies.assignments.accounts.web_base_url}/engagements/{engagement.engagement_id}",
    }


# --- documents --------------------------------------------------------------------------------------------

DocumentKind = Literal["document", "signed", "certificate"]


@dataclass(frozen=True)
class DocumentLink:
    url: str
    sha256: str
    size: int
    expires_at: datetime


def document_link(ports: ContractPorts, principal: Principal, engagement_id: str, contract_id: str, kind: DocumentKind) -> DocumentLink:
    """A short-lived link to the contract as sent, as signed (with the evidence) or its certificate, after
    checking that the stored bytes still hash to the recorded SHA-256."""
    _, contract = visible_contract(ports, principal, engagement_id, contract_id)
    stored = {"document": contract.document, "signed": contract.signed_document, "certificate": contract.certificate}[kind]
    if stored is None:
        raise NotFound("The contract has no such document (yet).")
    _verified_content(ports, stored)
    url = ports.storage.presigned_get(stored.key, stored.version_id, expires_in=DOWNLOAD_LINK_SECONDS)
    return DocumentLink(url, stored.sha256, stored.size, ports.now + timedelta(seconds=DOWNLOAD_LINK_SECONDS))


def _verified_content(ports: ContractPorts, stored: StoredDocument) -> bytes:
    return verified_content(ports.storage, stored.key, stored.version_id, stored.sha256)


# --- helpers ----------------------------------------------------------------------------------------------


def _engagement(ports: ContractPorts, engagement_id: str) -> Engagement:
    engagement = ports.engagements.get_engagement(engagement_id)
    if engagement is None:
        raise NotFound("Engagement not found.")
    return engagement


def change_being_signed(ports: ContractPorts, engagement: Engagement) -> EngagementChange | None:
    """The engagement's agreed change while its addenda are being signed (or sent: the jobs send what a failed
    send left): its outcome is near, so the end waits for it, and so do the time and invoices it changes. An
    addendum that ended unsigned holds nothing up: staff were told, and may send it again."""
    change = ports.engagements.get_change(engagement.engagement_id, engagement.open_change_id) if engagement.open_change_id else None
    if change is None or change.status is not ChangeStatus.SIGNING:
        return None
    addenda = [ports.engagements.get_contract(engagement.engagement_id, c) for c in change.addenda.values()]
    if any(a is not None and a.status in UNSIGNED_ENDS for a in addenda):
        return None
    unsent = len(addenda) < len(ContractParty) or any(a is not None and a.status is ContractStatus.DRAFT for a in addenda)
    if unsent and change.agreed_at is not None and ports.now - change.agreed_at > timedelta(days=ports.signing_days):
        return None  # not sent for as long as signing may take (the jobs' failures are logged each run): no hold
    return change


def _contracts_in_force(ports: ContractPorts, engagement: Engagement) -> list[Contract]:
    current = set(engagement.contracts.values())
    return [c for c in ports.engagements.list_contracts(engagement.engagement_id) if c.contract_id in current]


def engagement_busy() -> Conflict:
    return Conflict("The engagement is being changed by someone else; try again.")
