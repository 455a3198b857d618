"""Engagements, contracts and the built-in signature: from an accepted candidate to two signed contracts
and an active engagement, through the same signed webhooks an external provider sends, and every way
those webhooks can be forged, repeated, reordered or raced."""

from __future__ import annotations

import dataclasses
import io
import re
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.adapters.esign.connect import connect_message, connect_signature
from chalicelib.adapters.esign.webhooks import ConnectWebhooks
from chalicelib.domain.assignments import AssignmentStatus
from chalicelib.domain.contracts import ContractParty, ContractStatus, Engagement, EngagementStatus, Pricing
from chalicelib.domain.identity import Principal, RequestContext
from chalicelib.domain.signing import SigningEnvelope, WebhookDelivery
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated, UpstreamUnavailable
from chalicelib.services import contracts, interviews, proposals, registration, signing
from chalicelib.services.contracts import ContractPorts
from chalicelib.services.signing import BuiltinSignatureProvider, SigningPorts
from tests import builders
from tests.fakes import FakeContractStorage
from tests.unit.test_proposals import Scene, make_scene

KEY = "test-builtin-key"
SIGNER_CTX = RequestContext(ip="192.0.2.10", user_agent="Mozilla/5.0 (contract test)")


@dataclass
class Deal:
    scene: Scene
    ports: ContractPorts
    signing: SigningPorts
    storage: FakeContractStorage
    engagement_id: str
    delivered: set[str]

    @property
    def db(self) -> Any:
        return self.scene.world.db

    def engagement(self) -> Engagement:
        found = self.db.get_engagement(self.engagement_id)
        assert found is not None
        return found

    def contract(self, party: ContractParty) -> Any:
        return self.db.get_contract(self.engagement_id, self.engagement().contracts[party])

    def envelope(self, party: ContractParty) -> SigningEnvelope:
        found = self.db.get_envelope(self.contract(party).envelope_id)
        assert found is not None
        return found

    def send(self) -> Engagement:
        return contracts.send_contracts(self.ports, self.scene.staff, self.engagement_id)

    def pending_deliveries(self) -> list[WebhookDelivery]:
        found = [d for d in self.db._all("delivery") if d.delivery_id not in self.delivered]
        return sorted(found, key=lambda d: d.created_at)

    def deliver(self) -> list[str]:
        """Posts every pending built-in webhook, signed, in order, as the stream handler does."""
        outcomes = []
        for delivery in self.pending_deliveries():
            self.delivered.add(delivery.delivery_id)
            outcomes.append(self.post(delivery.body.encode()))
        return outcomes

    def post(self, body: bytes, key: str = KEY) -> str:
        return contracts.handle_signature_webhook(self.ports, body, {"X-DocuSign-Signature-1": connect_signature(body, key.encode())})

    def sign(self, party: ContractParty, who: Principal, email: str) -> Any:
        envelope = self.envelope(party)
        recipient = next(r for r in envelope.recipients if r.user_id == who.user_id)
        token = self._token(envelope, email)
        return signing.sign(self.signing, who, envelope.envelope_id, token, recipient.name, envelope.document_sha256, SIGNER_CTX)

    def _token(self, envelope: SigningEnvelope, email: str) -> str:
        texts = [m.text for m in self.scene.mails(email) if f"/sign/{envelope.envelope_id}?token=" in m.text]
        assert texts, f"no signing link for {email}"
        return texts[-1].split("token=")[1].split()[0]

    def principal(self, user_id: str) -> Principal:
        user = self.db.get_user(user_id)
        return Principal(user_id=user.user_id, roles=frozenset(user.roles), org_id=user.org_id)

    def notices(self, kind: str) -> list[Any]:
        return [n for n in self.db._all("notification") if n.kind == kind]


def make_deal(scene: Scene | None = None) -> Deal:
    scene = scene or make_scene(1)
    candidacy_id = scene.consented(0)
    proposal = scene.send(candidacy_id).proposal
    accepted = proposals.decide(scene.ports, scene.buyer, proposal.proposal_id, candidacy_id, accept=True, reason=None)
    assert accepted.engagement_id is not None
    storage = FakeContractStorage()
    signing_ports = SigningPorts(scene.world.accounts, scene.world.db, storage)
    provider = BuiltinSignatureProvider(signing_ports)

    def providers(name: str) -> Any:
        assert name == "builtin"
        return provider

    ports = ContractPorts(
        candidacies=scene.ports,
        engagements=scene.world.db,
        storage=storage,
        providers=providers,
        default_provider="builtin",
        webhooks=ConnectWebhooks([KEY, "docusign-connect-key"]),
        platform_org_number="559999-0001",
    )
    return Deal(scene, ports, signing_ports, storage, accepted.engagement_id, set())


@pytest.fixture
def deal() -> Deal:
    return make_deal()


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


# --- the engagement an acceptance makes ------------------------------------------------------------------


def test_acceptance_makes_one_engagement_with_the_consented_rate_and_the_assignments_dates(deal: Deal) -> None:
    engagement = deal.engagement()
    candidacy = deal.scene.ports.proposals.get_candidacy(engagement.candidacy_id)
    assert candidacy is not None and candidacy.engagement_id == engagement.engagement_id
    terms = engagement.terms
    assert terms.pricing is Pricing.HOURLY and terms.rate_minor == 100_000 and terms.currency == "SEK"
    assert terms.commission_bps == 1500 and terms.commission_minor == 15_000 and terms.agency_net_minor == 85_000
    assert terms.start_date == deal.scene.assignment.start_date
    assert engagement.status is EngagementStatus.CONTRACTING and engagement.contracts == {}
    # Accepting again (a double click) makes no second engagement.
    proposals.decide(deal.scene.ports, deal.scene.buyer, candidacy.proposal_id or "", candidacy.candidacy_id, accept=True, reason=None)
    assert len(deal.db._all("engagement")) == 1


# --- generating and sending -------------------------------------------------------------------------------


def test_sending_generates_both_contracts_as_pdfs_with_their_hashes_and_asks_both_signers_of_each(deal: Deal) -> None:
    import hashlib

    engagement = deal.send()
    assert set(engagement.contracts) == set(ContractParty)
    for party in ContractParty:
        contract = deal.contract(party)
        assert contract.status is ContractStatus.SENT and contract.provider == "builtin" and contract.version == 1
        stored = deal.storage.versions[(contract.document.key, contract.document.version_id)]
        assert stored.startswith(b"%PDF-") and hashlib.sha256(stored).hexdigest() == contract.document.sha256
        text = _pdf_text(stored)
        assert "Customersonly AB" in text and "559999-0001" in text
        assert [s.role.value for s in contract.signers] == ["counterparty", "platform"]
        assert deal.envelope(party).document_sha256 == contract.document.sha256
    agency_contract = deal.contract(ContractParty.AGENCY)
    assert agency_contract.signers[0].user_id == deal.scene.agency_admin.user_id  # the admin who consented
    assert deal.contract(ContractParty.CLIENT).signers[0].user_id == deal.scene.buyer.user_id  # the user who accepted
    assert {n.user_id for n in deal.notices("signature_requested")} == {
        deal.scene.agency_admin.user_id,
        deal.scene.buyer.user_id,
        deal.scene.staff.user_id,
    }


def test_sending_twice_sends_nothing_twice(deal: Deal) -> None:
    deal.send()
    deal.send()
    assert len(deal.db._all("esign")) == 2 and len(deal.db._all("contract")) == 2


def test_only_staff_send_contracts_or_change_terms(deal: Deal) -> None:
    with pytest.raises(Forbidden):
        contracts.send_contracts(deal.ports, deal.scene.buyer, deal.engagement_id)
    with pytest.raises(Forbidden):
        contracts.update_terms(deal.ports, deal.scene.agency_admin, deal.engagement_id, deal.engagement().terms)


def test_terms_change_until_a_contract_is_out_and_a_changed_draft_is_made_again(deal: Deal) -> None:
    terms = dataclasses.replace(deal.engagement().terms, pricing=Pricing.DAILY, rate_minor=750_000, payment_terms_days=20)
    contracts._prepare_drafts(deal.ports, deal.scene.staff, deal.engagement_id)
    first = deal.contract(ContractParty.CLIENT).document
    contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, terms)
    deal.send()
    sent = deal.contract(ContractParty.CLIENT)
    assert sent.document != first and sent.status is ContractStatus.SENT and sent.version == 1
    assert "7,500.00 SEK" in _pdf_text(deal.storage.versions[(sent.document.key, sent.document.version_id)]) or "7 500,00" in _pdf_text(
        deal.storage.versions[(sent.document.key, sent.document.version_id)]
    )
    # Changed again while out: the contracts out are voided, to go out again with the new terms.
    contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, dataclasses.replace(terms, payment_terms_days=10))
    assert {deal.contract(p).status for p in ContractParty} == {ContractStatus.VOIDED}


# --- signing through the webhook --------------------------------------------------------------------------


def test_both_contracts_signed_activate_the_engagement_once_with_the_evidence_in_the_signed_pdfs(deal: Deal) -> None:
    deal.send()
    assert deal.deliver() == ["stale", "stale"]  # envelope-sent: the contracts are sent already
    deal.sign(ContractParty.AGENCY, deal.scene.agency_admin, deal.scene.world.db.get_user(deal.scene.agency_admin.user_id).email)
    deal.deliver()
    assert deal.contract(ContractParty.AGENCY).status is ContractStatus.PARTLY_SIGNED
    for party in ContractParty:
        for recipient in deal.envelope(party).recipients:
            if recipient.evidence is None:
                deal.sign(party, deal.principal(recipient.user_id), recipient.email)
    deal.deliver()
    engagement = deal.engagement()
    assert engagement.status is EngagementStatus.ACTIVE and engagement.activated_at is not None
    assert engagement.signed == frozenset(ContractParty)
    assignment = deal.scene.world.db.get_assignment(engagement.assignment_id)
    assert assignment.status is AssignmentStatus.FILLED
    told = deal.notices("engagement_active")
    assert len(told) == len({n.user_id for n in told}) >= 3  # consultant, agency admin, client: once each
    for party in ContractParty:
        contract = deal.contract(party)
        assert contract.status is ContractStatus.COMPLETED and contract.signed_document is not None
        final = deal.storage.versions[(contract.signed_document.key, contract.signed_document.version_id)]
        assert deal.storage.locked_until[(contract.signed_document.key, contract.signed_document.version_id)] > contract.completed_at
        text = _pdf_text(final)
        assert "192.0.2.10" in text and contract.document.sha256 in re.sub(r"\s", "", text)  # a long hash may wrap
        link = contracts.document_link(deal.ports, deal.scene.staff, deal.engagement_id, contract.contract_id, "signed")
        assert link.sha256 == contract.signed_document.sha256


def _complete_both_envelopes_without_delivering(deal: Deal) -> tuple[bytes, bytes]:
    deal.send()
    deal.deliver()
    for party in ContractParty:
        for recipient in deal.envelope(party).recipients:
            deal.sign(party, deal.principal(recipient.user_id), recipient.email)
    bodies = {}
    for delivery in deal.pending_deliveries():
        deal.delivered.add(delivery.delivery_id)
        if b"envelope-completed" in delivery.body.encode():
            envelope_id = next(p for p in ContractParty if deal.contract(p).envelope_id in delivery.body)
            bodies[envelope_id] = delivery.body.encode()
    return bodies[ContractParty.AGENCY], bodies[ContractParty.CLIENT]


def test_two_completions_racing_activate_the_engagement_exactly_once(deal: Deal) -> None:
    agency_done, client_done = _complete_both_envelopes_without_delivering(deal)
    db = deal.db
    original = db.commit
    raced = []

    def commit_after_the_other(changes: Any) -> None:
        # The agency contract's completion is about to commit, having read the engagement with only its
        # own contract done: the client's completion slips in first.
        if not raced and any(getattr(e, "party", None) is ContractParty.AGENCY for e, _ in changes.writes):
            raced.append(deal.post(client_done))
        original(changes)

    db.commit = commit_after_the_other
    try:
        assert deal.post(agency_done) == "applied"
    finally:
        db.commit = original
    assert raced == ["applied"]
    engagement = deal.engagement()
    assert engagement.status is EngagementStatus.ACTIVE and engagement.signed == frozenset(ContractParty)
    told = deal.notices("engagement_active")
    assert len(told) == len({n.user_id for n in told})


def test_concurrent_completion_events_in_threads_give_one_activation(deal: Deal) -> None:
    agency_done, client_done = _complete_both_envelopes_without_delivering(deal)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def post(body: bytes) -> None:
        barrier.wait()
        try:
            outcomes.append(deal.post(body))
        except Conflict:
            outcomes.append("busy")

    threads = [threading.Thread(target=post, args=(agency_done if n % 2 else client_done,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("applied") == 2  # one per contract; the others are duplicates of the same event ids
    assert deal.engagement().status is EngagementStatus.ACTIVE
    told = deal.notices("engagement_active")
    assert len(told) == len({n.user_id for n in told}) >= 3


# --- hostile and unlucky webhooks -------------------------------------------------------------------------


def test_a_forged_or_unsigned_webhook_is_refused_and_stores_nothing(deal: Deal) -> None:
    deal.send()
    envelope_id = deal.contract(ContractParty.AGENCY).envelope_id
    body = connect_message("envelope-completed", envelope_id, account_id="x", generated_at=deal.scene.world.clock(), event_id="E1")
    before = dict(deal.db.items)
    with pytest.raises(Unauthenticated):
        deal.post(body, key="someone-elses-key")
    with pytest.raises(Unauthenticated):
        contracts.handle_signature_webhook(deal.ports, body, {})
    with pytest.raises(Unauthenticated):  # signed, then changed on the way
        contracts.handle_signature_webhook(
            deal.ports, body.replace(b"completed", b"declined"), {"X-DocuSign-Signature-1": connect_signature(body, KEY.encode())}
        )
    assert deal.db.items.keys() == before.keys()


def test_a_webhook_claiming_completion_changes_only_what_the_provider_confirms(deal: Deal) -> None:
    deal.send()
    envelope_id = deal.contract(ContractParty.AGENCY).envelope_id
    claimed = connect_message("envelope-completed", envelope_id, account_id="x", generated_at=deal.scene.world.clock(), event_id="E2")
    before = dict(deal.db.items)
    # Nobody signed: re-fetched, the envelope is merely sent. Nothing is recorded, so that a provider whose
    # status lags its own event gets the event applied when it delivers it again.
    with pytest.raises(UpstreamUnavailable):
        deal.post(claimed)
    assert deal.db.items.keys() == before.keys() and deal.contract(ContractParty.AGENCY).status is ContractStatus.SENT
    progress = connect_message("recipient-completed", envelope_id, account_id="x", generated_at=deal.scene.world.clock(), event_id="E4")
    assert deal.post(progress) == "stale"  # not an end: recorded, nothing moves


def test_a_send_racing_a_change_of_terms_never_sends_the_old_terms(deal: Deal) -> None:
    provider = deal.ports.providers("builtin")
    original = provider.create_envelope
    changed = dataclasses.replace(deal.engagement().terms, payment_terms_days=10)

    def create_while_terms_change(request: Any) -> str:
        if not getattr(create_while_terms_change, "done", False):
            create_while_terms_change.done = True  # type: ignore[attr-defined]
            contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, changed)
        return original(request)

    provider.create_envelope = create_while_terms_change  # type: ignore[method-assign]
    deal.send()
    digest = contracts.terms_digest(deal.engagement().terms)
    for party in ContractParty:
        contract = deal.contract(party)
        assert contract.status is not ContractStatus.SENT or contract.terms_digest == digest
    # Sending again sends the drafts of the new terms; the envelope made for the old ones was voided.
    deal.send()
    assert all(deal.contract(p).status is ContractStatus.SENT and deal.contract(p).terms_digest == digest for p in ContractParty)
    assert [e.status.value for e in deal.db._all("esign")].count("voided") == 1
    assert set(deal.deliver()) <= {"stale"}  # the voided envelope's events are acknowledged, not retried


def test_a_double_submit_leaves_one_envelope_per_contract_out_and_acknowledges_the_other(deal: Deal) -> None:
    provider = deal.ports.providers("builtin")
    original = provider.create_envelope

    def create_while_sent_by_another_request(request: Any) -> str:
        if not getattr(create_while_sent_by_another_request, "done", False):
            create_while_sent_by_another_request.done = True  # type: ignore[attr-defined]
            deal.send()
        return original(request)

    provider.create_envelope = create_while_sent_by_another_request  # type: ignore[method-assign]
    deal.send()
    statuses = sorted(e.status.value for e in deal.db._all("esign"))
    assert statuses == ["sent", "sent", "voided"]
    assert all(deal.contract(p).status is ContractStatus.SENT for p in ContractParty)
    assert set(deal.deliver()) == {"stale"}


def test_changing_terms_never_voids_a_contract_signed_but_not_yet_reported(deal: Deal) -> None:
    deal.send()
    deal.deliver()
    for recipient in deal.envelope(ContractParty.CLIENT).recipients:
        deal.sign(ContractParty.CLIENT, deal.principal(recipient.user_id), recipient.email)
    changed = dataclasses.replace(deal.engagement().terms, payment_terms_days=10)
    with pytest.raises(Conflict):
        contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, changed)
    with pytest.raises(Conflict):
        deal.ports.providers("builtin").void(deal.envelope(ContractParty.CLIENT).envelope_id, "no")
    deal.deliver()
    assert deal.contract(ContractParty.CLIENT).status is ContractStatus.COMPLETED


def test_saving_unchanged_terms_voids_nothing(deal: Deal) -> None:
    deal.send()
    contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, deal.engagement().terms)
    assert {deal.contract(p).status for p in ContractParty} == {ContractStatus.SENT}


def test_a_completion_whose_webhook_was_lost_is_applied_by_the_reconciliation(deal: Deal) -> None:
    deal.send()
    deal.deliver()
    for party in ContractParty:
        for recipient in deal.envelope(party).recipients:
            deal.sign(party, deal.principal(recipient.user_id), recipient.email)
    for delivery in deal.pending_deliveries():
        deal.delivered.add(delivery.delivery_id)  # lost for good: retries exhausted
    assert contracts.reconcile_contracts(deal.ports) == 0  # heard of a moment ago: not asked yet
    deal.scene.world.clock.advance(minutes=16)
    assert contracts.reconcile_contracts(deal.ports) == 2
    assert deal.engagement().status is EngagementStatus.ACTIVE
    assert all(deal.contract(p).signed_document is not None for p in ContractParty)
    deal.scene.world.clock.advance(minutes=16)
    assert contracts.reconcile_contracts(deal.ports) == 0


def test_an_unchanged_contract_is_asked_again_only_after_a_while(deal: Deal) -> None:
    deal.send()
    deal.scene.world.clock.advance(minutes=16)
    assert contracts.reconcile_contracts(deal.ports) == 0
    assert all(deal.contract(p).checked_at == deal.scene.world.clock() for p in ContractParty)
    assert deal.db.list_open_contracts(deal.scene.world.clock()) == []


def test_replayed_duplicated_reordered_and_stale_events_change_nothing_more(deal: Deal) -> None:
    deal.send()
    deal.deliver()
    for recipient in deal.envelope(ContractParty.CLIENT).recipients:
        deal.sign(ContractParty.CLIENT, deal.principal(recipient.user_id), recipient.email)
    pending = deal.pending_deliveries()
    completed = next(d for d in pending if "envelope-completed" in d.body)
    # Out of order: the completion arrives before the first signer's event.
    assert deal.post(completed.body.encode()) == "applied"
    contract = deal.contract(ContractParty.CLIENT)
    assert contract.status is ContractStatus.COMPLETED
    versions = len(deal.storage.versions)
    for delivery in pending:
        deal.delivered.add(delivery.delivery_id)
        outcome = deal.post(delivery.body.encode())
        assert outcome in ("stale", "duplicate")
    assert deal.post(completed.body.encode()) == "duplicate"  # a replay
    assert deal.contract(ContractParty.CLIENT) == contract
    assert len(deal.storage.versions) == versions  # nothing downloaded again


def test_an_event_for_an_unknown_envelope_is_not_acknowledged_so_the_provider_retries(deal: Deal) -> None:
    body = connect_message("envelope-sent", "NOSUCHENVELOPE", account_id="x", generated_at=deal.scene.world.clock(), event_id="E3")
    with pytest.raises(NotFound):
        deal.post(body)


def test_a_malformed_but_signed_webhook_is_invalid_input(deal: Deal) -> None:
    with pytest.raises(InvalidInput):
        deal.post(b'{"event": 3}')


# --- the signer's side ------------------------------------------------------------------------------------


def test_a_signing_link_works_for_its_signer_only_and_once(deal: Deal) -> None:
    deal.send()
    envelope = deal.envelope(ContractParty.CLIENT)
    buyer_email = deal.db.get_user(deal.scene.buyer.user_id).email
    token = deal._token(envelope, buyer_email)
    view = signing.signing_request(deal.signing, deal.scene.buyer, envelope.envelope_id, token)
    assert view.document_url and view.recipient.user_id == deal.scene.buyer.user_id
    for stranger in (deal.scene.agency_admin, deal.scene.consultants[0], deal.scene.staff):
        with pytest.raises(NotFound):
            signing.signing_request(deal.signing, stranger, envelope.envelope_id, token)
    with pytest.raises(NotFound):
        signing.signing_request(deal.signing, deal.scene.buyer, envelope.envelope_id, "x" * 43)
    # The signer who no longer may sign for the client (moved to another company, or lost the role) finds nothing.
    for former in (
        dataclasses.replace(deal.scene.buyer, org_id="another-company"),
        dataclasses.replace(deal.scene.buyer, roles=frozenset()),
    ):
        with pytest.raises(NotFound):
            signing.signing_request(deal.signing, former, envelope.envelope_id, token)
    name = view.recipient.name
    with pytest.raises(InvalidInput):
        signing.sign(deal.signing, deal.scene.buyer, envelope.envelope_id, token, "Someone Else", envelope.document_sha256, SIGNER_CTX)
    with pytest.raises(Conflict):  # reviewed another document
        signing.sign(deal.signing, deal.scene.buyer, envelope.envelope_id, token, name, "0" * 64, SIGNER_CTX)
    typed = f"  {name.upper()} "  # case and surrounding spaces do not matter
    signed = signing.sign(deal.signing, deal.scene.buyer, envelope.envelope_id, token, typed, envelope.document_sha256, SIGNER_CTX)
    assert signed.recipient.evidence is not None and signed.recipient.evidence.ip == "192.0.2.10"
    with pytest.raises(Conflict):
        signing.sign(deal.signing, deal.scene.buyer, envelope.envelope_id, token, name, envelope.document_sha256, SIGNER_CTX)
    assert signing.signing_request(deal.signing, deal.scene.buyer, envelope.envelope_id, token).document_url is None


def test_a_tampered_pdf_is_detected_by_its_hash_before_signing_and_before_download(deal: Deal) -> None:
    deal.send()
    envelope = deal.envelope(ContractParty.AGENCY)
    deal.storage.tamper(envelope.document_key, envelope.document_version, b"%PDF-1.7 altered")
    with pytest.raises(Conflict):
        deal.sign(ContractParty.AGENCY, deal.scene.agency_admin, deal.db.get_user(deal.scene.agency_admin.user_id).email)
    contract = deal.contract(ContractParty.CLIENT)
    deal.storage.tamper(contract.document.key, contract.document.version_id, b"%PDF-1.7 altered")
    with pytest.raises(Conflict):
        contracts.document_link(deal.ports, deal.scene.buyer, deal.engagement_id, contract.contract_id, "document")


def test_a_declined_contract_alerts_the_agent_and_staff_and_can_be_sent_again_as_a_new_version(deal: Deal) -> None:
    agent = registration.create_staff_user(
        deal.scene.world.accounts, email="agent@customersonly.example", name="Agnes Agent", password=builders.PASSWORD
    )
    interviews.set_consultant_agent(deal.scene.ports, deal.scene.staff, deal.scene.consultants[0].user_id, agent.user_id, None)
    deal.send()
    deal.deliver()
    envelope = deal.envelope(ContractParty.CLIENT)
    token = deal._token(envelope, deal.db.get_user(deal.scene.buyer.user_id).email)
    signing.decline(deal.signing, deal.scene.buyer, envelope.envelope_id, token, "The end date is wrong.")
    deal.deliver()
    declined = deal.contract(ContractParty.CLIENT)
    assert declined.status is ContractStatus.DECLINED and declined.end_reason == "The end date is wrong."
    assert [n.user_id for n in deal.notices("contract_unsigned_agent")] == [agent.user_id]
    assert deal.scene.staff.user_id in {n.user_id for n in deal.notices("contract_unsigned")}
    terms = dataclasses.replace(deal.engagement().terms, end_date=deal.engagement().terms.end_date.replace(day=1))
    contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, terms)
    deal.send()
    again = deal.contract(ContractParty.CLIENT)
    assert again.contract_id != declined.contract_id and again.version == 2 and again.status is ContractStatus.SENT
    # The agency's contract, still out with the old terms, was voided and went out again with the new ones.
    assert deal.contract(ContractParty.AGENCY).version == 2 and deal.contract(ContractParty.AGENCY).status is ContractStatus.SENT
    assert sorted(e.status.value for e in deal.db._all("esign")) == ["declined", "sent", "sent", "voided"]


def test_staff_cancel_an_engagement_voiding_what_is_out_and_telling_everyone(deal: Deal) -> None:
    deal.send()
    deal.deliver()
    with pytest.raises(Forbidden):
        contracts.cancel_engagement(deal.ports, deal.scene.buyer, deal.engagement_id, "no")
    cancelled = contracts.cancel_engagement(deal.ports, deal.scene.staff, deal.engagement_id, "The client withdrew.")
    assert cancelled.status is EngagementStatus.CANCELLED and cancelled.cancel_reason == "The client withdrew."
    assert {deal.contract(p).status for p in ContractParty} == {ContractStatus.VOIDED}
    assert {e.status.value for e in deal.db._all("esign")} == {"voided"}
    assert set(deal.deliver()) == {"stale"}  # the voids' own webhooks change nothing more, and alert nobody
    assert deal.notices("contract_unsigned") == []
    told = {n.user_id for n in deal.notices("engagement_cancelled")}
    assert {deal.scene.buyer.user_id, deal.scene.agency_admin.user_id, deal.scene.consultants[0].user_id} <= told
    with pytest.raises(Conflict):
        contracts.send_contracts(deal.ports, deal.scene.staff, deal.engagement_id)


def test_an_unanswered_signing_request_expires_and_the_contract_with_it(deal: Deal) -> None:
    deal.send()
    deal.deliver()
    deal.scene.world.clock.advance(days=15)
    assert signing.expire_signing_requests(deal.signing) == 2
    deal.deliver()
    assert {deal.contract(p).status for p in ContractParty} == {ContractStatus.EXPIRED}
    assert signing.expire_signing_requests(deal.signing) == 0


# --- who sees what ----------------------------------------------------------------------------------------


def test_only_the_parties_and_staff_read_a_contract(deal: Deal) -> None:
    deal.send()
    agency_contract, client_contract = deal.contract(ContractParty.AGENCY), deal.contract(ContractParty.CLIENT)
    scene = deal.scene
    readers = {
        scene.staff.user_id: {agency_contract.contract_id, client_contract.contract_id},
        scene.agency_admin.user_id: {agency_contract.contract_id},
        scene.buyer.user_id: {client_contract.contract_id},
        scene.consultants[0].user_id: set(),
    }
    for who in (scene.staff, scene.agency_admin, scene.buyer, scene.consultants[0]):
        _, visible = contracts.get_engagement(deal.ports, who, deal.engagement_id)
        assert {c.contract_id for c in visible} == readers[who.user_id]
        for contract in (agency_contract, client_contract):
            if contract.contract_id in readers[who.user_id]:
                contracts.visible_contract(deal.ports, who, deal.engagement_id, contract.contract_id)
                contracts.document_link(deal.ports, who, deal.engagement_id, contract.contract_id, "document")
            else:
                with pytest.raises(NotFound):
                    contracts.visible_contract(deal.ports, who, deal.engagement_id, contract.contract_id)
                with pytest.raises(NotFound):
                    contracts.document_link(deal.ports, who, deal.engagement_id, contract.contract_id, "document")


def test_strangers_do_not_learn_an_engagement_exists() -> None:
    first = make_deal()
    other = make_scene(1)
    outsiders = [other.agency_admin, other.buyer, other.consultants[0]]
    for who in outsiders:
        with pytest.raises(NotFound):
            contracts.get_engagement(first.ports, who, first.engagement_id)
        assert contracts.list_engagements(first.ports, who, None) == []
    assert [e.engagement_id for e in contracts.list_engagements(first.ports, first.scene.buyer, None)] == [first.engagement_id]
    assert [e.engagement_id for e in contracts.list_engagements(first.ports, first.scene.consultants[0], None)] == [first.engagement_id]


def test_the_signature_keys_come_from_their_secret_when_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import boto3
    from moto import mock_aws

    from chalicelib.container import Container
    from chalicelib.settings import Settings

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETSMANAGER"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-north-1")
        value = {"builtin_esign_keys": "new-key,old-key", "docusign_connect_keys": "connect-key", "docusign_private_key": ""}
        arn = secrets.create_secret(Name="customersonly-test/esign", SecretString=json.dumps(value))["ARN"]
        container = Container(Settings.from_environment({"ESIGN_SECRET_ARN": arn, "BUILTIN_ESIGN_KEYS": "from-the-environment"}))
        body = b'{"event":"envelope-sent"}'
        for key, accepted in (("new-key", True), ("old-key", True), ("connect-key", True), ("from-the-environment", False)):
            headers = {"X-DocuSign-Signature-1": connect_signature(body, key.encode())}
            assert container.signature_webhooks.verify(body, headers) is accepted, key
