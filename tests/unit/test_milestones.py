"""Fixed fees: the agency invoices a milestone (never more than remains of it), uploads its PDF, staff approve
or reject, and an approval makes the client's invoice once."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from chalicelib.domain.contracts import ContractParty, EngagementStatus, Milestone, Pricing
from chalicelib.domain.invoicing import ClaimStatus
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.services import contracts, milestones
from chalicelib.services.milestones import MilestonePorts
from chalicelib.services.timesheets import TimesheetPorts
from tests.fakes import FakeStorage
from tests.unit.test_contracts import Deal, make_deal

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def fixed() -> tuple[Deal, MilestonePorts, FakeStorage]:
    deal = make_deal()
    terms = dataclasses.replace(
        deal.engagement().terms,
        pricing=Pricing.FIXED,
        rate_minor=None,
        milestones=(Milestone("1", "Design", 5_000_000, date(2026, 12, 15)), Milestone("2", "Delivery", 7_000_000, date(2027, 2, 1))),
        start_date=date(2026, 11, 2),
        end_date=date(2027, 3, 31),
    )
    contracts.update_terms(deal.ports, deal.scene.staff, deal.engagement_id, terms)
    deal.send()
    deal.deliver()
    for party in ContractParty:
        for recipient in deal.envelope(party).recipients:
            deal.sign(party, deal.principal(recipient.user_id), recipient.email)
    deal.deliver()
    assert deal.engagement().status is EngagementStatus.ACTIVE
    storage = FakeStorage()
    return deal, MilestonePorts(TimesheetPorts(deal.ports, deal.scene.world.db), storage), storage


def uploaded(ports: MilestonePorts, storage: FakeStorage, claim: object, content: bytes = PDF) -> object:
    key = milestones.claim_key(claim)  # type: ignore[arg-type]
    version = storage.put(key, content)
    return milestones.record_claim_document(ports, key, version)


def test_a_milestone_is_claimed_up_to_what_remains_and_an_approval_makes_one_invoice() -> None:
    deal, ports, storage = fixed()
    admin = deal.scene.agency_admin
    claim, form = milestones.claim_milestone(ports, admin, deal.engagement_id, "1", 3_000_000, "AG-2026-101")
    assert claim.status is ClaimStatus.AWAITING_DOCUMENT and form.fields["key"] == milestones.claim_key(claim)
    with pytest.raises(InvalidInput):  # 2 000 000 remain of the first milestone
        milestones.claim_milestone(ports, admin, deal.engagement_id, "1", 2_000_001, "AG-2026-102")
    with pytest.raises(InvalidInput):
        milestones.claim_milestone(ports, admin, deal.engagement_id, "9", 1, "AG-2026-103")
    submitted = uploaded(ports, storage, claim)
    assert submitted.status is ClaimStatus.SUBMITTED and submitted.document_sha256  # type: ignore[attr-defined]
    assert deal.notices("claim_submitted")
    with pytest.raises(Forbidden):
        milestones.approve_claim(ports, admin, claim.claim_id)
    approved, invoice = milestones.approve_claim(ports, deal.scene.staff, claim.claim_id)
    assert approved.status is ClaimStatus.APPROVED and invoice.breakdown.net_minor == 3_000_000
    assert invoice.breakdown.commission_minor == 450_000 and invoice.source == f"milestone:1:{claim.claim_id}"
    again, same = milestones.approve_claim(ports, deal.scene.staff, claim.claim_id)
    assert same.invoice_id == invoice.invoice_id and again.status is ClaimStatus.APPROVED
    assert len(deal.db._all("invoice")) == 1


def test_a_refused_file_is_deleted_and_said_a_rejection_frees_the_amount() -> None:
    deal, ports, storage = fixed()
    admin = deal.scene.agency_admin
    claim, _ = milestones.claim_milestone(ports, admin, deal.engagement_id, "2", 7_000_000, "AG-7")
    refused = uploaded(ports, storage, claim, b"MZ\x90\x00 not a pdf")
    assert refused.status is ClaimStatus.AWAITING_DOCUMENT and refused.document_problem  # type: ignore[attr-defined]
    assert storage.content(milestones.claim_key(claim)) is None
    with pytest.raises(InvalidInput):
        milestones.claim_milestone(ports, admin, deal.engagement_id, "2", 1, "AG-8")  # all of it is held
    rejected = milestones.reject_claim(ports, deal.scene.staff, claim.claim_id, "Wrong amount")
    assert rejected.status is ClaimStatus.REJECTED and deal.notices("claim_rejected")
    again, _ = milestones.claim_milestone(ports, admin, deal.engagement_id, "2", 7_000_000, "AG-9")
    assert again.status is ClaimStatus.AWAITING_DOCUMENT
    with pytest.raises(Conflict):
        milestones.approve_claim(ports, deal.scene.staff, claim.claim_id)


def test_two_claims_at_once_cannot_both_take_the_remainder() -> None:
    deal, ports, _ = fixed()
    db, original = deal.db, deal.db.commit
    raced: list[str] = []

    def other_claim_first(changes: object) -> None:
        if not raced:
            raced.append("racing")
            milestones.claim_milestone(ports, deal.scene.agency_admin, deal.engagement_id, "1", 4_000_000, "AG-A")
        original(changes)

    db.commit = other_claim_first
    try:
        with pytest.raises(InvalidInput):  # read 5 000 000 remaining; on retry 1 000 000 remain
            milestones.claim_milestone(ports, deal.scene.agency_admin, deal.engagement_id, "1", 4_000_000, "AG-B")
    finally:
        db.commit = original
    assert deal.engagement().claimed == {"1": 4_000_000}


def test_claims_are_for_the_agency_and_staff_on_active_fixed_fees() -> None:
    deal, ports, _ = fixed()
    for outsider in (deal.scene.buyer, deal.scene.consultants[0]):
        with pytest.raises(NotFound):
            milestones.claim_milestone(ports, outsider, deal.engagement_id, "1", 1, "X")
        with pytest.raises(NotFound):
            milestones.list_claims(ports, outsider, deal.engagement_id)
    hourly = make_deal()
    with pytest.raises(Conflict):
        milestones.claim_milestone(
            MilestonePorts(TimesheetPorts(hourly.ports, hourly.scene.world.db), FakeStorage()),
            hourly.scene.agency_admin,
            hourly.engagement_id,
            "1",
            1,
            "X",
        )
