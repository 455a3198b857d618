"""In-memory fakes of the ports, for unit tests of the services.

``InMemoryDatabase`` implements the unit of work and every repository over plain dicts with the same
preconditions as the DynamoDB adapter (insert = absent, transition = expected status), all or nothing.
"""

from __future__ import annotations

import copy
import io
import threading
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain.accounts import ConsentDocument, ConsentDocumentStatus, Invitation, Organisation, OrgKind, OrgStatus, User
from chalicelib.domain.assignments import Assignment, AssignmentStatus, MatchRun
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.consent import ConsentChanged, ConsentEntry, withdrawal_entry_id
from chalicelib.domain.contracts import Contract, ContractStatus, Engagement, EngagementStatus, ProcessedEvent, SupersededEnvelope
from chalicelib.domain.engagement_changes import ChangeStatus, EngagementChange
from chalicelib.domain.erasure import Erasure
from chalicelib.domain.evaluations import (
    Escalation,
    EscalationStatus,
    EvaluationReminder,
    EvaluationRound,
    EvaluationSchedule,
    RoundStatus,
)
from chalicelib.domain.exports import ExportArchive
from chalicelib.domain.files import FileStatus, UploadedFile
from chalicelib.domain.identity import Role
from chalicelib.domain.invoicing import BillingCustomerRecord, Invoice, InvoiceStatus, MilestoneClaim, PayoutAccountRecord
from chalicelib.domain.notifications import Notification
from chalicelib.domain.profiles import Profile
from chalicelib.domain.proposals import AgentAssignment, Candidacy, CandidacyStatus, Disclosure, Interview, Proposal
from chalicelib.domain.resume import ResumeItem, ResumePart
from chalicelib.domain.reviews import ConsultantRating, Review, ReviewStatus
from chalicelib.domain.signing import EnvelopeState, SigningEnvelope, WebhookDelivery
from chalicelib.domain.timesheets import Period, PeriodStatus, TimeEntry
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, Unauthenticated
from chalicelib.services.accounts import AccountPorts
from chalicelib.services.assignments import AssignmentPorts
from chalicelib.services.consents import ConsentPorts
from chalicelib.services.erasure import ErasurePorts
from chalicelib.services.notifications import NotificationPorts
from chalicelib.services.ports import (
    ArchiveMember,
    Attachment,
    Changes,
    Entity,
    FetchedObject,
    IdentityUser,
    OutboxMessage,
    PersonItem,
    PresignedPost,
    StoredObject,
    Tokens,
    UniqueClaim,
)
from chalicelib.services.profiles import ProfilePorts


def _key(entity: Entity) -> tuple[str, ...]:
    if isinstance(entity, User):
        return ("user", entity.user_id)
    if isinstance(entity, Organisation):
        return ("org", entity.org_id)
    if isinstance(entity, Invitation):
        return ("invitation", entity.code_hash)
    if isinstance(entity, ConsentDocument):
        return ("consent_document", entity.document_id)
    if isinstance(entity, UniqueClaim):
        return ("unique", entity.namespace, entity.value)
    if isinstance(entity, OutboxMessage):
        return ("outbox", entity.message_id)
    if isinstance(entity, Profile):
        return ("profile", entity.user_id)
    if isinstance(entity, ResumeItem):
        return ("resume", entity.user_id, entity.part.value, entity.item_id)
    if isinstance(entity, UploadedFile):
        return ("file", entity.user_id, entity.file_id)
    if isinstance(entity, ConsentEntry):
        return ("consent", entity.subject_id, entity.entry_id)
    if isinstance(entity, AuditEntry):
        return ("audit", entity.subject_id, entity.entry_id)
    if isinstance(entity, Erasure):
        return ("erasure", entity.user_id)
    if isinstance(entity, ExportArchive):
        return ("archive", entity.user_id, entity.archive_id)
    if isinstance(entity, Assignment):
        return ("assignment", entity.assignment_id)
    if isinstance(entity, ConsentChanged):
        return ("consent_changed", entity.user_id, entity.entry_id)
    if isinstance(entity, MatchRun):
        return ("match_run", entity.assignment_id, entity.run_id)
    if isinstance(entity, Candidacy):
        return ("candidacy", entity.candidacy_id)
    if isinstance(entity, Proposal):
        return ("proposal", entity.proposal_id)
    if isinstance(entity, Disclosure):
        return ("disclosure", entity.consultant_id, entity.disclosure_id)
    if isinstance(entity, Interview):
        return ("interview", entity.interview_id)
    if isinstance(entity, AgentAssignment):
        return ("agent", entity.consultant_id)
    if isinstance(entity, Notification):
        return ("notification", entity.user_id, entity.notification_id)
    if isinstance(entity, Engagement):
        return ("engagement", entity.engagement_id)
    if isinstance(entity, Contract):
        return ("contract", entity.engagement_id, entity.contract_id)
    if isinstance(entity, EngagementChange):
        return ("engagement_change", entity.engagement_id, entity.change_id)
    if isinstance(entity, EvaluationSchedule):
        return ("evaluation_schedule", entity.engagement_id)
    if isinstance(entity, EvaluationRound):
        return ("evaluation", entity.evaluation_id)
    if isinstance(entity, EvaluationReminder):
        return ("evaluation_reminder", entity.evaluation_id, entity.kind.value, entity.user_id)
    if isinstance(entity, Escalation):
        return ("escalation", entity.escalation_id)
    if isinstance(entity, ProcessedEvent):
        return ("event", entity.provider, entity.event_id)
    if isinstance(entity, SupersededEnvelope):
        return ("superseded", entity.envelope_id)
    if isinstance(entity, SigningEnvelope):
        return ("esign", entity.envelope_id)
    if isinstance(entity, WebhookDelivery):
        return ("delivery", entity.delivery_id)
    if isinstance(entity, TimeEntry):
        return ("time", entity.engagement_id, entity.day.isoformat())
    if isinstance(entity, Period):
        return ("period", entity.engagement_id, entity.key)
    if isinstance(entity, Invoice):
        return ("invoice", entity.invoice_id)
    if isinstance(entity, PayoutAccountRecord):
        return ("payout", entity.agency_id)
    if isinstance(entity, BillingCustomerRecord):
        return ("customer", entity.client_id)
    if isinstance(entity, MilestoneClaim):
        return ("claim", entity.claim_id)
    if isinstance(entity, Review):
        return ("review", entity.review_id)
    if isinstance(entity, ConsultantRating):
        return ("rating", entity.consultant_id)
    raise TypeError(type(entity))


def _placement(entity: Any) -> tuple[Any, ...]:
    """Where the DynamoDB adapter files an entity in its indexes: exactly what its ``was`` condition
    compares, taken from the adapter itself so that the fake cannot drift from it."""
    from chalicelib.adapters.dynamo.repositories import _keys

    keys = _keys(entity)
    return (keys.gsi1pk, keys.gsi1sk, keys.gsi2pk, keys.gsi2sk, keys.gsi3pk, keys.gsi3sk, keys.gsi4pk, keys.gsi4sk)


def _newest_first(assignment: Assignment) -> tuple[datetime, str]:
    return (assignment.created_at, assignment.assignment_id)


class InMemoryDatabase:
    def __init__(self) -> None:
        self.request_tokens: set[str] = set()
        self.items: dict[tuple[str, ...], Any] = {}
        self.sent: set[str] = set()
        self.fail_next_commit: Exception | None = None
        self.commits = 0
        self._lock = threading.Lock()

    # --- UnitOfWork ---
    def commit(self, changes: Changes) -> None:
        from chalicelib.services.ports import TRANSACTION_LIMIT

        # As DynamoDB, which refuses a transaction of more writes (callers split with Changes.batches).
        assert len(changes.writes) <= TRANSACTION_LIMIT, f"a transaction of {len(changes.writes)} writes"
        with self._lock:
            if self.fail_next_commit is not None:
                exc, self.fail_next_commit = self.fail_next_commit, None
                raise exc
            if changes.request_token is not None and changes.request_token in self.request_tokens:
                return  # DynamoDB answers a repeated ClientRequestToken as the success it was
            keys = [(_key(e), x.not_withdrawn) for e, x in changes.writes]
            # As DynamoDB: one operation per item in a transaction (a ledger check names the withdrawal's key).
            if len({k for k, check in keys if not check}) != sum(1 for _, check in keys if not check):
                raise ValueError("a transaction names the same item twice")
            reasons: list[str | None] = []
            for entity, expect in changes.writes:
                if expect.not_withdrawn:
                    assert isinstance(entity, ConsentEntry)
                    withdrawn = ("consent", entity.subject_id, withdrawal_entry_id(entity.entry_id)) in self.items
                    reasons.append("ConditionalCheckFailed" if withdrawn else None)
                    continue
                stored = self.items.get(_key(entity))
                if isinstance(entity, (ConsentEntry, AuditEntry)) and (expect.delete or not expect.absent):
                    raise ValueError("append-only tables accept inserts only")
                if expect.absent:
                    ok = stored is None
                elif expect.status is None:
                    ok = stored is not None
                else:
                    ok = stored is not None and getattr(stored, "status", None) is not None and stored.status.value == expect.status
                if ok and expect.was is not None:
                    ok = _placement(stored) == _placement(expect.was)
                if ok and expect.revision is not None:
                    ok = (getattr(stored, "revision", None) or 0) == expect.revision
                reasons.append(None if ok else "ConditionalCheckFailed")
            if any(reasons):
                raise ConcurrencyConflict("a precondition failed", reasons)
            for entity, expect in changes.writes:
                if expect.not_withdrawn:
                    continue
                if expect.delete:
                    del self.items[_key(entity)]
                else:
                    self.items[_key(entity)] = copy.deepcopy(entity)
            if changes.request_token is not None:
                self.request_tokens.add(changes.request_token)
            self.commits += 1

    def _all(self, kind: str) -> list[Any]:
        with self._lock:  # a snapshot: a commit in another thread must not change the dict under the iteration
            found = [v for k, v in self.items.items() if k[0] == kind]
        return [copy.deepcopy(v) for v in found]

    # --- AccountRepository ---
    def get_user(self, user_id: str) -> User | None:
        return copy.deepcopy(self.items.get(("user", user_id)))

    def get_organisation(self, org_id: str) -> Organisation | None:
        return copy.deepcopy(self.items.get(("org", org_id)))

    def claim_owner(self, namespace: str, value: str) -> str | None:
        claim = self.items.get(("unique", namespace, value))
        return claim.owner_id if claim else None

    def list_members(self, org_id: str) -> list[User]:
        return [u for u in self._all("user") if u.org_id == org_id]

    def list_organisations(self, kind: OrgKind, status: OrgStatus) -> list[Organisation]:
        return [o for o in self._all("org") if o.kind is kind and o.status is status]

    def get_invitation(self, code_hash: str) -> Invitation | None:
        return copy.deepcopy(self.items.get(("invitation", code_hash)))

    def list_invitations(self, agency_id: str) -> list[Invitation]:
        return [i for i in self._all("invitation") if i.agency_id == agency_id]

    def get_consent_document(self, document_id: str) -> ConsentDocument | None:
        return copy.deepcopy(self.items.get(("consent_document", document_id)))

    def list_consent_documents(self, agency_id: str) -> list[ConsentDocument]:
        return [d for d in self._all("consent_document") if d.agency_id == agency_id]

    def list_consultants(self) -> list[User]:
        return [u for u in self._all("user") if Role.CONSULTANT in u.roles]

    def list_staff(self) -> list[User]:
        return [u for u in self._all("user") if Role.STAFF in u.roles and u.org_id is None]

    def list_consent_documents_by_status(self, status: ConsentDocumentStatus) -> list[ConsentDocument]:
        return [d for d in self._all("consent_document") if d.status is status]

    # --- ProfileRepository ---
    def get_profile(self, user_id: str) -> Profile | None:
        return copy.deepcopy(self.items.get(("profile", user_id)))

    def list_resume_items(self, user_id: str) -> list[ResumeItem]:
        return [i for i in self._all("resume") if i.user_id == user_id]

    def get_resume_item(self, user_id: str, part: ResumePart, item_id: str) -> ResumeItem | None:
        return copy.deepcopy(self.items.get(("resume", user_id, part.value, item_id)))

    def list_files(self, user_id: str) -> list[UploadedFile]:
        return [f for f in self._all("file") if f.user_id == user_id]

    def get_file(self, user_id: str, file_id: str) -> UploadedFile | None:
        return copy.deepcopy(self.items.get(("file", user_id, file_id)))

    def get_archive(self, user_id: str, archive_id: str) -> ExportArchive | None:
        return copy.deepcopy(self.items.get(("archive", user_id, archive_id)))

    def list_archives(self, user_id: str) -> list[ExportArchive]:
        return [a for a in self._all("archive") if a.user_id == user_id]

    def list_disclosures(self, user_id: str) -> list[Disclosure]:
        return sorted((d for d in self._all("disclosure") if d.consultant_id == user_id), key=lambda d: (d.at, d.disclosure_id))

    # --- ProposalRepository ---
    def get_candidacy(self, candidacy_id: str) -> Candidacy | None:
        return copy.deepcopy(self.items.get(("candidacy", candidacy_id)))

    def find_candidacy(self, assignment_id: str, consultant_id: str) -> Candidacy | None:
        return next((c for c in self._all("candidacy") if c.assignment_id == assignment_id and c.consultant_id == consultant_id), None)

    def _candidacies(self, keep: Any) -> list[Candidacy]:
        return sorted((c for c in self._all("candidacy") if keep(c)), key=lambda c: (c.created_at, c.candidacy_id))

    def list_assignment_candidacies(self, assignment_id: str) -> list[Candidacy]:
        return self._candidacies(lambda c: c.assignment_id == assignment_id)

    def list_consultant_candidacies(self, consultant_id: str) -> list[Candidacy]:
        return self._candidacies(lambda c: c.consultant_id == consultant_id)

    def list_agency_candidacies(self, agency_id: str) -> list[Candidacy]:
        return self._candidacies(lambda c: c.agency_id == agency_id)

    def list_candidacies_by_status(self, status: CandidacyStatus, due_before: datetime | None = None) -> list[Candidacy]:
        def keep(c: Candidacy) -> bool:
            due = c.expires_at if c.status is CandidacyStatus.CONSENT_REQUESTED and c.expires_at else c.updated_at
            return c.status is status and (due_before is None or due < due_before)

        return self._candidacies(keep)

    def get_proposal(self, proposal_id: str) -> Proposal | None:
        return copy.deepcopy(self.items.get(("proposal", proposal_id)))

    def list_client_proposals(self, client_id: str) -> list[Proposal]:
        found = [p for p in self._all("proposal") if p.client_id == client_id]
        return sorted(found, key=lambda p: (p.sent_at, p.proposal_id), reverse=True)

    def get_interview(self, interview_id: str) -> Interview | None:
        return copy.deepcopy(self.items.get(("interview", interview_id)))

    def list_candidacy_interviews(self, candidacy_id: str) -> list[Interview]:
        found = [i for i in self._all("interview") if i.candidacy_id == candidacy_id]
        return sorted(found, key=lambda i: (i.requested_at, i.interview_id))

    def get_agent_assignment(self, consultant_id: str) -> AgentAssignment | None:
        return copy.deepcopy(self.items.get(("agent", consultant_id)))

    def list_agent_consultants(self, agent_id: str) -> list[AgentAssignment]:
        return [a for a in self._all("agent") if a.agent_id == agent_id]

    # --- EngagementRepository ---
    def get_engagement(self, engagement_id: str) -> Engagement | None:
        return copy.deepcopy(self.items.get(("engagement", engagement_id)))

    def list_contracts(self, engagement_id: str) -> list[Contract]:
        return sorted((c for c in self._all("contract") if c.engagement_id == engagement_id), key=lambda c: (c.party.value, c.version))

    def get_contract(self, engagement_id: str, contract_id: str) -> Contract | None:
        return copy.deepcopy(self.items.get(("contract", engagement_id, contract_id)))

    def find_contract_by_envelope(self, envelope_id: str) -> Contract | None:
        return next((c for c in self._all("contract") if c.envelope_id == envelope_id), None)

    def _engagements(self, matches: Any) -> list[Engagement]:
        found = [e for e in self._all("engagement") if matches(e)]
        return sorted(found, key=lambda e: (e.created_at, e.engagement_id), reverse=True)

    def list_client_engagements(self, client_id: str) -> list[Engagement]:
        return self._engagements(lambda e: e.client_id == client_id)

    def list_agency_engagements(self, agency_id: str) -> list[Engagement]:
        return self._engagements(lambda e: e.agency_id == agency_id)

    def list_consultant_engagements(self, consultant_id: str) -> list[Engagement]:
        return self._engagements(lambda e: e.consultant_id == consultant_id)

    def list_engagements_by_status(self, status: EngagementStatus) -> list[Engagement]:
        return self._engagements(lambda e: e.status is status)

    def event_processed(self, provider: str, event_id: str) -> bool:
        return ("event", provider, event_id) in self.items

    def envelope_superseded(self, envelope_id: str) -> bool:
        return ("superseded", envelope_id) in self.items

    def list_open_contracts(self, checked_before: datetime) -> list[Contract]:
        out = (ContractStatus.SENT, ContractStatus.PARTLY_SIGNED)
        return [c for c in self._all("contract") if c.status in out and c.last_heard_at < checked_before]

    def get_change(self, engagement_id: str, change_id: str) -> EngagementChange | None:
        return copy.deepcopy(self.items.get(("engagement_change", engagement_id, change_id)))

    def list_changes(self, engagement_id: str) -> list[EngagementChange]:
        return sorted((c for c in self._all("engagement_change") if c.engagement_id == engagement_id), key=lambda c: c.change_id)

    def list_signing_changes(self) -> list[EngagementChange]:
        return [c for c in self._all("engagement_change") if c.status is ChangeStatus.SIGNING]

    # --- EvaluationRepository ---
    def get_schedule(self, engagement_id: str) -> EvaluationSchedule | None:
        return copy.deepcopy(self.items.get(("evaluation_schedule", engagement_id)))

    def get_round(self, evaluation_id: str) -> EvaluationRound | None:
        return copy.deepcopy(self.items.get(("evaluation", evaluation_id)))

    def _rounds(self, keep: Any) -> list[EvaluationRound]:
        return sorted((r for r in self._all("evaluation") if keep(r)), key=lambda r: (r.due_date, r.evaluation_id))

    def list_engagement_rounds(self, engagement_id: str) -> list[EvaluationRound]:
        return self._rounds(lambda r: r.engagement_id == engagement_id)

    def list_open_rounds(self, due_before: date) -> list[EvaluationRound]:
        return self._rounds(lambda r: r.status is RoundStatus.OPEN and r.due_date < due_before)

    def list_agent_rounds(self, agent_id: str) -> list[EvaluationRound]:
        return self._rounds(lambda r: r.status is RoundStatus.OPEN and r.agent_id == agent_id)

    def list_consultant_rounds(self, consultant_id: str) -> list[EvaluationRound]:
        return self._rounds(lambda r: r.consultant_id == consultant_id)

    def reminder_sent(self, evaluation_id: str, kind: str, user_id: str) -> bool:
        return ("evaluation_reminder", evaluation_id, kind, user_id) in self.items

    def get_escalation(self, escalation_id: str) -> Escalation | None:
        return copy.deepcopy(self.items.get(("escalation", escalation_id)))

    def _escalations(self, keep: Any) -> list[Escalation]:
        return sorted((e for e in self._all("escalation") if keep(e)), key=lambda e: (e.opened_at, e.escalation_id))

    def list_escalations(self, status: EscalationStatus) -> list[Escalation]:
        return list(reversed(self._escalations(lambda e: e.status is status)))

    def list_agent_escalations(self, agent_id: str) -> list[Escalation]:
        return self._escalations(lambda e: e.status is EscalationStatus.OPEN and e.agent_id == agent_id)

    def list_consultant_escalations(self, consultant_id: str) -> list[Escalation]:
        return self._escalations(lambda e: e.consultant_id == consultant_id)

    def list_evaluation_records(self, consultant_id: str) -> list[EvaluationRound | EvaluationReminder | Escalation]:
        rounds = self.list_consultant_rounds(consultant_id)
        ids = {r.evaluation_id for r in rounds}
        reminders = [r for r in self._all("evaluation_reminder") if r.evaluation_id in ids]
        return [*rounds, *reminders, *self.list_consultant_escalations(consultant_id)]

    def list_engagements_ending_before(self, day: date) -> list[Engagement]:
        return self._engagements(lambda e: e.status is EngagementStatus.ACTIVE and e.terms.end_date < day)

    # --- ReviewRepository ---
    def get_review(self, review_id: str) -> Review | None:
        return copy.deepcopy(self.items.get(("review", review_id)))

    def list_consultant_reviews(self, consultant_id: str) -> list[Review]:
        found = [r for r in self._all("review") if r.consultant_id == consultant_id]
        return sorted(found, key=lambda r: (r.created_at, r.review_id))

    def list_reviews_due(self, at: datetime) -> list[Review]:
        return [r for r in self._all("review") if r.status is ReviewStatus.PENDING and r.reveal_deadline <= at]

    def get_rating(self, consultant_id: str) -> ConsultantRating | None:
        return copy.deepcopy(self.items.get(("rating", consultant_id)))

    def get_ratings(self, consultant_ids: Sequence[str]) -> dict[str, ConsultantRating]:
        found = (self.get_rating(consultant_id) for consultant_id in consultant_ids)
        return {rating.consultant_id: rating for rating in found if rating is not None}

    # --- TimesheetRepository ---
    def get_entry(self, engagement_id: str, day: date) -> TimeEntry | None:
        return copy.deepcopy(self.items.get(("time", engagement_id, day.isoformat())))

    def list_entries(self, engagement_id: str, first: date, last: date) -> list[TimeEntry]:
        found = [e for e in self._all("time") if e.engagement_id == engagement_id and first <= e.day <= last]
        return sorted(found, key=lambda e: e.day)

    def get_period(self, engagement_id: str, key: str) -> Period | None:
        return copy.deepcopy(self.items.get(("period", engagement_id, key)))

    def list_periods(self, engagement_id: str) -> list[Period]:
        return sorted((p for p in self._all("period") if p.engagement_id == engagement_id), key=lambda p: p.key)

    def list_agency_periods(self, agency_id: str, status: PeriodStatus) -> list[Period]:
        return [p for p in self._all("period") if p.agency_id == agency_id and p.status is status]

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        return copy.deepcopy(self.items.get(("invoice", invoice_id)))

    def list_engagement_invoices(self, engagement_id: str) -> list[Invoice]:
        return sorted((i for i in self._all("invoice") if i.engagement_id == engagement_id), key=lambda i: i.created_at)

    def get_claim(self, claim_id: str) -> MilestoneClaim | None:
        return copy.deepcopy(self.items.get(("claim", claim_id)))

    def list_engagement_claims(self, engagement_id: str) -> list[MilestoneClaim]:
        return sorted((c for c in self._all("claim") if c.engagement_id == engagement_id), key=lambda c: c.created_at)

    # --- PaymentsRepository ---
    def get_payout_account(self, agency_id: str) -> PayoutAccountRecord | None:
        return copy.deepcopy(self.items.get(("payout", agency_id)))

    def find_payout_account(self, account_id: str) -> PayoutAccountRecord | None:
        return next((a for a in self._all("payout") if a.account_id == account_id), None)

    def get_customer(self, client_id: str) -> BillingCustomerRecord | None:
        return copy.deepcopy(self.items.get(("customer", client_id)))

    def find_invoice(self, provider_invoice_id: str) -> Invoice | None:
        return next((i for i in self._all("invoice") if i.provider_invoice_id == provider_invoice_id), None)

    def list_invoices_by_status(self, status: InvoiceStatus) -> list[Invoice]:
        return [i for i in self._all("invoice") if i.status is status and not i.settling]  # as gsi2 files them

    def list_settling_invoices(self) -> list[Invoice]:
        return [i for i in self._all("invoice") if i.settling]

    def list_agency_invoices(self, agency_id: str, status: InvoiceStatus) -> list[Invoice]:
        return [i for i in self._all("invoice") if i.agency_id == agency_id and i.status is status]

    # --- SigningRepository ---
    def get_envelope(self, envelope_id: str) -> SigningEnvelope | None:
        return copy.deepcopy(self.items.get(("esign", envelope_id)))

    def list_open_envelopes(self, expiring_before: datetime) -> list[SigningEnvelope]:
        return [e for e in self._all("esign") if e.status is EnvelopeState.SENT and e.expires_at < expiring_before]

    def list_pending_files(self, created_before: datetime) -> list[UploadedFile]:
        return [f for f in self._all("file") if f.status is FileStatus.PENDING and f.created_at < created_before]

    # --- AssignmentRepository ---
    def get_assignment(self, assignment_id: str) -> Assignment | None:
        return copy.deepcopy(self.items.get(("assignment", assignment_id)))

    def list_client_assignments(self, client_id: str, status: AssignmentStatus | None) -> list[Assignment]:
        found = [a for a in self._all("assignment") if a.client_id == client_id and (status is None or a.status is status)]
        return sorted(found, key=_newest_first, reverse=True)

    def list_match_runs(self, assignment_id: str) -> list[MatchRun]:
        runs = [r for r in self._all("match_run") if r.assignment_id == assignment_id]
        return sorted(runs, key=lambda r: (r.at, r.run_id), reverse=True)

    def list_assignments_by_status(self, status: AssignmentStatus) -> list[Assignment]:
        return sorted((a for a in self._all("assignment") if a.status is status), key=_newest_first, reverse=True)

    # --- NotificationRepository ---
    def list_notifications(self, user_id: str) -> list[Notification]:
        mine = [n for n in self._all("notification") if n.user_id == user_id]
        return sorted(mine, key=lambda n: (n.created_at, n.notification_id), reverse=True)

    def get_notification(self, user_id: str, notification_id: str) -> Notification | None:
        return copy.deepcopy(self.items.get(("notification", user_id, notification_id)))

    # --- ErasureRepository ---
    def get_erasure(self, user_id: str) -> Erasure | None:
        return copy.deepcopy(self.items.get(("erasure", user_id)))

    def list_pending_erasures(self) -> list[Erasure]:
        return self._all("erasure")

    def list_person_items(self, user_id: str) -> list[PersonItem]:
        kinds = {
            "notification": Notification,
            "user": User,
            "profile": Profile,
            "resume": ResumeItem,
            "file": UploadedFile,
            "archive": ExportArchive,
            "consent_changed": ConsentChanged,
            "disclosure": Disclosure,
            "agent": AgentAssignment,
            "rating": ConsultantRating,
        }
        return [copy.deepcopy(v) for k, v in self.items.items() if k[0] in kinds and k[1] == user_id]

    def list_invitations_for_email(self, email: str) -> list[Invitation]:
        return [i for i in self._all("invitation") if i.email == email]

    def list_consultants_inactive_since(self, moment: datetime) -> list[User]:
        return sorted(
            (u for u in self._all("user") if Role.CONSULTANT in u.roles and u.active_since < moment), key=lambda u: u.active_since
        )

    # --- AppendOnlyEraser ---
    def replace(self, original: ConsentEntry | AuditEntry, copy_: ConsentEntry | AuditEntry) -> None:
        with self._lock:
            if _key(copy_) in self.items or _key(original) not in self.items:
                raise ConcurrencyConflict("the entry was replaced meanwhile", ["ConditionalCheckFailed"])
            del self.items[_key(original)]
            self.items[_key(copy_)] = copy.deepcopy(copy_)

    # --- outbox ---
    def outbox(self) -> list[OutboxMessage]:
        return self._all("outbox")


class InMemoryConsentLedger:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db

    def get(self, subject_id: str, entry_id: str) -> ConsentEntry | None:
        return copy.deepcopy(self._db.items.get(("consent", subject_id, entry_id)))

    def list_for_subject(self, subject_id: str) -> list[ConsentEntry]:
        return [e for e in self._db._all("consent") if e.subject_id == subject_id]


class InMemoryAuditLog:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db

    def list_for_subject(self, subject_id: str) -> list[AuditEntry]:
        return sorted((e for e in self._db._all("audit") if e.subject_id == subject_id), key=lambda e: e.at)


@dataclass
class FakeIdentity:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: Any = None
    fail_create: Exception | None = None

    def create_user(self, email: str, password: str, roles: Sequence[Role]) -> str:
        if self.fail_create is not None:
            raise self.fail_create
        if email in self.users:
            raise Conflict("This e-mail is already registered.")
        if len(password) < 12:
            raise InvalidInput("weak", issues=[FieldIssue("password", "does not meet the password policy", "weak_password")])
        sub = str(uuid.uuid4())
        created = self.now() if self.now else datetime.now(UTC)
        self.users[email] = {"sub": sub, "password": password, "roles": set(roles), "created": created, "verified": False}
        return sub

    def delete_user(self, email: str) -> None:
        self.users.pop(email, None)

    def find_user(self, email: str) -> IdentityUser | None:
        user = self.users.get(email)
        return IdentityUser(user["sub"], user["created"]) if user else None

    def mark_email_verified(self, email: str) -> None:
        self.users[email]["verified"] = True

    def remove_from_group(self, email: str, role: Role) -> None:
        self.users[email]["roles"].discard(role)

    def refresh(self, refresh_token: str) -> Tokens:
        user = next((u for u in self.users.values() if f"refresh:{u['sub']}" == refresh_token), None)
        if user is None:
            raise Unauthenticated("Sign in again.")
        return Tokens(f"id:{user['sub']}", f"access:{user['sub']}", refresh_token, 3600)

    def login(self, email: str, password: str) -> Tokens:
        user = self.users.get(email)
        if user is None or user["password"] != password:
            raise Unauthenticated("Wrong e-mail or password.")
        return Tokens(f"id:{user['sub']}", f"access:{user['sub']}", f"refresh:{user['sub']}", 3600)


@dataclass
class FakeStorage:
    """A versioned bucket: every put adds a version; reads and deletes may name one."""

    versions: dict[str, list[tuple[str | None, bytes]]] = field(default_factory=dict)
    versioned: bool = True  # False: one object per key, overwritten in place, with no version ids

    def put(self, key: str, content: bytes, content_type: str | None = None) -> str | None:
        if not self.versioned:
            self.versions[key] = [(None, content)]
            return None
        version = uuid.uuid4().hex
        self.versions.setdefault(key, []).append((version, content))
        return version

    def content(self, key: str, version_id: str | None = None) -> bytes | None:
        for version, content in reversed(self.versions.get(key, [])):
            if version_id is None or version == version_id:
                return content
        return None

    def presigned_post(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> PresignedPost:
        return PresignedPost(
            "https://uploads.example/", {"key": key, "Content-Type": content_type}, datetime.now(UTC) + timedelta(seconds=expires_in)
        )

    def presigned_get(self, key: str, version_id: str | None, *, expires_in: int) -> str:
        return f"https://downloads.example/{key}?versionId={version_id}"

    def fetch(self, key: str, version_id: str | None, max_bytes: int) -> FetchedObject | None:
        for version, content in reversed(self.versions.get(key, [])):
            if version_id is None or version == version_id:
                return FetchedObject(version, len(content), content[: max_bytes + 1])
        return None

    def delete(self, key: str, version_id: str | None = None) -> None:
        kept = [(v, c) for v, c in self.versions.get(key, []) if version_id is not None and v != version_id]
        self.versions[key] = kept

    def write_archive(self, key: str, members: Iterable[ArchiveMember]) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for member in members:
                content = member.content if member.content is not None else self.content(member.source_key or "", member.source_version)
                if content is not None:  # a stored object deleted meanwhile is left out
                    archive.writestr(member.name, content)
        self.put(key, buffer.getvalue())

    def erase(self, prefix: str) -> int:
        keys = [k for k in self.versions if k.startswith(prefix)]
        return sum(len(self.versions.pop(k)) for k in keys)


@dataclass
class FakeContractStorage:
    """The contracts bucket: versioned, and a version put with a retention date cannot be deleted or changed
    (object lock); ``tamper`` stands for what the lock and the recorded hashes guard against."""

    versions: dict[tuple[str, str], bytes] = field(default_factory=dict)
    locked_until: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def put(self, key: str, content: bytes, *, content_type: str, retain_until: datetime | None = None) -> StoredObject:
        version = uuid.uuid4().hex
        self.versions[(key, version)] = content
        if retain_until is not None:
            self.locked_until[(key, version)] = retain_until
        return StoredObject(version)

    def fetch(self, key: str, version_id: str | None, max_bytes: int) -> FetchedObject | None:
        content = self.versions.get((key, version_id or ""))
        return FetchedObject(version_id, len(content), content[: max_bytes + 1]) if content is not None else None

    def presigned_get(self, key: str, version_id: str | None, *, expires_in: int) -> str:
        return f"https://contracts.example/{key}?versionId={version_id}"

    def tamper(self, key: str, version_id: str | None, content: bytes) -> None:
        self.versions[(key, version_id or "")] = content

    def keys(self, prefix: str = "") -> list[str]:
        return sorted({k for k, _ in self.versions if k.startswith(prefix)})


@dataclass
class FakeEmail:
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    attachments: list[tuple[Attachment, ...]] = field(default_factory=list)  # per sent mail, in order

    def send(self, to: str, subject: str, text: str, attachments: Sequence[Attachment] = ()) -> None:
        self.sent.append((to, subject, text))
        self.attachments.append(tuple(attachments))


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@dataclass
class World:
    """Everything a unit test of the services needs, wired like the container does."""

    db: InMemoryDatabase
    identity: FakeIdentity
    storage: FakeStorage
    email: FakeEmail
    clock: FakeClock
    accounts: AccountPorts
    consents: ConsentPorts
    profiles: ProfilePorts
    erasure: ErasurePorts
    assignments: AssignmentPorts
    notifications: NotificationPorts


def make_world() -> World:
    db = InMemoryDatabase()
    clock = FakeClock()
    identity = FakeIdentity(now=clock)
    accounts = AccountPorts(accounts=db, uow=db, identity=identity, now=clock)
    ledger = InMemoryConsentLedger(db)
    consents = ConsentPorts(accounts=accounts, ledger=ledger, audit=InMemoryAuditLog(db))
    profiles = ProfilePorts(accounts=accounts, profiles=db, ledger=ledger)
    storage = FakeStorage()
    erasure = ErasurePorts(accounts=accounts, erasures=db, ledger=ledger, audit_log=consents.audit, append_only=db, storage=storage)
    notifications = NotificationPorts(notifications=db, uow=db, now=clock)
    return World(
        db, identity, storage, FakeEmail(), clock, accounts, consents, profiles, erasure, AssignmentPorts(accounts, db), notifications
    )


class InMemoryMatchIndex:
    """The MatchIndex port as a dict: what is indexed, for tests of what gets indexed (the engines have
    their own tests)."""

    def __init__(self) -> None:
        self.candidates: dict[str, Any] = {}
        self.vectors: dict[str, Any] = {}  # the vector each candidate was last indexed with (None: none)
        self.queries: list[Any] = []

    def upsert(self, candidate: Any, vector: Any = None) -> None:
        self.candidates[candidate.user_id] = candidate
        self.vectors[candidate.user_id] = vector

    def delete(self, user_id: str) -> None:
        self.candidates.pop(user_id, None)
        self.vectors.pop(user_id, None)

    def rebuild(self, entries: Any) -> None:
        self.candidates = {candidate.user_id: candidate for candidate, _vector in entries}

    def search(self, query: Any, limit: int) -> list[Any]:
        """Candidates passing the filters and sharing a skill key with the query, by how many they share (no
        text scoring)."""
        from chalicelib.matching.filters import filter_values, passes
        from chalicelib.matching.index import Hit

        self.queries.append(query)
        wanted = {w.key for w in (*query.required, *query.nice)}
        passing = [c for c in self.candidates.values() if passes(filter_values(c), query.filters)]
        shared = [(len(wanted & {s.key for s in c.skills}), c) for c in passing]
        return [Hit(c, float(n)) for n, c in sorted(shared, key=lambda p: -p[0]) if n][:limit]


class HashingEmbedder:
    """The Embedder port without a model: the character trigrams of each word, hashed into a fixed number
    of signed dimensions (the hashing trick). Texts sharing word parts point the same way, as a model's
    vectors do for related wording, so "kubernetesplattformar" (a Swedish compound) lands near "Kubernetes
    platform" where a word index sees nothing in common. Deterministic: crc32, not the salted hash()."""

    model_id = "test-hashing-trigrams"

    def __init__(self, dimension: int = 512) -> None:
        self.dimension = dimension
        self.texts: list[str] = []  # everything embedded, in order
        self.failing = False  # True: every call fails as an unreachable model would

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        import re
        import zlib

        from chalicelib.matching.embeddings import EmbeddingUnavailable

        if self.failing:
            raise EmbeddingUnavailable("the test model is down")
        vectors = []
        for text in texts:
            assert text.strip(), "blank texts are not embedded"
            self.texts.append(text)
            vector = [0.0] * self.dimension
            for word in re.findall(r"\w+", text.casefold()):
                padded = f"#{word}#"
                for start in range(len(padded) - 2):
                    code = zlib.crc32(padded[start : start + 3].encode())
                    vector[code % self.dimension] += 1.0 if code & 0x80000000 else -1.0
            vectors.append(tuple(vector))
        return vectors
