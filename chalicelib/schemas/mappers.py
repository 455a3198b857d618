"""Domain objects → response models (one place, so every route shows an entity the same way)."""

from __future__ import annotations

from dataclasses import asdict

from chalicelib.domain.accounts import ConsentDocument, Invitation, Organisation, User
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.consent import ConsentEntry, ConsentState
from chalicelib.domain.contracts import Engagement, EngagementTerms
from chalicelib.domain.money import RateBreakdown, commission_of
from chalicelib.domain.profiles import Profile
from chalicelib.domain.proposals import AgentAssignment, Candidacy, Interview, Slot
from chalicelib.schemas.accounts import (
    AddressOut,
    ConsentDocumentResponse,
    InvitationResponse,
    OrganisationResponse,
    UserResponse,
)
from chalicelib.schemas.consents import AuditEntryResponse, ConsentEntryResponse, ConsentResponse, HourlyRateOut
from chalicelib.schemas.contracts import EngagementRecordOut, MilestoneOut, RateChangeOut, TermsOut
from chalicelib.schemas.profiles import AvailabilityOut, LanguageOut, ProfileResponse
from chalicelib.schemas.proposals import (
    AgentResponse,
    CandidacyListItem,
    CandidacyListResponse,
    InterviewResponse,
    RateBreakdownOut,
    SlotOut,
)


def profile_out(profile: Profile, *, stored: bool = True) -> ProfileResponse:
    return ProfileResponse(
        user_id=profile.user_id,
        agency_id=profile.agency_id,
        name=profile.name,
        title=profile.title,
        summary=profile.summary,
        city=profile.city,
        country=profile.country,
        remote_preference=profile.remote_preference,
        languages=[LanguageOut(code=lang.code, level=lang.level) for lang in profile.languages],
        availability=AvailabilityOut(**asdict(profile.availability)) if profile.availability else None,
        expected_hourly_rate=HourlyRateOut(**asdict(profile.expected_hourly_rate)) if profile.expected_hourly_rate else None,
        stored=stored,
        updated_at=profile.updated_at if stored else None,
    )


def user_out(user: User) -> UserResponse:
    return UserResponse(
        user_id=user.user_id,
        email=user.email,
        name=user.name,
        roles=sorted(user.roles),
        org_id=user.org_id,
        status=user.status.value,
        language=user.language,
        created_at=user.created_at,
    )


def organisation_out(org: Organisation) -> OrganisationResponse:
    address = AddressOut(**asdict(org.address)) if org.address else None
    return OrganisationResponse(
        org_id=org.org_id,
        kind=org.kind,
        name=org.name,
        country=org.country,
        status=org.status,
        organisation_number=org.organisation_number,
        vat_number=org.vat_number,
        address=address,
        billing_email=org.billing_email,
        independent=org.independent,
        created_at=org.created_at,
    )


def invitation_out(invitation: Invitation) -> InvitationResponse:
    return InvitationResponse(
        invitation_id=invitation.invitation_id,
        agency_id=invitation.agency_id,
        email=invitation.email,
        status=invitation.status,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        consent_document_id=invitation.consent_document_id,
    )


def consent_document_out(document: ConsentDocument) -> ConsentDocumentResponse:
    return ConsentDocumentResponse(
        document_id=document.document_id,
        agency_id=document.agency_id,
        consultant_name=document.consultant_name,
        consultant_email=document.consultant_email,
        status=document.status,
        created_at=document.created_at,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        problem=document.problem,
        reviewed_at=document.reviewed_at,
        review_reason=document.review_reason,
        consultant_user_id=document.consultant_user_id,
    )


def consent_entry_out(entry: ConsentEntry) -> ConsentEntryResponse:
    data = asdict(entry)
    data["hourly_rate"] = HourlyRateOut(**data["hourly_rate"]) if entry.hourly_rate else None
    return ConsentEntryResponse(**{k: v for k, v in data.items() if k not in ("ip", "user_agent")})


def consent_out(state: ConsentState) -> ConsentResponse:
    return ConsentResponse(
        consent=consent_entry_out(state.given),
        in_force=state.in_force,
        withdrawal=consent_entry_out(state.withdrawal) if state.withdrawal else None,
    )


def audit_out(entry: AuditEntry) -> AuditEntryResponse:
    return AuditEntryResponse(
        entry_id=entry.entry_id,
        subject_id=entry.subject_id,
        at=entry.at,
        actor_id=entry.actor_id,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        details=entry.details,
    )


def _money(amount_minor: int, currency: str) -> HourlyRateOut:
    return HourlyRateOut(amount_minor=amount_minor, currency=currency)


def breakdown_out(b: RateBreakdown) -> RateBreakdownOut:
    currency = b.client_rate.currency
    return RateBreakdownOut(
        client_rate=_money(b.client_rate.amount_minor, currency),
        commission_bps=b.commission_bps,
        commission=_money(b.commission_minor, currency),
        agency_net=_money(b.agency_net_minor, currency),
    )


def _slot(s: Slot) -> SlotOut:
    return SlotOut(starts_at=s.starts_at, ends_at=s.ends_at)


def interview_out(i: Interview, *, with_notes: bool) -> InterviewResponse:
    """An interview; the agent's notes only for staff and for the person's own export."""
    return InterviewResponse(
        interview_id=i.interview_id,
        candidacy_id=i.candidacy_id,
        assignment_id=i.assignment_id,
        status=i.status,
        proposed_slots=[_slot(s) for s in i.proposed_slots],
        slot=_slot(i.slot) if i.slot else None,
        location=i.location,
        agent_id=i.agent_id,
        sequence=i.sequence,
        requested_at=i.requested_at,
        cancel_reason=i.cancel_reason,
        outcome=i.outcome,
        notes=i.notes if with_notes else None,
    )


def candidacy_item_out(c: Candidacy) -> CandidacyListItem:
    return CandidacyListItem(
        candidacy_id=c.candidacy_id,
        assignment_id=c.assignment_id,
        consultant_id=c.consultant_id,
        agency_id=c.agency_id,
        status=c.status,
        rate=breakdown_out(c.breakdown),
        expires_at=c.expires_at,
        updated_at=c.updated_at,
    )


def candidacy_list_out(items: list[Candidacy]) -> CandidacyListResponse:
    return CandidacyListResponse(items=[candidacy_item_out(c) for c in items])


def agent_out(a: AgentAssignment) -> AgentResponse:
    return AgentResponse(
        consultant_id=a.consultant_id, agent_id=a.agent_id, assigned_at=a.assigned_at, assigned_by=a.assigned_by, note=a.note
    )


def terms_out(terms: EngagementTerms) -> TermsOut:
    return TermsOut(
        pricing=terms.pricing,
        currency=terms.currency,
        rate_minor=terms.rate_minor,
        milestones=[
            MilestoneOut(milestone_id=m.milestone_id, title=m.title, amount_minor=m.amount_minor, due_date=m.due_date)
            for m in terms.milestones
        ],
        price_minor=terms.price_minor,
        commission_bps=terms.commission_bps,
        commission_minor=terms.commission_minor,
        agency_net_minor=terms.agency_net_minor,
        start_date=terms.start_date,
        end_date=terms.end_date,
        share_of_full_time=terms.share_of_full_time,
        scope=terms.scope,
        payment_terms_days=terms.payment_terms_days,
        reporting_period=terms.reporting_period,
        rate_changes=[
            RateChangeOut(
                effective_from=c.effective_from,
                rate_minor=c.rate_minor,
                commission_minor=commission_of(c.rate_minor, terms.commission_bps),
                agency_net_minor=c.rate_minor - commission_of(c.rate_minor, terms.commission_bps),
            )
            for c in terms.rate_changes
        ],
    )


def engagement_record_out(e: Engagement) -> EngagementRecordOut:
    return EngagementRecordOut(
        engagement_id=e.engagement_id,
        assignment_id=e.assignment_id,
        client_id=e.client_id,
        agency_id=e.agency_id,
        status=e.status,
        created_at=e.created_at,
        activated_at=e.activated_at,
        ended_at=e.ended_at,
        terms=terms_out(e.terms),
    )
