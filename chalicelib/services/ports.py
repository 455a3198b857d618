"""Ports: what services need from the outside world. Adapters implement them; tests fake them.

Writes go through a unit of work: a service collects every change of one use case in ``Changes``
and commits them atomically (one DynamoDB transaction), each with its precondition. That is how
"nothing half-created" and "transitions only from the expected state" are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from chalicelib.domain.accounts import ConsentDocument, ConsentDocumentStatus, Invitation, Organisation, OrgKind, OrgStatus, User
from chalicelib.domain.assignments import Assignment, AssignmentStatus, MatchRun
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.consent import ConsentChanged, ConsentEntry
from chalicelib.domain.contracts import Contract, ContractStatus, Engagement, EngagementStatus, ProcessedEvent, SupersededEnvelope
from chalicelib.domain.engagement_changes import EngagementChange
from chalicelib.domain.erasure import Erasure
from chalicelib.domain.evaluations import Escalation, EscalationStatus, EvaluationReminder, EvaluationRound, EvaluationSchedule
from chalicelib.domain.exports import ExportArchive
from chalicelib.domain.files import UploadedFile
from chalicelib.domain.identity import Role
from chalicelib.domain.invoicing import BillingCustomerRecord, Invoice, InvoiceStatus, MilestoneClaim, PayoutAccountRecord
from chalicelib.domain.notifications import Notification
from chalicelib.domain.profiles import Profile
from chalicelib.domain.proposals import AgentAssignment, Candidacy, CandidacyStatus, Disclosure, Interview, Proposal
from chalicelib.domain.resume import ResumeItem, ResumePart
from chalicelib.domain.reviews import ConsultantRating, Review
from chalicelib.domain.signing import SigningEnvelope, WebhookDelivery
from chalicelib.domain.timesheets import Period, PeriodStatus, TimeEntry


@dataclass(frozen=True)
class UniqueClaim:
    """Reserves a value that must be unique platform-wide (an e-mail, an organisation number)."""

    namespace: str  # "email" | "organisation_number"
    value: str
    owner_id: str


@dataclass(frozen=True)
class Attachment:
    """A file sent with an e-mail. Text only (an .ics invitation, say): the outbox stores it in the item."""

    filename: str
    content_type: str  # may carry parameters: "text/calendar; method=REQUEST"
    content: str


@dataclass(frozen=True)
class OutboxMessage:
    """An e-mail committed with the change that causes it; the stream handler sends it."""

    message_id: str
    to: str
    subject: str
    text: str
    created_at: datetime
    attachments: tuple[Attachment, ...] = ()


Entity = (
    User
    | Organisation
    | Invitation
    | ConsentDocument
    | ConsentEntry
    | AuditEntry
    | UniqueClaim
    | OutboxMessage
    | Profile
    | ResumeItem
    | UploadedFile
    | Erasure
    | ExportArchive
    | Assignment
    | ConsentChanged
    | MatchRun
    | Candidacy
    | Proposal
    | Disclosure
    | Interview
    | AgentAssignment
    | Notification
    | Engagement
    | Contract
    | EngagementChange
    | EvaluationSchedule
    | EvaluationRound
    | EvaluationReminder
    | Escalation
    | ProcessedEvent
    | SupersededEnvelope
    | SigningEnvelope
    | WebhookDelivery
    | TimeEntry
    | Period
    | Invoice
    | PayoutAccountRecord
    | BillingCustomerRecord
    | MilestoneClaim
    | Review
    | ConsultantRating
)
# What may be deleted: never the append-only ledger and audit log, nor the outbox (its TTL removes it).
Deletable = (
    User
    | Organisation
    | UniqueClaim
    | Invitation
    | ConsentDocument
    | Profile
    | ResumeItem
    | UploadedFile
    | Erasure
    | ExportArchive
    | ConsentChanged
    | Candidacy
    | Interview
    | Disclosure
    | AgentAssignment
    | Notification
    | TimeEntry
    | EvaluationRound
    | EvaluationReminder
    | Escalation
    | Review
    | ConsultantRating
)


@dataclass(frozen=True)
class Expect:
    """Precondition on the stored item: absent (an insert), or present, in a given status if one is named.
    ``delete`` removes the item instead of storing it."""

    absent: bool = False
    status: str | None = None
    delete: bool = False
    # The entity as it was read: its index keys (an organisation membership, say) must be unchanged too.
    was: Entity | None = None
    # Optimistic lock: the stored copy must still be at this revision (entities with a ``revision`` field).
    revision: int | None = None
    # A condition only, nothing written: the consent entry's withdrawal must not be stored (see
    # ``Changes.require_in_force``).
    not_withdrawn: bool = False


TRANSACTION_LIMIT = 100  # DynamoDB's most writes in one transaction


@dataclass
class Changes:
    writes: list[tuple[Entity, Expect]] = field(default_factory=list)
    # Makes a retried commit of the same changes (a lost response, a client retry) idempotent for
    # ten minutes instead of failing its own preconditions. At most 36 characters.
    request_token: str | None = None

    def insert(self, entity: Entity) -> Changes:
        self.writes.append((entity, Expect(absent=True)))
        return self

    def batches(self) -> list[Changes]:
        """The writes split into transactions DynamoDB accepts (at most ``TRANSACTION_LIMIT`` each), for
        changes too many for one: each batch is atomic, the whole is not, so a caller makes a resend
        converge. No request token: one would be reused with other contents."""
        return [Changes(self.writes[start : start + TRANSACTION_LIMIT]) for start in range(0, len(self.writes), TRANSACTION_LIMIT)]

    def require_in_force(self, given: ConsentEntry) -> Changes:
        """The commit fails unless the consent ``given`` is still not withdrawn when it is applied: checked
        inside the transaction (a DynamoDB ConditionCheck on the ledger), so a withdrawal committed a moment
        earlier cannot slip between a read of the ledger and the write that relies on it."""
        self.writes.append((given, Expect(not_withdrawn=True)))
        return self

    def transition(
        self,
        entity: User
        | Organisation
        | Invitation
        | ConsentDocument
        | Profile
        | ResumeItem
        | UploadedFile
        | ExportArchive
        | Assignment
        | Candidacy
        | Interview
        | AgentAssignment
        | Notification
        | Engagement
        | Contract
        | EngagementChange
        | EvaluationRound
        | Escalation
        | SigningEnvelope
        | Period
        | Invoice
        | MilestoneClaim
        | Review,
        expected_status: str,
        *,
        was: Entity | None = None,
        revision: int | None = None,
    ) -> Changes:
        """Store ``entity`` only if the stored copy is still in ``expected_status`` (and, given ``was``,
        still filed under the same index keys, e.g. still a member of the same organisation; given
        ``revision``, still at that revision: the caller stores ``entity`` with the next one)."""
        self.writes.append((entity, Expect(status=expected_status, was=was, revision=revision)))
        return self

    def update(
        self, entity: TimeEntry | PayoutAccountRecord | EvaluationSchedule | ConsultantRating, *, revision: int | None = None
    ) -> Changes:
        """Store ``entity`` over its stored copy, which must exist (and, given ``revision``, still be at it).
        For items without a status of their own; a time entry is guarded by its period's revision instead."""
        self.writes.append((entity, Expect(revision=revision)))
        return self

    def delete(self, entity: Deletable, expected_status: str | None = None) -> Changes:
        """Remove ``entity`` if it is stored (and still in ``expected_status``, when given). Never on the
        append-only ledger and audit log."""
        self.writes.append((entity, Expect(status=expected_status, delete=True)))
        return self


class UnitOfWork(Protocol):
    def commit(self, changes: Changes) -> None:
        """Apply all writes atomically or none; raise ConcurrencyConflict when a precondition fails."""


class AccountRepository(Protocol):
    def get_user(self, user_id: str) -> User | None: ...
    def get_organisation(self, org_id: str) -> Organisation | None: ...
    def claim_owner(self, namespace: str, value: str) -> str | None: ...
    def list_members(self, org_id: str) -> list[User]: ...
    def list_organisations(self, kind: OrgKind, status: OrgStatus) -> list[Organisation]: ...
    def get_invitation(self, code_hash: str) -> Invitation | None: ...
    def list_invitations(self, agency_id: str) -> list[Invitation]: ...
    def get_consent_document(self, document_id: str) -> ConsentDocument | None: ...
    def list_consent_documents(self, agency_id: str) -> list[ConsentDocument]: ...
    def list_consent_documents_by_status(self, status: ConsentDocumentStatus) -> list[ConsentDocument]: ...
    def list_consultants(self) -> list[User]:
        """Every consultant (a full reindex of the search index)."""

    def list_staff(self) -> list[User]: ...


class ProfileRepository(Protocol):
    """A consultant's profile and resume, all under the person's own partition."""

    def get_profile(self, user_id: str) -> Profile | None: ...
    def list_resume_items(self, user_id: str) -> list[ResumeItem]: ...
    def get_resume_item(self, user_id: str, part: ResumePart, item_id: str) -> ResumeItem | None: ...
    def list_files(self, user_id: str) -> list[UploadedFile]: ...
    def get_file(self, user_id: str, file_id: str) -> UploadedFile | None: ...
    def list_pending_files(self, created_before: datetime) -> list[UploadedFile]:
        """Everyone's files still waiting for their upload's check, created before ``created_before``."""

    def get_archive(self, user_id: str, archive_id: str) -> ExportArchive | None: ...
    def list_archives(self, user_id: str) -> list[ExportArchive]: ...
    def list_disclosures(self, user_id: str) -> list[Disclosure]:
        """Every time the person's profile went to a client, oldest first."""


class AssignmentRepository(Protocol):
    def get_assignment(self, assignment_id: str) -> Assignment | None: ...
    def list_client_assignments(self, client_id: str, status: AssignmentStatus | None) -> list[Assignment]:
        """A client company's assignments, newest first; only those in ``status`` when given."""

    def list_assignments_by_status(self, status: AssignmentStatus) -> list[Assignment]:
        """Every client's assignments in ``status``, newest first (staff's lists)."""

    def list_match_runs(self, assignment_id: str) -> list[MatchRun]:
        """An assignment's match runs, newest first."""


class ProposalRepository(Protocol):
    """Candidacies, proposals, interviews, disclosures and Consultant Agents."""

    def get_candidacy(self, candidacy_id: str) -> Candidacy | None: ...
    def find_candidacy(self, assignment_id: str, consultant_id: str) -> Candidacy | None:
        """The consultant's candidacy for the assignment, if any (one per pair)."""

    def list_assignment_candidacies(self, assignment_id: str) -> list[Candidacy]: ...
    def list_consultant_candidacies(self, consultant_id: str) -> list[Candidacy]: ...
    def list_agency_candidacies(self, agency_id: str) -> list[Candidacy]: ...
    def list_candidacies_by_status(self, status: CandidacyStatus, due_before: datetime | None = None) -> list[Candidacy]:
        """Everyone's candidacies in ``status``; with ``due_before``, only consent requests expiring before it."""

    def get_proposal(self, proposal_id: str) -> Proposal | None: ...
    def list_client_proposals(self, client_id: str) -> list[Proposal]:
        """Newest first."""

    def get_interview(self, interview_id: str) -> Interview | None: ...
    def list_candidacy_interviews(self, candidacy_id: str) -> list[Interview]: ...
    def get_agent_assignment(self, consultant_id: str) -> AgentAssignment | None: ...
    def list_agent_consultants(self, agent_id: str) -> list[AgentAssignment]:
        """The consultants whose agent ``agent_id`` is (its load)."""


class EngagementRepository(Protocol):
    """Engagements, their contracts (in the engagement's partition) and the webhook events handled."""

    def get_engagement(self, engagement_id: str) -> Engagement | None: ...
    def list_contracts(self, engagement_id: str) -> list[Contract]:
        """Every contract of the engagement, replaced versions included."""

    def get_contract(self, engagement_id: str, contract_id: str) -> Contract | None: ...
    def find_contract_by_envelope(self, envelope_id: str) -> Contract | None: ...
    def list_client_engagements(self, client_id: str) -> list[Engagement]: ...
    def list_agency_engagements(self, agency_id: str) -> list[Engagement]: ...
    def list_consultant_engagements(self, consultant_id: str) -> list[Engagement]: ...
    def list_engagements_by_status(self, status: EngagementStatus) -> list[Engagement]: ...
    def event_processed(self, provider: str, event_id: str) -> bool: ...
    def envelope_superseded(self, envelope_id: str) -> bool: ...
    def list_open_contracts(self, checked_before: datetime) -> list[Contract]:
        """Contracts out for signature (sent, partly signed) last heard of before ``checked_before``."""

    def list_engagements_ending_before(self, day: date) -> list[Engagement]:
        """Active engagements whose last day is before ``day`` (the scheduled end)."""

    def get_change(self, engagement_id: str, change_id: str) -> EngagementChange | None: ...
    def list_changes(self, engagement_id: str) -> list[EngagementChange]:
        """Every change proposed for the engagement, oldest first."""

    def list_signing_changes(self) -> list[EngagementChange]:
        """Changes agreed and being signed, of every engagement."""


class ReviewRepository(Protocol):
    """Reviews after an engagement (each engagement names its own) and consultants' ratings."""

    def get_review(self, review_id: str) -> Review | None: ...
    def list_consultant_reviews(self, consultant_id: str) -> list[Review]:
        """Every review of the consultant's engagements, both sides', oldest first."""

    def list_reviews_due(self, at: datetime) -> list[Review]:
        """Reviews not recorded as revealed whose deadline is ``at`` or earlier (the jobs record their reveal)."""

    def get_rating(self, consultant_id: str) -> ConsultantRating | None: ...
    def get_ratings(self, consultant_ids: Sequence[str]) -> dict[str, ConsultantRating]:
        """The ratings of those of ``consultant_ids`` who have one (one batched read, for a match run)."""


class EvaluationRepository(Protocol):
    """Engagements' evaluation schedules and rounds, the reminders sent, and the escalations they raise."""

    def get_schedule(self, engagement_id: str) -> EvaluationSchedule | None: ...
    def get_round(self, evaluation_id: str) -> EvaluationRound | None: ...
    def list_engagement_rounds(self, engagement_id: str) -> list[EvaluationRound]:
        """The engagement's rounds, by due date."""

    def list_open_rounds(self, due_before: date) -> list[EvaluationRound]:
        """Everyone's open rounds due before ``due_before``, by due date (staff's list; the jobs)."""

    def list_agent_rounds(self, agent_id: str) -> list[EvaluationRound]:
        """The open rounds filed under the agent, by due date."""

    def list_consultant_rounds(self, consultant_id: str) -> list[EvaluationRound]: ...
    def reminder_sent(self, evaluation_id: str, kind: str, user_id: str) -> bool: ...
    def get_escalation(self, escalation_id: str) -> Escalation | None: ...
    def list_escalations(self, status: EscalationStatus) -> list[Escalation]:
        """Everyone's escalations in ``status``, newest first."""

    def list_agent_escalations(self, agent_id: str) -> list[Escalation]:
        """The open escalations filed under the agent, oldest first."""

    def list_consultant_escalations(self, consultant_id: str) -> list[Escalation]: ...


class TimesheetRepository(Protocol):
    """Time entries and periods (in the engagement's partition) and the invoices made from them."""

    def get_entry(self, engagement_id: str, day: date) -> TimeEntry | None: ...
    def list_entries(self, engagement_id: str, first: date, last: date) -> list[TimeEntry]:
        """The entries from ``first`` to ``last`` (inclusive), by day."""

    def get_period(self, engagement_id: str, key: str) -> Period | None: ...
    def list_periods(self, engagement_id: str) -> list[Period]: ...
    def list_agency_periods(self, agency_id: str, status: PeriodStatus) -> list[Period]:
        """An agency's periods in ``status`` (submitted: those waiting for its confirmation)."""

    def get_invoice(self, invoice_id: str) -> Invoice | None: ...
    def list_engagement_invoices(self, engagement_id: str) -> list[Invoice]: ...
    def get_claim(self, claim_id: str) -> MilestoneClaim | None: ...
    def list_engagement_claims(self, engagement_id: str) -> list[MilestoneClaim]: ...


class PaymentsRepository(Protocol):
    """Agencies' payout accounts, clients' customers, and invoices by their provider's id or status."""

    def get_payout_account(self, agency_id: str) -> PayoutAccountRecord | None: ...
    def find_payout_account(self, account_id: str) -> PayoutAccountRecord | None: ...
    def get_customer(self, client_id: str) -> BillingCustomerRecord | None: ...
    def find_invoice(self, provider_invoice_id: str) -> Invoice | None: ...
    def list_invoices_by_status(self, status: InvoiceStatus) -> list[Invoice]: ...
    def list_settling_invoices(self) -> list[Invoice]:
        """Invoices with a move of the agency's share decided and not yet confirmed."""

    def list_agency_invoices(self, agency_id: str, status: InvoiceStatus) -> list[Invoice]: ...


class SigningRepository(Protocol):
    """The built-in signature's envelopes."""

    def get_envelope(self, envelope_id: str) -> SigningEnvelope | None: ...
    def list_open_envelopes(self, expiring_before: datetime) -> list[SigningEnvelope]:
        """Envelopes still waiting for signatures whose deadline is before ``expiring_before``."""


class NotificationRepository(Protocol):
    """A person's in-app notifications, in their own partition."""

    def list_notifications(self, user_id: str) -> list[Notification]:
        """Newest first."""

    def get_notification(self, user_id: str, notification_id: str) -> Notification | None: ...


# What a person's own partition holds (``USER#<id>``): erasure deletes all of it.
PersonItem = (
    User
    | Profile
    | ResumeItem
    | UploadedFile
    | ExportArchive
    | ConsentChanged
    | Notification
    | Disclosure
    | AgentAssignment
    | ConsultantRating
)


class ErasureRepository(Protocol):
    """What erasure needs to find: pending requests, and everything filed under a person."""

    def get_erasure(self, user_id: str) -> Erasure | None: ...
    def list_pending_erasures(self) -> list[Erasure]: ...
    def list_person_items(self, user_id: str) -> list[PersonItem]:
        """Every item in the person's own partition, whatever its kind."""

    def list_consultant_candidacies(self, consultant_id: str) -> list[Candidacy]: ...
    def list_candidacy_interviews(self, candidacy_id: str) -> list[Interview]: ...

    def list_invitations_for_email(self, email: str) -> list[Invitation]: ...
    def list_notifications(self, user_id: str) -> list[Notification]:
        """A person's notifications (staff's, about someone erased, go with that someone)."""

    def list_consultant_engagements(self, consultant_id: str) -> list[Engagement]: ...
    def list_evaluation_records(self, consultant_id: str) -> list[EvaluationRound | EvaluationReminder | Escalation]:
        """Everything the performance follow-up holds about a consultant: rounds, their reminders, escalations."""

    def list_consultants_inactive_since(self, moment: datetime) -> list[User]:
        """Consultants whose last activity (or registration) is before ``moment``."""


class AppendOnlyEraser(Protocol):
    """The one exception to the append-only ledger and audit log, used by erasure alone (and granted in
    IAM to the function that runs it alone): an entry is replaced by its pseudonymised copy, both in one
    transaction, so the entry is never lost nor kept twice."""

    def replace(self, original: ConsentEntry | AuditEntry, copy: ConsentEntry | AuditEntry) -> None: ...


class ConsentLedger(Protocol):
    """Read side of the append-only ledger. Entries are written only as inserts through the unit of
    work (conditional on absence); nothing offers an update or a delete."""

    def list_for_subject(self, subject_id: str) -> list[ConsentEntry]: ...
    def get(self, subject_id: str, entry_id: str) -> ConsentEntry | None: ...


class AuditLog(Protocol):
    """Read side of the append-only audit log; written like the ledger."""

    def list_for_subject(self, subject_id: str) -> list[AuditEntry]: ...


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str
    refresh_token: str | None
    expires_in: int


@dataclass(frozen=True)
class IdentityUser:
    subject: str
    created_at: datetime


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    groups: frozenset[Role]


class IdentityGateway(Protocol):
    def create_user(self, email: str, password: str, roles: Sequence[Role]) -> str:
        """Create a confirmed user with a permanent password in the given groups; return its subject id.

        Raises Conflict if the e-mail is taken, InvalidInput for a password the pool refuses."""

    def delete_user(self, email: str) -> None: ...
    def find_user(self, email: str) -> IdentityUser | None: ...
    def mark_email_verified(self, email: str) -> None: ...
    def remove_from_group(self, email: str, role: Role) -> None: ...
    def login(self, email: str, password: str) -> Tokens: ...
    def refresh(self, refresh_token: str) -> Tokens: ...


class TokenVerifier(Protocol):
    def verify(self, token: str) -> VerifiedToken:
        """Check signature, issuer, token use, client and expiry; raise Unauthenticated otherwise."""


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class ArchiveMember:
    """One file of an archive: given ``content``, or the stored object ``source_key`` at ``source_version``."""

    name: str
    content: bytes | None = None
    source_key: str | None = None
    source_version: str | None = None


@dataclass(frozen=True)
class FetchedObject:
    """One version of an object, read once: its full size and at most ``max_bytes`` of its content."""

    version_id: str | None
    size: int
    content: bytes  # the whole object when size <= max_bytes, else a prefix


class DocumentStorage(Protocol):
    def presigned_post(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> PresignedPost: ...
    def presigned_get(self, key: str, version_id: str | None, *, expires_in: int) -> str: ...
    def fetch(self, key: str, version_id: str | None, max_bytes: int) -> FetchedObject | None:
        """None when the object (or that version) does not exist."""

    def delete(self, key: str, version_id: str | None = None) -> None: ...
    def write_archive(self, key: str, members: Iterable[ArchiveMember]) -> None:
        """Stores a zip of ``members`` at ``key``, streamed: never the whole archive, nor a whole member
        read from storage, in memory."""

    def erase(self, prefix: str) -> int:
        """Deletes every version and delete marker of every object under ``prefix``, and aborts uploads
        left incomplete there; returns how many."""


class EmailGateway(Protocol):
    def send(self, to: str, subject: str, text: str, attachments: Sequence[Attachment] = ()) -> None: ...


class Outbox(Protocol):
    def already_sent(self, message_id: str) -> bool: ...
    def mark_sent(self, message: OutboxMessage) -> None:
        """Record the sending and drop the recipient, text and attachments (they may hold a code or
        personal data) from the store."""


class Clock(Protocol):
    def __call__(self) -> datetime: ...


# --- electronic signatures ---


@dataclass(frozen=True)
class EnvelopeSigner:
    recipient_id: str  # "1", "2", ...: unique in the envelope
    user_id: str
    name: str
    email: str
    routing_order: int  # who signs first; equal orders sign in parallel
    # Who may sign for the party: the role the signer must still hold when signing, and in which
    # organisation (None: the platform's staff). The built-in signature checks them at signing time.
    role: Role = Role.STAFF
    org_id: str | None = None


@dataclass(frozen=True)
class EnvelopeRequest:
    """One document to be signed by every signer. ``contract_id`` travels with the envelope (a custom
    field) so that an envelope can always be traced back to its contract."""

    contract_id: str
    engagement_id: str
    subject: str  # the signing e-mail's subject
    document_name: str
    document: bytes  # the PDF
    signers: tuple[EnvelopeSigner, ...]
    language: str
    expires_in_days: int


@dataclass(frozen=True)
class EnvelopeStatus:
    """An envelope as the provider reports it now (always re-fetched before acting on an event)."""

    envelope_id: str
    status: ContractStatus  # sent, partly_signed, completed, declined, voided or expired
    signed_at: dict[str, datetime]  # recipient id → when that signer signed
    reason: str | None = None  # why it was declined or voided


@dataclass(frozen=True)
class SignedDocuments:
    document: bytes  # the final PDF, with the signatures (and, built in, the evidence page)
    certificate: bytes | None = None  # the provider's certificate of completion, if it issues one


class SignatureProvider(Protocol):
    """An e-signature service: DocuSign, or the platform's own simple electronic signature."""

    name: str  # "docusign" | "builtin": stored on the contract, to re-fetch from the right provider

    def create_envelope(self, request: EnvelopeRequest) -> str:
        """Sends the document to its signers; returns the envelope id."""

    def get_status(self, envelope_id: str) -> EnvelopeStatus: ...

    def download_signed(self, envelope_id: str) -> SignedDocuments:
        """The completed envelope's documents. Only for a completed envelope."""

    def void(self, envelope_id: str, reason: str) -> None:
        """Withdraws an envelope not yet completed (an envelope made twice by a double submit, say)."""


@dataclass(frozen=True)
class SignatureEvent:
    event_id: str  # unique per event, the same on every redelivery of it
    event: str  # the provider's name for it ("envelope-completed", ...): a hint only
    envelope_id: str


class SignatureWebhooks(Protocol):
    """The signed webhook format (DocuSign Connect's, which the built-in signature posts too)."""

    def verify(self, raw_body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether the raw body carries a valid signature by any configured key (constant-time)."""

    def parse(self, raw_body: bytes) -> SignatureEvent:
        """Raises InvalidInput for anything that is not a well-formed event."""


class WebhookSender(Protocol):
    """Posts a built-in signature event to the app's webhook endpoint, signed."""

    def deliver(self, body: bytes) -> None:
        """Raises when the endpoint did not accept it (the caller retries)."""


@dataclass(frozen=True)
class StoredObject:
    version_id: str | None


class ContractStorage(Protocol):
    """The contracts bucket: versioned, with object lock for signed documents."""

    def put(self, key: str, content: bytes, *, content_type: str, retain_until: datetime | None = None) -> StoredObject:
        """Stores a new version; with ``retain_until``, locked (compliance mode) until then."""

    def fetch(self, key: str, version_id: str | None, max_bytes: int) -> FetchedObject | None: ...
    def presigned_get(self, key: str, version_id: str | None, *, expires_in: int) -> str: ...


# --- payments (Stripe) ---


@dataclass(frozen=True)
class PayoutAccount:
    """An agency's Connect recipient account, as the payment provider reports it."""

    account_id: str
    transfers_active: bool  # the agency can be paid (capabilities.transfers == "active")
    details_submitted: bool
    requirements_due: tuple[str, ...] = ()  # what the agency still has to provide (why transfers are not active)
    disabled_reason: str | None = None


@dataclass(frozen=True)
class BillingCustomer:
    """A client company as the payment provider's customer."""

    org_id: str  # ours: travels as metadata, and keys the idempotent creation
    name: str
    email: str
    country: str  # ISO 3166-1 alpha-2
    address_line1: str | None = None
    address_line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    vat_number: str | None = None  # an EU VAT number, kept as the customer's tax id


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    amount_minor: int  # net, before VAT


@dataclass(frozen=True)
class InvoiceRequest:
    """One hosted invoice to a client, paid to the platform, with the agency's share transferred to its account."""

    invoice_id: str  # ours; with ``attempt``, the idempotency keys of every call ("invoice.create:<id>:v<attempt>")
    attempt: int
    customer_id: str
    currency: str  # ISO 4217, upper case
    lines: tuple[InvoiceLine, ...]
    days_until_due: int
    destination_account: str  # the agency's Connect account
    transfer_amount_minor: int  # the agency's net
    vat_rate_bps: int  # 2500 for Swedish VAT; 0 with reverse charge or outside the EU
    reverse_charge: bool  # EU business client with a valid VAT number: the footer says so
    footer: str  # the breakdown every party sees: net, commission rate and amount, agency net, VAT
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HostedInvoice:
    """An invoice as the payment provider reports it (always re-fetched before acting on an event)."""

    provider_invoice_id: str
    status: str  # draft | open | paid | void | uncollectible
    hosted_invoice_url: str | None
    total_minor: int
    tax_minor: int
    amount_paid_minor: int
    amount_remaining_minor: int
    due_at: datetime | None = None
    paid_at: datetime | None = None
    transfer_id: str | None = None  # the transfer of the agency's share, once paid
    charge_id: str | None = None  # the client's payment, once paid
    credited_before_payment_minor: int = 0  # credit notes that lowered what was due (Stripe's pre_payment_…)
    credited_after_payment_minor: int = 0  # credit notes after payment: refunds, balance credit (post_payment_…)


@dataclass(frozen=True)
class PaymentEvent:
    event_id: str
    type: str  # "invoice.paid", "account.updated", ...
    object_id: str  # the invoice's, the account's, ...
    account_id: str | None  # the connected account, for Connect events
    created: datetime
    invoice_reference: str | None = None  # our invoice id, from an invoice's metadata: whether it is ours
    charge_id: str | None = None  # the charge a refund is of (charge.refund.* events)
    provider_invoice_id: str | None = None  # the invoice a credit note is for (credit_note.* events)


@dataclass(frozen=True)
class ChargeState:
    """A client's payment as the provider reports it now: how much of it was refunded."""

    charge_id: str
    provider_invoice_id: str | None  # the invoice it paid
    amount_minor: int
    amount_refunded_minor: int


@dataclass(frozen=True)
class DisputeState:
    """A client's dispute of a payment as the provider reports it now."""

    dispute_id: str
    charge_id: str
    status: str  # warning_needs_response | warning_under_review | warning_closed | needs_response | under_review | won | lost
    created: datetime  # a charge disputed again (after an inquiry closed, say) has a newer dispute


@dataclass(frozen=True)
class CreditNoteRequest:
    """A credit note on an issued invoice: it lowers what an open invoice asks for, or refunds a paid one."""

    provider_invoice_id: str
    invoice_id: str  # ours: travels as metadata
    amount_minor: int  # including VAT, as the client sees it
    reason: str  # duplicate | order_change | product_unsatisfactory
    memo: str  # printed on the credit note
    refund: bool  # a paid invoice: the amount goes back to the client's payment method
    key: str  # idempotency key


class PaymentGateway(Protocol):
    """Stripe: Connect recipient accounts for agencies, customers for clients, hosted invoices. Every POST
    carries a deterministic idempotency key, so a retried call never makes a second object."""

    def create_payout_account(self, agency_id: str, *, name: str, email: str, country: str) -> str: ...
    def payout_account_link(self, account_id: str, *, refresh_url: str, return_url: str) -> str: ...
    def get_payout_account(self, account_id: str) -> PayoutAccount: ...
    def create_customer(self, customer: BillingCustomer) -> str: ...
    def issue_invoice(self, request: InvoiceRequest) -> HostedInvoice:
        """Creates the draft, its items, finalizes and sends it; resumable: a call repeated after a failure
        anywhere continues where the first stopped (same keys), and never makes a second invoice."""

    def get_invoice(self, provider_invoice_id: str) -> HostedInvoice: ...
    def void_invoice(self, provider_invoice_id: str, *, invoice_id: str) -> HostedInvoice: ...
    def get_charge(self, charge_id: str) -> ChargeState: ...
    def reverse_transfer(self, transfer_id: str, amount_minor: int, *, key: str, invoice_id: str) -> str:
        """Takes ``amount_minor`` of a transfer back from the connected account; ``key`` makes it idempotent and
        travels as metadata with ``invoice_id`` (ours), so the agency can tell what it was for."""

    def transfer(
        self, destination_account: str, amount_minor: int, currency: str, *, source_charge_id: str | None, key: str, invoice_id: str
    ) -> str:
        """Pays ``amount_minor`` to a connected account: out of a charge's funds when ``source_charge_id`` is
        given, else from the platform's available balance; ``key`` makes it idempotent (and is metadata, as for
        a reversal). Returns its id."""

    def find_reversal(self, transfer_id: str, key: str) -> str | None:
        """The reversal made with ``key``, if any (a retry after the provider forgot its idempotency keys)."""

    def find_transfer(self, destination_account: str, key: str, *, since: datetime) -> str | None:
        """The transfer to ``destination_account`` made with ``key`` since ``since``, if any."""

    def credit_invoice(self, request: CreditNoteRequest) -> str:
        """Issues a credit note; returns its id."""

    def get_dispute(self, dispute_id: str) -> DisputeState: ...
    def find_credit_note(self, provider_invoice_id: str, key: str) -> str | None:
        """The invoice's credit note made with ``key``, if any (after the provider forgot its idempotency keys)."""


class PaymentWebhooks(Protocol):
    """Stripe's signed webhooks (Stripe-Signature, 300 s tolerance): platform events and Connect events,
    each endpoint with its own secret."""

    def parse(self, raw_body: bytes, signature_header: str | None, *, connect: bool) -> PaymentEvent:
        """Raises Unauthenticated for a missing, wrong or stale signature; InvalidInput for a malformed event."""
