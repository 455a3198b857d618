"""The tenants of the authorization matrix and the API fuzzing: actors, and objects of theirs in many states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from tests import builders
from tests.conftest import LocalStack, unique_email
from tests.functional.conftest import Actor, Api, Pump, invited_consultant, new_agency, new_client, new_independent, new_staff

PDF = b"%PDF-1.7\n%%EOF\n"


@dataclass
class Tenants:
    actors: dict[str, Actor | None]
    ids: dict[str, str]


def uploaded_document(api: Api, local_aws: LocalStack, admin: Actor) -> str:
    from chalicelib.services import consent_documents

    document = api.post(
        f"/agencies/{admin.org_id}/consent-documents", {"consultant_name": "R", "consultant_email": unique_email()}, token=admin.token
    ).body["document"]
    container = local_aws.container
    key = f"consent-documents/{admin.org_id}/{document['document_id']}.pdf"
    put = boto3.client("s3").put_object(Bucket=container.settings.documents_bucket, Key=key, Body=PDF)
    consent_documents.record_upload(container.accounts, container.storage, container.consent_document_policy, key, put["VersionId"])
    return str(document["document_id"])


def notification_for(local_aws: LocalStack, user_id: str) -> str:
    from chalicelib.domain.ids import utcnow
    from chalicelib.services.notifications import notify
    from chalicelib.services.ports import Changes

    container: Any = local_aws.container
    user = container.account_repository.get_user(user_id)
    params = {"recipient_name": user.name, "agent_name": "Anna Admin", "consultant_name": user.name}
    container.uow.commit(notify(Changes(), user, "consultant_agent_assigned", params, utcnow(), email=False))
    return str(container.notification_repository.list_notifications(user_id)[0].notification_id)


def build_tenants(api: Api, pump: Pump, local_aws: LocalStack) -> Tenants:
    """Two agencies, a client company, staff and an independent consultant; consultant_a's objects in every
    state the operations start from (``ids``). Each module that changes them builds its own."""
    admin_a, admin_b = new_agency(api, pump), new_agency(api, pump)
    actors: dict[str, Actor | None] = {
        "anonymous": None,
        "staff": new_staff(api, local_aws),
        "admin_a": admin_a,
        "consultant_a": invited_consultant(api, pump, admin_a),
        "admin_b": admin_b,
        "client_c": new_client(api, pump),
        "independent": new_independent(api, pump),
    }
    consultant, client_c, staff = actors["consultant_a"], actors["client_c"], actors["staff"]
    assert consultant is not None and client_c is not None and staff is not None
    assert api.post(f"/client-companies/{client_c.org_id}/approve", {}, token=staff.token).status == 200

    def assignment(*moves: str) -> str:
        posted = api.post(f"/client-companies/{client_c.org_id}/assignments", builders.assignment_form(), token=client_c.token)
        assert posted.status == 201, posted.body
        for move in moves:
            assert api.post(f"/assignments/{posted.body['assignment_id']}/{move}", token=client_c.token).status == 200
        return str(posted.body["assignment_id"])

    entry = api.get("/me/consents", token=consultant.token).body["consents"][0]["consent"]["entry_id"]
    notification = notification_for(local_aws, consultant.user_id)
    # Rows that change state get objects of their own, so no row depends on another having run.
    ids = {
        "A": admin_a.org_id,
        "B": admin_b.org_id,
        "C_approve": new_client(api, pump).org_id,
        "C_reject": new_client(api, pump).org_id,
        "doc": uploaded_document(api, local_aws, admin_a),
        "doc_verify": uploaded_document(api, local_aws, admin_a),
        "doc_reject": uploaded_document(api, local_aws, admin_a),
        "subject": consultant.user_id,
        "consultant": consultant.user_id,
        "missing": "01JZZZZZZZZZZZZZZZZZZZZZZZ",
        "missing_file": "01JZZZZZZZZZZZZZZZZZZZZZZZ",
        "missing_archive": "01JZZZZZZZZZZZZZZZZZZZZZZZ",
        # A file of someone who is none of the actors: every actor must get 404 for it.
        "others_file": api.post(
            "/me/files",
            {"purpose": "cv", "content_type": "application/pdf", "filename": "cv.pdf"},
            token=invited_consultant(api, pump, admin_b).token,
        ).body["file"]["file_id"],
        "entry": entry,
        "notification": notification,
        "victim": invited_consultant(api, pump, admin_b).user_id,  # erased by staff's row
        "C": client_c.org_id,
        "assignment": assignment(),
        "a_publish": assignment(),
        "a_fill": assignment("publish"),
        "a_close": assignment("publish"),
        "a_cancel": assignment(),
        **_proposal_objects(local_aws, pump, staff, client_c, admin_a, consultant, assignment),
    }
    return Tenants(actors, {k: v or "" for k, v in ids.items()})


def _proposal_objects(
    local_aws: LocalStack, pump: Pump, staff: Actor, client: Actor, admin: Actor, consultant: Actor, assignment: Any
) -> dict[str, str]:
    """consultant_a put forward for client_c's assignments, one candidacy per row that changes one, each
    brought to the state its row starts from (through the services, on the same tables)."""
    from dataclasses import replace
    from datetime import UTC, date, datetime, timedelta

    from chalicelib.domain.contracts import ContractParty, Milestone, Pricing
    from chalicelib.domain.evaluations import CriterionScore, Scores
    from chalicelib.domain.identity import Principal, RequestContext, Role
    from chalicelib.domain.money import HourlyRate
    from chalicelib.domain.proposals import Slot
    from chalicelib.schemas.profiles import ProfileIn
    from chalicelib.services import (
        candidacies,
        contracts,
        evaluations,
        interviews,
        matching,
        milestones,
        profiles,
        proposals,
        signing,
        timesheets,
    )

    container = local_aws.container  # type: ignore[attr-defined]
    ports = container.candidacies
    as_staff = Principal(staff.user_id, frozenset({Role.STAFF}))
    as_admin = Principal(admin.user_id, frozenset({Role.AGENCY_ADMIN}), admin.org_id)
    as_consultant = Principal(consultant.user_id, frozenset({Role.CONSULTANT}), admin.org_id)
    as_client = Principal(client.user_id, frozenset({Role.CLIENT}), client.org_id)
    rate = HourlyRate(100_000, "SEK")
    from tests.unit.test_profiles import FULL

    # Passes the hard constraints of builders.assignment_form (languages, place, rate, availability).
    form = {**FULL, "expected_hourly_rate": {"amount_minor": rate.amount_minor, "currency": "SEK"}}
    profiles.save_my_profile(container.profiles, as_consultant, ProfileIn.model_validate(form))
    matching.reindex_consultant(container.indexing, consultant.user_id)

    def matched() -> tuple[str, str]:
        assignment_id = assignment("publish")
        run = matching.run_match(container.matching, as_staff, assignment_id, limit=50, offset=0, min_required_coverage=0.0).run
        return assignment_id, run.run_id

    def shortlisted() -> tuple[str, str, str]:
        assignment_id, run_id = matched()
        return assignment_id, run_id, candidacies.shortlist(ports, as_staff, assignment_id, run_id, consultant.user_id, rate).candidacy_id

    def asked() -> str:
        candidacy_id = shortlisted()[2]
        candidacies.request_consents(ports, as_staff, candidacy_id, None)
        return candidacy_id

    def consented() -> tuple[str, str]:
        candidacy_id = asked()
        for who in (as_consultant, as_admin):
            candidacies.answer_request(ports, who, candidacy_id, consent=True, rate_seen=rate, reason=None, ctx=RequestContext())
        candidacy = ports.proposals.get_candidacy(candidacy_id)
        return candidacy.assignment_id, candidacy_id

    def sent() -> tuple[str, str]:
        assignment_id, candidacy_id = consented()
        return proposals.send_proposal(ports, as_staff, assignment_id, [candidacy_id], None).proposal.proposal_id, candidacy_id

    start = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    slot = Slot(start, start + timedelta(hours=1))

    def interview(scheduled: bool) -> str:
        proposal_id, candidacy_id = sent()
        requested = interviews.request_interview(ports, as_client, proposal_id, candidacy_id, [slot], None)
        if scheduled:
            interviews.schedule_interview(ports, as_consultant, requested.interview_id, slot.starts_at)
        return requested.interview_id

    def engagement(sent_out: bool) -> dict[str, str]:
        """An accepted candidacy's engagement; with ``sent_out``, its contracts sent with the built-in
        signature, and the client's signing link for its contract."""
        proposal_id, candidacy_id = sent()
        engagement_id = proposals.decide(ports, as_client, proposal_id, candidacy_id, accept=True, reason=None).engagement_id
        assert engagement_id is not None
        if not sent_out:
            return {"engagement": engagement_id}
        sent_engagement = contracts.send_contracts(container.contracts, as_staff, engagement_id)
        envelope_id = container.contracts.engagements.get_contract(
            engagement_id, sent_engagement.contracts[ContractParty.CLIENT]
        ).envelope_id
        [notice] = [n for n in container.notification_repository.list_notifications(client.user_id) if n.object_id == envelope_id]
        envelope = container.signing.envelopes.get_envelope(envelope_id)
        return {
            "engagement": engagement_id,
            "agency_contract": sent_engagement.contracts[ContractParty.AGENCY],
            "client_contract": sent_engagement.contracts[ContractParty.CLIENT],
            "envelope": envelope_id,
            "token": notice.text.split("token=")[1].split()[0],
            "sha": envelope.document_sha256,
        }

    def sign_all(engagement_id: str, contract_id: str) -> None:
        """Every signer of the contract signs through the link the built-in signature e-mailed them."""
        envelope_id = container.contracts.engagements.get_contract(engagement_id, contract_id).envelope_id
        for who in (as_client, as_admin, as_staff):
            notices = [n for n in container.notification_repository.list_notifications(who.user_id) if n.object_id == envelope_id]
            if notices:
                envelope = container.signing.envelopes.get_envelope(envelope_id)
                token = notices[0].text.split("token=")[1].split()[0]
                name = next(r.name for r in envelope.recipients if r.user_id == who.user_id)
                signing.sign(container.signing, who, envelope_id, token, name, envelope.document_sha256, RequestContext())

    def activated(**terms_changes: Any) -> str:
        """An engagement made active: both contracts signed through the built-in signature's links and
        webhooks."""
        proposal_id, candidacy_id = sent()
        engagement_id = proposals.decide(ports, as_client, proposal_id, candidacy_id, accept=True, reason=None).engagement_id
        assert engagement_id is not None
        current = container.contracts.engagements.get_engagement(engagement_id).terms
        terms = replace(current, **{"start_date": date(2026, 1, 5), "end_date": date(2027, 12, 31), **terms_changes})
        contracts.update_terms(container.contracts, as_staff, engagement_id, terms)
        sent_engagement = contracts.send_contracts(container.contracts, as_staff, engagement_id)
        for contract_id in sent_engagement.contracts.values():
            sign_all(engagement_id, contract_id)
        pump.drain()  # the webhooks, through the API
        assert container.contracts.engagements.get_engagement(engagement_id).status.value == "active"
        return engagement_id

    def active_with_time() -> dict[str, str]:
        """An active engagement with time in past months: one period open, two submitted, one confirmed."""
        engagement_id = activated()
        ts = container.timesheets
        for day in ("2026-06-01", "2026-07-01", "2026-08-03", "2026-09-01", "2026-10-01"):
            timesheets.report_time(
                ts, as_consultant, engagement_id, date.fromisoformat(day), minutes=60, day_share=None, description="Work"
            )
        for key in ("2026-07", "2026-08", "2026-09"):
            timesheets.submit_period(ts, as_consultant, engagement_id, key)
        _, invoice = timesheets.confirm_period(ts, as_admin, engagement_id, "2026-09")
        return {"engagement": engagement_id, "invoice": invoice.invoice_id}

    sl_assignment, sl_run = matched()
    interviews.set_consultant_agent(ports, as_staff, consultant.user_id, staff.user_id, None)
    worked = active_with_time()

    def fixed_fee_with_claims() -> dict[str, str]:
        """An active fixed-fee engagement with two submitted milestone invoices."""
        milestone = Milestone("1", "Delivery", 5_000_000, date(2027, 6, 1))
        engagement_id = activated(pricing=Pricing.FIXED, rate_minor=None, milestones=(milestone,))
        claims = {}
        for name in ("approve", "reject"):
            claim, _ = milestones.claim_milestone(container.milestones, as_admin, engagement_id, "1", 1_000_000, f"AG-{name}")
            put = boto3.client("s3").put_object(Bucket=container.settings.documents_bucket, Key=milestones.claim_key(claim), Body=PDF)
            milestones.record_claim_document(container.milestones, milestones.claim_key(claim), put["VersionId"])
            claims[name] = claim.claim_id
        return {"engagement": engagement_id, **claims}

    fixed_fee = fixed_fee_with_claims()

    def evaluated(rated_low: bool) -> dict[str, str]:
        """An active engagement that started two weeks ago, with its first evaluation round opened; with
        ``rated_low``, rated low by the client, which escalated it to the agent (staff)."""
        today = datetime.now(UTC).date()
        engagement_id = activated(start_date=today - timedelta(days=14))
        ports = container.evaluations
        engagement = container.contracts.engagements.get_engagement(engagement_id)
        evaluation = evaluations.open_due_round(ports, engagement, today)
        assert evaluation is not None and evaluation.due_date == today
        if not rated_low:
            return {"engagement": engagement_id, "evaluation": evaluation.evaluation_id}
        low = CriterionScore(1, "Late every week")
        evaluations.rate_delivery(ports, as_client, evaluation.evaluation_id, Scores(low, low, low, low), None)
        [escalation] = [e for e in ports.evaluations.list_consultant_escalations(consultant.user_id) if e.engagement_id == engagement_id]
        return {"escalation": escalation.escalation_id}

    to_evaluate = evaluated(rated_low=False)

    def changed(engagement_id: str, *agreeing: Principal, sign_agency_addendum: bool = False) -> str:
        """A later end date proposed by the client for the engagement, agreed by ``agreeing``; with
        ``sign_agency_addendum``, the agency's addendum signed too."""
        from chalicelib.domain.engagement_changes import ProposedTerms
        from chalicelib.services import engagement_changes

        ch = container.engagement_changes
        change = engagement_changes.propose_change(ch, as_client, engagement_id, ProposedTerms(date(2028, 3, 31)), "More work")
        for who in agreeing:
            change = engagement_changes.answer_change(ch, who, engagement_id, change.change_id, agree=True)
        if sign_agency_addendum:
            sign_all(engagement_id, change.addenda[ContractParty.AGENCY])
            pump.drain()
            assert ch.contracts.engagements.get_change(engagement_id, change.change_id).signed == {ContractParty.AGENCY}
        return change.change_id

    to_change = to_evaluate["engagement"]
    change_signed = activated()

    def ended(*reviewers: Principal) -> tuple[str, list[str]]:
        """An engagement whose last day was yesterday, ended as the jobs end it, reviewed by ``reviewers`` in turn."""
        from chalicelib.services import engagement_end, reviews

        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        engagement_id = activated(start_date=yesterday - timedelta(days=30), end_date=yesterday)
        assert engagement_end.end_engagement(container.contracts, engagement_id) is not None
        written = [reviews.create_review(container.reviews, who, engagement_id, 4, "Good").review.review_id for who in reviewers]
        return engagement_id, written

    reviewed, (client_review, consultant_review) = ended(as_client, as_consultant)
    blind, (blind_review,) = ended(as_client)
    read, to_sign, to_decline_signing = engagement(True), engagement(True), engagement(True)
    shown_proposal, shown = sent()
    send_assignment, to_send = consented()
    accept_proposal, to_accept = sent()
    decline_proposal, to_decline = sent()
    ask_proposal, to_ask = sent()
    return {
        "sl_assignment": sl_assignment,
        "sl_run": sl_run,
        "sl_consultant": consultant.user_id,
        "cand": shown,
        "cand_suggested": shortlisted()[2],
        "cand_requested": asked(),
        "cand_decline": asked(),
        "cand_rate": asked(),
        "cand_withdraw": consented()[1],
        "send_assignment": send_assignment,
        "to_send": to_send,
        "proposal": shown_proposal,
        "accept_proposal": accept_proposal,
        "to_accept": to_accept,
        "decline_proposal": decline_proposal,
        "to_decline": to_decline,
        "ask_proposal": ask_proposal,
        "to_ask": to_ask,
        "interview": interview(scheduled=False),
        "i_schedule": interview(scheduled=False),
        "i_reschedule": interview(scheduled=True),
        "i_cancel": interview(scheduled=True),
        "i_outcome": interview(scheduled=True),
        "slot_start": slot.starts_at.isoformat(),
        "later_start": (slot.starts_at + timedelta(days=1)).isoformat(),
        "later_end": (slot.ends_at + timedelta(days=1)).isoformat(),
        "staff_id": staff.user_id,
        "eng": read["engagement"],
        "eng_ac": read["agency_contract"],
        "eng_cc": read["client_contract"],
        "env": read["envelope"],
        "tok": read["token"],
        "env_sign": to_sign["envelope"],
        "tok_sign": to_sign["token"],
        "sha_sign": to_sign["sha"],
        "env_decline": to_decline_signing["envelope"],
        "tok_decline": to_decline_signing["token"],
        "eng_terms": engagement(False)["engagement"],
        "eng_send": engagement(False)["engagement"],
        "eng_cancel": engagement(True)["engagement"],
        "eng_t": worked["engagement"],
        "inv": worked["invoice"],
        "eng_fixed": fixed_fee["engagement"],
        "claim_ok": fixed_fee["approve"],
        "claim_no": fixed_fee["reject"],
        "eng_e": to_evaluate["engagement"],
        "eng_ch": to_change,
        "ch": changed(to_change),
        "ch_decline": changed(fixed_fee["engagement"], as_consultant),
        "eng_ch_signed": change_signed,
        "ch_signed": changed(change_signed, as_admin, as_consultant, sign_agency_addendum=True),
        "ev": to_evaluate["evaluation"],
        "esc": evaluated(rated_low=True)["escalation"],
        "eng_r_new": ended()[0],
        "eng_r": reviewed,
        "rev_c": client_review,
        "rev_k": consultant_review,
        "eng_r_blind": blind,
        "rev_blind": blind_review,
    }
