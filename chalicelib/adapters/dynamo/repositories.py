"""DynamoDB repositories and the unit of work, on the PynamoDB models.

Entities are stored as JSON produced by a pydantic TypeAdapter of the domain dataclass, so there is
one codec for every entity and the domain stays free of storage concerns. Keys and index keys per
entity are defined in ``_keys`` below: the access patterns of DESIGN.md in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import TypeAdapter
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.models import AuditEntryItem, ConsentEntryItem, MainItem
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
from chalicelib.domain.exports import ARCHIVE_RETENTION, ExportArchive
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
from chalicelib.errors import ConcurrencyConflict
from chalicelib.services.ports import Changes, Entity, Expect, OutboxMessage, PersonItem, UniqueClaim

SETTLING_INVOICES = "INVOICES#settling"

T = TypeVar("T")

# How long a sent outbox message is kept before DynamoDB's TTL removes it (it holds an e-mail address).
OUTBOX_RETENTION = timedelta(days=1)
# How long a handled webhook event is remembered: longer than any provider retries a delivery (DocuSign
# Connect retries for up to 15 days).
PROCESSED_EVENT_RETENTION = timedelta(days=60)
# A built-in signature webhook is posted within seconds; a failing one is retried by the stream for a day.
WEBHOOK_DELIVERY_RETENTION = timedelta(days=2)
STAFF = "STAFF"
OPEN_CONTRACTS = "CONTRACTS#open"
OPEN_EVALUATIONS = "EVALUATIONS#open"
PENDING_REVIEWS = "REVIEWS#pending"
SIGNING_CHANGES = "CHANGES#signing"


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type[T]) -> TypeAdapter[T]:
    if cls not in _ADAPTERS:
        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


def dump(entity: object) -> dict[str, Any]:
    data: dict[str, Any] = _adapter(type(entity)).dump_python(entity, mode="json")
    return data


def load(cls: type[T], data: dict[str, Any]) -> T:
    return _adapter(cls).validate_python(data)


_KIND = {
    User: "user",
    Organisation: "organisation",
    Invitation: "invitation",
    ConsentDocument: "consent_document",
    UniqueClaim: "unique_claim",
    OutboxMessage: "outbox",
    Profile: "profile",
    ResumeItem: "resume_item",
    UploadedFile: "file",
    Erasure: "erasure",
    ExportArchive: "export_archive",
    Assignment: "assignment",
    ConsentChanged: "consent_changed",
    MatchRun: "match_run",
    Candidacy: "candidacy",
    Proposal: "proposal",
    Disclosure: "disclosure",
    Interview: "interview",
    AgentAssignment: "agent_assignment",
    Notification: "notification",
    Engagement: "engagement",
    Contract: "contract",
    EngagementChange: "engagement_change",
    EvaluationSchedule: "evaluation_schedule",
    EvaluationRound: "evaluation",
    EvaluationReminder: "evaluation_reminder",
    Escalation: "escalation",
    ProcessedEvent: "processed_event",
    SupersededEnvelope: "superseded_envelope",
    SigningEnvelope: "signing_envelope",
    WebhookDelivery: "webhook_delivery",
    TimeEntry: "time_entry",
    Period: "period",
    Invoice: "invoice",
    PayoutAccountRecord: "payout_account",
    BillingCustomerRecord: "billing_customer",
    MilestoneClaim: "milestone_claim",
    Review: "review",
    ConsultantRating: "consultant_rating",
}
_CLASS_OF_KIND = {kind: cls for cls, kind in _KIND.items()}


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def notification_sk(notification: Notification) -> str:
    return f"NOTIFICATION#{sort_time(notification.created_at)}#{notification.notification_id}"


def notification_by_id(notification_id: str) -> str:
    return f"NOTIFICATION#{notification_id}"


def resume_sk(part: ResumePart, item_id: str) -> str:
    return f"RESUME#{part.value}#{item_id}"


def org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def engagement_pk(engagement_id: str) -> str:
    return f"ENGAGEMENT#{engagement_id}"


def evaluation_pk(evaluation_id: str) -> str:
    return f"EVALUATION#{evaluation_id}"


CONSULTANT_ACTIVITY = "ACTIVITY#consultant"
PENDING_FILES = "FILES#pending"


def active_until(last_day: date) -> str:
    """An active engagement's gsi2 sort key prefix: its last day, so the job finds those past it with a key
    condition. (Engagements made active before this key existed are filed under ``ENGAGEMENT#…``.)"""
    return f"END#{last_day.isoformat()}"


def invitee_pk(email: str) -> str:
    return f"INVITEE#{email}"


def sort_time(moment: datetime) -> str:
    """Sort-key time: microseconds, so entries written within one millisecond keep their order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class _Keys:
    pk: str
    sk: str
    gsi1pk: str | None = None
    gsi1sk: str | None = None
    gsi2pk: str | None = None
    gsi2sk: str | None = None
    gsi3pk: str | None = None
    gsi3sk: str | None = None
    gsi4pk: str | None = None
    gsi4sk: str | None = None


def _keys(entity: Entity) -> _Keys:
    """pk/sk and index keys of a main-table entity."""
    if isinstance(entity, User):
        # gsi1: an organisation's members; gsi2: consultants by last activity (the retention job).
        # Staff belong to no organisation: they are filed together (alerts go to all of them).
        home = org_pk(entity.org_id) if entity.org_id else STAFF if Role.STAFF in entity.roles else None
        members = (home, f"USER#{entity.user_id}") if home else (None, None)
        activity = (
            (CONSULTANT_ACTIVITY, f"{sort_time(entity.active_since)}#{entity.user_id}") if Role.CONSULTANT in entity.roles else (None, None)
        )
        return _Keys(user_pk(entity.user_id), "USER", *members, *activity)
    if isinstance(entity, Organisation):
        # gsi1: organisations by kind and status (staff: pending client approvals).
        return _Keys(
            org_pk(entity.org_id),
            "ORG",
            f"ORGS#{entity.kind.value}#{entity.status.value}",
            f"{sort_time(entity.created_at)}#{entity.org_id}",
        )
    if isinstance(entity, Invitation):
        # pk: looked up by the hash of the code; gsi1: an agency's invitations; gsi2: an invitee's (erasure).
        created = f"INVITE#{sort_time(entity.created_at)}#{entity.invitation_id}"
        return _Keys(f"INVITE#{entity.code_hash}", "INVITE", org_pk(entity.agency_id), created, invitee_pk(entity.email), created)
    if isinstance(entity, ConsentDocument):
        # gsi1: an agency's on-behalf consent documents; gsi2: by status (staff: pending verifications).
        created = sort_time(entity.created_at)
        return _Keys(
            f"CONSENTDOC#{entity.document_id}",
            "CONSENTDOC",
            org_pk(entity.agency_id),
            f"CONSENTDOC#{created}#{entity.document_id}",
            f"CONSENTDOCS#{entity.status.value}",
            f"{created}#{entity.document_id}",
        )
    if isinstance(entity, Profile):
        # Under the person's partition (GDPR: found from the id alone); gsi1: an agency's consultants' profiles.
        if entity.agency_id is None:
            return _Keys(user_pk(entity.user_id), "PROFILE")
        return _Keys(user_pk(entity.user_id), "PROFILE", org_pk(entity.agency_id), f"PROFILE#{entity.user_id}")
    if isinstance(entity, UploadedFile):
        # gsi2: files still waiting for their upload's check (the daily job sweeps stale ones).
        if entity.status is not FileStatus.PENDING:
            return _Keys(user_pk(entity.user_id), f"FILE#{entity.file_id}")
        waiting = f"{sort_time(entity.created_at)}#{entity.user_id}#{entity.file_id}"
        return _Keys(user_pk(entity.user_id), f"FILE#{entity.file_id}", None, None, PENDING_FILES, waiting)
    if isinstance(entity, ResumeItem):
        return _Keys(user_pk(entity.user_id), resume_sk(entity.part, entity.item_id))
    if isinstance(entity, ExportArchive):
        return _Keys(user_pk(entity.user_id), f"ARCHIVE#{entity.archive_id}")
    if isinstance(entity, ConsentChanged):
        return _Keys(user_pk(entity.user_id), f"CONSENTCHANGED#{entity.entry_id}")
    if isinstance(entity, Notification):
        # Newest last by time in the person's partition; gsi1: the person's notification by its id alone
        # (marking one read names only the id).
        return _Keys(user_pk(entity.user_id), notification_sk(entity), user_pk(entity.user_id), notification_by_id(entity.notification_id))
    if isinstance(entity, Assignment):
        # gsi1: a client's assignments by status; gsi2: everyone's by status (staff: open assignments).
        created = f"{sort_time(entity.created_at)}#{entity.assignment_id}"
        return _Keys(
            f"ASSIGNMENT#{entity.assignment_id}",
            "ASSIGNMENT",
            org_pk(entity.client_id),
            f"ASSIGNMENT#{entity.status.value}#{created}",
            f"ASSIGNMENTS#{entity.status.value}",
            created,
        )
    if isinstance(entity, MatchRun):
        # Under its assignment, newest last by time.
        return _Keys(f"ASSIGNMENT#{entity.assignment_id}", f"MATCHRUN#{sort_time(entity.at)}#{entity.run_id}")
    if isinstance(entity, Candidacy):
        # gsi1: an assignment's candidacies, one per consultant; gsi2: by status, consent requests by their
        # deadline (the expiry job; staff's lists); gsi3: a consultant's own; gsi4: an agency's.
        created = f"CANDIDACY#{sort_time(entity.created_at)}#{entity.candidacy_id}"
        due = entity.expires_at if entity.status is CandidacyStatus.CONSENT_REQUESTED and entity.expires_at else entity.updated_at
        return _Keys(
            f"CANDIDACY#{entity.candidacy_id}",
            "CANDIDACY",
            f"ASSIGNMENT#{entity.assignment_id}",
            f"CANDIDACY#{entity.consultant_id}",
            f"CANDIDACIES#{entity.status.value}",
            f"{sort_time(due)}#{entity.candidacy_id}",
            user_pk(entity.consultant_id),
            created,
            org_pk(entity.agency_id),
            created,
        )
    if isinstance(entity, Proposal):
        # gsi1: a client company's proposals, newest last.
        return _Keys(
            f"PROPOSAL#{entity.proposal_id}",
            "PROPOSAL",
            org_pk(entity.client_id),
            f"PROPOSAL#{sort_time(entity.sent_at)}#{entity.proposal_id}",
        )
    if isinstance(entity, Disclosure):
        # In the person's partition: their export lists every client their profile went to.
        return _Keys(user_pk(entity.consultant_id), f"DISCLOSURE#{sort_time(entity.at)}#{entity.disclosure_id}")
    if isinstance(entity, Interview):
        # gsi1: a candidacy's interviews; gsi2: the Consultant Agent's scheduled interviews by start time.
        requested = f"INTERVIEW#{sort_time(entity.requested_at)}#{entity.interview_id}"
        agent = (
            (f"AGENT#{entity.agent_id}", f"INTERVIEW#{sort_time(entity.slot.starts_at)}#{entity.interview_id}")
            if entity.agent_id and entity.slot
            else (None, None)
        )
        return _Keys(f"INTERVIEW#{entity.interview_id}", "INTERVIEW", f"CANDIDACY#{entity.candidacy_id}", requested, *agent)
    if isinstance(entity, AgentAssignment):
        # In the consultant's partition; gsi1: an agent's consultants.
        return _Keys(user_pk(entity.consultant_id), "AGENT", f"AGENT#{entity.agent_id}", f"CONSULTANT#{entity.consultant_id}")
    if isinstance(entity, Engagement):
        # gsi1: the client company's; gsi2: everyone's by status (staff), the active ones by their last day
        # (the job that ends them); gsi3: the consultant's; gsi4: the agency's.
        created = f"ENGAGEMENT#{sort_time(entity.created_at)}#{entity.engagement_id}"
        by_status = f"{active_until(entity.terms.end_date)}#{created}" if entity.status is EngagementStatus.ACTIVE else created
        return _Keys(
            engagement_pk(entity.engagement_id),
            "ENGAGEMENT",
            org_pk(entity.client_id),
            created,
            f"ENGAGEMENTS#{entity.status.value}",
            by_status,
            user_pk(entity.consultant_id),
            created,
            org_pk(entity.agency_id),
            created,
        )
    if isinstance(entity, Contract):
        # In its engagement's partition; gsi1: by envelope id (the signature webhooks' only handle on it);
        # gsi2: those out for signature by when they were last heard of (the reconciliation job).
        envelope = (f"ENVELOPE#{entity.envelope_id}", "CONTRACT") if entity.envelope_id else (None, None)
        out = entity.status in (ContractStatus.SENT, ContractStatus.PARTLY_SIGNED)
        heard = (OPEN_CONTRACTS, f"{sort_time(entity.last_heard_at)}#{entity.contract_id}") if out else (None, None)
        return _Keys(engagement_pk(entity.engagement_id), f"CONTRACT#{entity.contract_id}", *envelope, *heard)
    if isinstance(entity, EngagementChange):
        # In its engagement's partition (ids sort by creation time); gsi2: those agreed and being signed (the
        # jobs send addenda a failed send left).
        signing = (SIGNING_CHANGES, entity.change_id) if entity.status is ChangeStatus.SIGNING else (None, None)
        return _Keys(engagement_pk(entity.engagement_id), f"CHANGE#{entity.change_id}", None, None, *signing)
    if isinstance(entity, EvaluationSchedule):
        return _Keys(engagement_pk(entity.engagement_id), "EVALUATION_SCHEDULE")
    if isinstance(entity, EvaluationRound):
        # gsi1: an engagement's rounds; gsi2: the open ones by due date (staff: due before T; the jobs);
        # gsi3: the consultant's; gsi4: the open ones of the agent's consultants (the agent's workspace).
        by_due = f"{entity.due_date.isoformat()}#{entity.evaluation_id}"
        open_ = entity.status is RoundStatus.OPEN
        return _Keys(
            evaluation_pk(entity.evaluation_id),
            "EVALUATION",
            engagement_pk(entity.engagement_id),
            f"EVALUATION#{by_due}",
            OPEN_EVALUATIONS if open_ else None,
            by_due if open_ else None,
            user_pk(entity.consultant_id),
            f"EVALUATION#{by_due}",
            f"AGENT#{entity.agent_id}" if open_ and entity.agent_id else None,
            f"EVALUATION#{by_due}" if open_ and entity.agent_id else None,
        )
    if isinstance(entity, EvaluationReminder):
        # In the round's partition: one per round, kind and recipient.
        return _Keys(evaluation_pk(entity.evaluation_id), f"REMINDER#{entity.kind.value}#{entity.user_id}")
    if isinstance(entity, Escalation):
        # gsi1: an engagement's; gsi2: by status (staff); gsi3: the consultant's; gsi4: the agent's open ones.
        opened = f"{sort_time(entity.opened_at)}#{entity.escalation_id}"
        filed = entity.status is EscalationStatus.OPEN and entity.agent_id
        return _Keys(
            f"ESCALATION#{entity.escalation_id}",
            "ESCALATION",
            engagement_pk(entity.engagement_id),
            f"ESCALATION#{opened}",
            f"ESCALATIONS#{entity.status.value}",
            opened,
            user_pk(entity.consultant_id),
            f"ESCALATION#{opened}",
            f"AGENT#{entity.agent_id}" if filed else None,
            f"ESCALATION#{opened}" if filed else None,
        )
    if isinstance(entity, TimeEntry):
        # In the engagement's partition, one per day (a second entry for a day is an edit of the first).
        return _Keys(engagement_pk(entity.engagement_id), f"TIME#{entity.day.isoformat()}")
    if isinstance(entity, Period):
        # In the engagement's partition; gsi4: the agency's periods by status (submitted: to confirm).
        filed = f"PERIOD#{entity.status.value}#{entity.key}#{entity.engagement_id}"
        return _Keys(engagement_pk(entity.engagement_id), f"PERIOD#{entity.key}", gsi4pk=org_pk(entity.agency_id), gsi4sk=filed)
    if isinstance(entity, Invoice):
        # gsi1: an engagement's invoices; gsi2: by status (the jobs: pending ones to issue, open ones to
        # reconcile), or "settling" while a move of the agency's share is unconfirmed (the job completes it);
        # gsi3: by the provider's id (its webhooks); gsi4: an agency's by status.
        created = f"{sort_time(entity.created_at)}#{entity.invoice_id}"
        filed = SETTLING_INVOICES if entity.settling else f"INVOICES#{entity.status.value}"
        provider = f"PROVIDER_INVOICE#{entity.provider_invoice_id}" if entity.provider_invoice_id else None
        return _Keys(
            f"INVOICE#{entity.invoice_id}",
            "INVOICE",
            gsi1pk=engagement_pk(entity.engagement_id),
            gsi1sk=f"INVOICE#{created}",
            gsi2pk=filed,
            gsi2sk=created,
            gsi3pk=provider,
            gsi3sk="INVOICE" if provider else None,
            gsi4pk=org_pk(entity.agency_id),
            gsi4sk=f"INVOICE#{entity.status.value}#{created}",
        )
    if isinstance(entity, PayoutAccountRecord):
        # In the agency's partition; gsi1: by the provider's account id (its Connect webhooks).
        return _Keys(org_pk(entity.agency_id), "PAYOUT", f"PAYOUT_ACCOUNT#{entity.account_id}", "PAYOUT")
    if isinstance(entity, MilestoneClaim):
        # gsi1: an engagement's claims.
        created = f"CLAIM#{sort_time(entity.created_at)}#{entity.claim_id}"
        return _Keys(f"CLAIM#{entity.claim_id}", "CLAIM", engagement_pk(entity.engagement_id), created)
    if isinstance(entity, BillingCustomerRecord):
        return _Keys(org_pk(entity.client_id), "CUSTOMER")
    if isinstance(entity, Review):
        # Named by its engagement (``Engagement.reviews``); gsi2: those not recorded revealed, by deadline (the
        # job records their reveal); gsi3: the consultant's, both sides' (their reviews, their export).
        pending = entity.status is ReviewStatus.PENDING
        return _Keys(
            f"REVIEW#{entity.review_id}",
            "REVIEW",
            gsi2pk=PENDING_REVIEWS if pending else None,
            gsi2sk=f"{sort_time(entity.reveal_deadline)}#{entity.review_id}" if pending else None,
            gsi3pk=user_pk(entity.consultant_id),
            gsi3sk=f"REVIEW#{sort_time(entity.created_at)}#{entity.review_id}",
        )
    if isinstance(entity, ConsultantRating):
        # In the person's partition: derived from their reviews, erased with them.
        return _Keys(user_pk(entity.consultant_id), "RATING")
    if isinstance(entity, ProcessedEvent):
        return _Keys(f"WEBHOOK#{entity.provider}#{entity.event_id}", "EVENT")
    if isinstance(entity, SupersededEnvelope):
        return _Keys(f"SUPERSEDED#{entity.envelope_id}", "ENVELOPE")
    if isinstance(entity, SigningEnvelope):
        # gsi2: open envelopes by deadline (the expiry job).
        deadline = (
            ("ESIGN#sent", f"{sort_time(entity.expires_at)}#{entity.envelope_id}") if entity.status is EnvelopeState.SENT else (None, None)
        )
        return _Keys(f"ESIGN#{entity.envelope_id}", "ENVELOPE", None, None, *deadline)
    if isinstance(entity, WebhookDelivery):
        return _Keys(f"DELIVERY#{entity.delivery_id}", "DELIVERY")
    if isinstance(entity, Erasure):
        # Outside the person's partition, which it outlives; gsi2: the pending ones (the resume job).
        return _Keys(f"ERASURE#{entity.user_id}", "ERASURE", None, None, f"ERASURES#{entity.status.value}", sort_time(entity.requested_at))
    if isinstance(entity, UniqueClaim):
        return _Keys(f"UNIQUE#{entity.namespace}#{entity.value}", "UNIQUE")
    if isinstance(entity, OutboxMessage):
        return _Keys(f"OUTBOX#{entity.message_id}", "OUTBOX")
    raise TypeError(f"not a main-table entity: {type(entity).__name__}")


def to_item(entity: Entity) -> Model:
    if isinstance(entity, ConsentEntry):
        return ConsentEntryItem(entity.subject_id, entity.entry_id, data=dump(entity))
    if isinstance(entity, AuditEntry):
        return AuditEntryItem(entity.subject_id, f"{sort_time(entity.at)}#{entity.entry_id}", data=dump(entity))
    keys = _keys(entity)
    status = getattr(entity, "status", None)
    item = MainItem(
        keys.pk,
        keys.sk,
        kind=_KIND[type(entity)],
        data=dump(entity),
        status=status.value if status is not None else None,
        revision=getattr(entity, "revision", None),
        gsi1pk=keys.gsi1pk,
        gsi1sk=keys.gsi1sk,
        gsi2pk=keys.gsi2pk,
        gsi2sk=keys.gsi2sk,
        gsi3pk=keys.gsi3pk,
        gsi3sk=keys.gsi3sk,
        gsi4pk=keys.gsi4pk,
        gsi4sk=keys.gsi4sk,
    )
    if isinstance(entity, OutboxMessage):
        item.expires = entity.created_at + OUTBOX_RETENTION
    if isinstance(entity, ExportArchive):
        item.expires = entity.created_at + ARCHIVE_RETENTION
    if isinstance(entity, ConsentChanged):
        item.expires = entity.at + OUTBOX_RETENTION  # it has done its work once the stream delivered it
    if isinstance(entity, ProcessedEvent):
        item.expires = entity.received_at + PROCESSED_EVENT_RETENTION
    if isinstance(entity, SupersededEnvelope):
        item.expires = entity.at + PROCESSED_EVENT_RETENTION
    if isinstance(entity, WebhookDelivery):
        item.expires = entity.created_at + WEBHOOK_DELIVERY_RETENTION
    return item


def _condition(item: Model, expect: Expect) -> Any:
    if expect.absent and not expect.delete:
        return type(item)._hash_key_attribute().does_not_exist()
    if not isinstance(item, MainItem):
        raise ValueError("append-only tables accept inserts only")
    condition = MainItem.status == expect.status if expect.status is not None else MainItem.pk.exists()
    if expect.revision is not None:
        # Items stored before they had a revision count as revision 0.
        current = MainItem.revision == expect.revision
        condition &= current | MainItem.revision.does_not_exist() if expect.revision == 0 else current
    if expect.was is not None:
        # Sort keys too: a user's activity time, say, is filed there, so a write from a copy read before
        # a sign-in cannot set it back.
        before = _keys(expect.was)
        filed = (
            (MainItem.gsi2pk, before.gsi2pk),
            (MainItem.gsi2sk, before.gsi2sk),
            (MainItem.gsi3pk, before.gsi3pk),
            (MainItem.gsi3sk, before.gsi3sk),
            (MainItem.gsi4pk, before.gsi4pk),
            (MainItem.gsi4sk, before.gsi4sk),
        )
        for attribute, value in filed:
            condition &= attribute == value if value is not None else attribute.does_not_exist()
        if before.gsi1pk is None:
            condition &= MainItem.gsi1pk.does_not_exist() & MainItem.gsi1sk.does_not_exist()
        else:
            same = (MainItem.gsi1pk == before.gsi1pk) & (MainItem.gsi1sk == before.gsi1sk)
            # Staff stored before they were filed together have no gsi1 keys yet: this write files them.
            condition &= (same | MainItem.gsi1pk.does_not_exist()) if before.gsi1pk == STAFF else same
    return condition


class DynamoUnitOfWork:
    def __init__(self, region: str | None = None) -> None:
        self._connection = Connection(region=region)

    def commit(self, changes: Changes) -> None:
        if not changes.writes:
            return
        try:
            with TransactWrite(connection=self._connection, client_request_token=changes.request_token) as transaction:
                for entity, expect in changes.writes:
                    if expect.not_withdrawn:
                        assert isinstance(entity, ConsentEntry)
                        withdrawal = withdrawal_entry_id(entity.entry_id)
                        absent = ConsentEntryItem.subject_id.does_not_exist()
                        transaction.condition_check(ConsentEntryItem, entity.subject_id, withdrawal, condition=absent)
                        continue
                    item = to_item(entity)
                    if expect.delete:
                        transaction.delete(item, condition=_condition(item, expect))
                    else:
                        transaction.save(item, condition=_condition(item, expect))
        except TransactWriteError as exc:
            _raise_as_conflict(exc, "a precondition failed")
            raise


def _raise_as_conflict(exc: TransactWriteError, message: str) -> None:
    """Raises ConcurrencyConflict when the transaction was cancelled by a condition or by a concurrent
    writer (nothing was written, and a caller may treat it as "someone else did it"); returns otherwise,
    so that throttling, validation and other errors propagate as themselves and are retried or fail."""
    reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
    # TransactionConflict: another transaction was writing one of the items; nothing was written.
    if any(code in ("ConditionalCheckFailed", "TransactionConflict") for code in reasons):
        raise ConcurrencyConflict(message, reasons) from exc


def _load_main(cls: type[T], item: MainItem | None) -> T | None:
    return load(cls, item.data) if item is not None else None


def _get(cls: type[T], pk: str, sk: str) -> T | None:
    try:
        return _load_main(cls, MainItem.get(pk, sk, consistent_read=True))
    except MainItem.DoesNotExist:
        return None


class DynamoAccountRepository:
    def get_user(self, user_id: str) -> User | None:
        return _get(User, user_pk(user_id), "USER")

    def get_organisation(self, org_id: str) -> Organisation | None:
        return _get(Organisation, org_pk(org_id), "ORG")

    def claim_owner(self, namespace: str, value: str) -> str | None:
        claim = _get(UniqueClaim, f"UNIQUE#{namespace}#{value}", "UNIQUE")
        return claim.owner_id if claim else None

    def list_members(self, org_id: str) -> list[User]:
        items = MainItem.by_gsi1.query(org_pk(org_id), MainItem.gsi1sk.startswith("USER#"))
        return [load(User, i.data) for i in items]

    def list_organisations(self, kind: OrgKind, status: OrgStatus) -> list[Organisation]:
        return [load(Organisation, i.data) for i in MainItem.by_gsi1.query(f"ORGS#{kind.value}#{status.value}")]

    def get_invitation(self, code_hash: str) -> Invitation | None:
        return _get(Invitation, f"INVITE#{code_hash}", "INVITE")

    def list_invitations(self, agency_id: str) -> list[Invitation]:
        items = MainItem.by_gsi1.query(org_pk(agency_id), MainItem.gsi1sk.startswith("INVITE#"), scan_index_forward=False)
        return [load(Invitation, i.data) for i in items]

    def get_consent_document(self, document_id: str) -> ConsentDocument | None:
        return _get(ConsentDocument, f"CONSENTDOC#{document_id}", "CONSENTDOC")

    def list_consent_documents(self, agency_id: str) -> list[ConsentDocument]:
        items = MainItem.by_gsi1.query(org_pk(agency_id), MainItem.gsi1sk.startswith("CONSENTDOC#"), scan_index_forward=False)
        return [load(ConsentDocument, i.data) for i in items]

    def list_consent_documents_by_status(self, status: ConsentDocumentStatus) -> list[ConsentDocument]:
        return [load(ConsentDocument, i.data) for i in MainItem.by_gsi2.query(f"CONSENTDOCS#{status.value}")]

    def list_consultants(self) -> list[User]:
        return [load(User, i.data) for i in MainItem.by_gsi2.query(CONSULTANT_ACTIVITY)]

    def list_staff(self) -> list[User]:
        return [load(User, i.data) for i in MainItem.by_gsi1.query(STAFF, MainItem.gsi1sk.startswith("USER#"))]


class DynamoProfileRepository:
    def get_profile(self, user_id: str) -> Profile | None:
        return _get(Profile, user_pk(user_id), "PROFILE")

    def list_resume_items(self, user_id: str) -> list[ResumeItem]:
        items = MainItem.query(user_pk(user_id), MainItem.sk.startswith("RESUME#"), consistent_read=True)
        return [load(ResumeItem, i.data) for i in items]

    def get_resume_item(self, user_id: str, part: ResumePart, item_id: str) -> ResumeItem | None:
        return _get(ResumeItem, user_pk(user_id), resume_sk(part, item_id))

    def list_files(self, user_id: str) -> list[UploadedFile]:
        return [load(UploadedFile, i.data) for i in MainItem.query(user_pk(user_id), MainItem.sk.startswith("FILE#"), consistent_read=True)]

    def get_file(self, user_id: str, file_id: str) -> UploadedFile | None:
        return _get(UploadedFile, user_pk(user_id), f"FILE#{file_id}")

    def get_archive(self, user_id: str, archive_id: str) -> ExportArchive | None:
        return _get(ExportArchive, user_pk(user_id), f"ARCHIVE#{archive_id}")

    def list_archives(self, user_id: str) -> list[ExportArchive]:
        items = MainItem.query(user_pk(user_id), MainItem.sk.startswith("ARCHIVE#"), consistent_read=True)
        return [load(ExportArchive, i.data) for i in items]

    def list_disclosures(self, user_id: str) -> list[Disclosure]:
        items = MainItem.query(user_pk(user_id), MainItem.sk.startswith("DISCLOSURE#"), consistent_read=True)
        return [load(Disclosure, i.data) for i in items]

    def list_pending_files(self, created_before: datetime) -> list[UploadedFile]:
        return [load(UploadedFile, i.data) for i in MainItem.by_gsi2.query(PENDING_FILES, MainItem.gsi2sk < sort_time(created_before))]


class DynamoNotificationRepository:
    def list_notifications(self, user_id: str) -> list[Notification]:
        items = MainItem.query(user_pk(user_id), MainItem.sk.startswith("NOTIFICATION#"), scan_index_forward=False, consistent_read=True)
        return [load(Notification, i.data) for i in items]

    def get_notification(self, user_id: str, notification_id: str) -> Notification | None:
        # The index names the item; the item itself is read consistently (the index lags behind writes).
        found = next(iter(MainItem.by_gsi1.query(user_pk(user_id), MainItem.gsi1sk == notification_by_id(notification_id), limit=1)), None)
        return _get(Notification, found.pk, found.sk) if found is not None else None


class DynamoAssignmentRepository:
    def get_assignment(self, assignment_id: str) -> Assignment | None:
        return _get(Assignment, f"ASSIGNMENT#{assignment_id}", "ASSIGNMENT")

    def list_client_assignments(self, client_id: str, status: AssignmentStatus | None) -> list[Assignment]:
        prefix = f"ASSIGNMENT#{status.value}#" if status is not None else "ASSIGNMENT#"
        items = MainItem.by_gsi1.query(org_pk(client_id), MainItem.gsi1sk.startswith(prefix))
        return sorted((load(Assignment, i.data) for i in items), key=lambda a: (a.created_at, a.assignment_id), reverse=True)

    def list_match_runs(self, assignment_id: str) -> list[MatchRun]:
        items = MainItem.query(f"ASSIGNMENT#{assignment_id}", MainItem.sk.startswith("MATCHRUN#"), scan_index_forward=False)
        return [load(MatchRun, i.data) for i in items]

    def list_assignments_by_status(self, status: AssignmentStatus) -> list[Assignment]:
        return [load(Assignment, i.data) for i in MainItem.by_gsi2.query(f"ASSIGNMENTS#{status.value}", scan_index_forward=False)]


class DynamoProposalRepository:
    def get_candidacy(self, candidacy_id: str) -> Candidacy | None:
        return _get(Candidacy, f"CANDIDACY#{candidacy_id}", "CANDIDACY")

    def find_candidacy(self, assignment_id: str, consultant_id: str) -> Candidacy | None:
        items = MainItem.by_gsi1.query(f"ASSIGNMENT#{assignment_id}", MainItem.gsi1sk == f"CANDIDACY#{consultant_id}")
        found = next(iter(items), None)
        # The index is eventually consistent: the item itself is read again, strongly.
        return self.get_candidacy(load(Candidacy, found.data).candidacy_id) if found is not None else None

    def list_assignment_candidacies(self, assignment_id: str) -> list[Candidacy]:
        items = MainItem.by_gsi1.query(f"ASSIGNMENT#{assignment_id}", MainItem.gsi1sk.startswith("CANDIDACY#"))
        return _oldest_first(load(Candidacy, i.data) for i in items)

    def list_consultant_candidacies(self, consultant_id: str) -> list[Candidacy]:
        return [load(Candidacy, i.data) for i in MainItem.by_gsi3.query(user_pk(consultant_id), MainItem.gsi3sk.startswith("CANDIDACY#"))]

    def list_agency_candidacies(self, agency_id: str) -> list[Candidacy]:
        return [load(Candidacy, i.data) for i in MainItem.by_gsi4.query(org_pk(agency_id), MainItem.gsi4sk.startswith("CANDIDACY#"))]

    def list_candidacies_by_status(self, status: CandidacyStatus, due_before: datetime | None = None) -> list[Candidacy]:
        condition = MainItem.gsi2sk < sort_time(due_before) if due_before is not None else None
        return [load(Candidacy, i.data) for i in MainItem.by_gsi2.query(f"CANDIDACIES#{status.value}", condition)]

    def get_proposal(self, proposal_id: str) -> Proposal | None:
        return _get(Proposal, f"PROPOSAL#{proposal_id}", "PROPOSAL")

    def list_client_proposals(self, client_id: str) -> list[Proposal]:
        items = MainItem.by_gsi1.query(org_pk(client_id), MainItem.gsi1sk.startswith("PROPOSAL#"), scan_index_forward=False)
        return [load(Proposal, i.data) for i in items]

    def get_interview(self, interview_id: str) -> Interview | None:
        return _get(Interview, f"INTERVIEW#{interview_id}", "INTERVIEW")

    def list_candidacy_interviews(self, candidacy_id: str) -> list[Interview]:
        items = MainItem.by_gsi1.query(f"CANDIDACY#{candidacy_id}", MainItem.gsi1sk.startswith("INTERVIEW#"))
        return [load(Interview, i.data) for i in items]

    def get_agent_assignment(self, consultant_id: str) -> AgentAssignment | None:
        return _get(AgentAssignment, user_pk(consultant_id), "AGENT")

    def list_agent_consultants(self, agent_id: str) -> list[AgentAssignment]:
        items = MainItem.by_gsi1.query(f"AGENT#{agent_id}", MainItem.gsi1sk.startswith("CONSULTANT#"))
        return [load(AgentAssignment, i.data) for i in items]


def _oldest_first(candidacies: Iterable[Candidacy]) -> list[Candidacy]:
    return sorted(candidacies, key=lambda c: (c.created_at, c.candidacy_id))


class DynamoEngagementRepository:
    def get_engagement(self, engagement_id: str) -> Engagement | None:
        return _get(Engagement, engagement_pk(engagement_id), "ENGAGEMENT")

    def list_contracts(self, engagement_id: str) -> list[Contract]:
        items = MainItem.query(engagement_pk(engagement_id), MainItem.sk.startswith("CONTRACT#"), consistent_read=True)
        return sorted((load(Contract, i.data) for i in items), key=lambda c: (c.party.value, c.version))

    def get_contract(self, engagement_id: str, contract_id: str) -> Contract | None:
        return _get(Contract, engagement_pk(engagement_id), f"CONTRACT#{contract_id}")

    def find_contract_by_envelope(self, envelope_id: str) -> Contract | None:
        found = next(iter(MainItem.by_gsi1.query(f"ENVELOPE#{envelope_id}", limit=1)), None)
        # The index lags behind writes: the contract itself is read again, strongly.
        return _get(Contract, found.pk, found.sk) if found is not None else None

    def list_client_engagements(self, client_id: str) -> list[Engagement]:
        return _newest_first(MainItem.by_gsi1.query(org_pk(client_id), MainItem.gsi1sk.startswith("ENGAGEMENT#")))

    def list_agency_engagements(self, agency_id: str) -> list[Engagement]:
        return _newest_first(MainItem.by_gsi4.query(org_pk(agency_id), MainItem.gsi4sk.startswith("ENGAGEMENT#")))

    def list_consultant_engagements(self, consultant_id: str) -> list[Engagement]:
        return _newest_first(MainItem.by_gsi3.query(user_pk(consultant_id), MainItem.gsi3sk.startswith("ENGAGEMENT#")))

    def list_engagements_by_status(self, status: EngagementStatus) -> list[Engagement]:
        return _newest_first(MainItem.by_gsi2.query(f"ENGAGEMENTS#{status.value}"))

    def event_processed(self, provider: str, event_id: str) -> bool:
        return _get(ProcessedEvent, f"WEBHOOK#{provider}#{event_id}", "EVENT") is not None

    def envelope_superseded(self, envelope_id: str) -> bool:
        return _get(SupersededEnvelope, f"SUPERSEDED#{envelope_id}", "ENVELOPE") is not None

    def list_open_contracts(self, checked_before: datetime) -> list[Contract]:
        found = MainItem.by_gsi2.query(OPEN_CONTRACTS, MainItem.gsi2sk < sort_time(checked_before))
        # The index lags behind writes: each contract is read again, strongly.
        return [c for c in (_get(Contract, i.pk, i.sk) for i in found) if c is not None]

    def list_engagements_ending_before(self, day: date) -> list[Engagement]:
        active = f"ENGAGEMENTS#{EngagementStatus.ACTIVE.value}"
        due = list(MainItem.by_gsi2.query(active, MainItem.gsi2sk < active_until(day)))
        # Engagements made active before their last day was in the key: few, and fewer with every end.
        earlier = (i for i in MainItem.by_gsi2.query(active, MainItem.gsi2sk.startswith("ENGAGEMENT#")))
        due += [i for i in earlier if load(Engagement, i.data).terms.end_date < day]
        # The index lags behind writes: each is read again, strongly (the job transitions what it read).
        found = (_get(Engagement, i.pk, i.sk) for i in due)
        return [e for e in found if e is not None and e.status is EngagementStatus.ACTIVE]

    def list_changes(self, engagement_id: str) -> list[EngagementChange]:
        items = MainItem.query(engagement_pk(engagement_id), MainItem.sk.startswith("CHANGE#"), consistent_read=True)
        return [load(EngagementChange, i.data) for i in items]

    def get_change(self, engagement_id: str, change_id: str) -> EngagementChange | None:
        return _get(EngagementChange, engagement_pk(engagement_id), f"CHANGE#{change_id}")

    def list_signing_changes(self) -> list[EngagementChange]:
        found = (_get(EngagementChange, i.pk, i.sk) for i in MainItem.by_gsi2.query(SIGNING_CHANGES))
        # The index lags behind writes: each is read again, strongly.
        return [c for c in found if c is not None and c.status is ChangeStatus.SIGNING]


def _newest_first(items: Iterable[MainItem]) -> list[Engagement]:
    return sorted((load(Engagement, i.data) for i in items), key=lambda e: (e.created_at, e.engagement_id), reverse=True)


class DynamoEvaluationRepository:
    def get_schedule(self, engagement_id: str) -> EvaluationSchedule | None:
        return _get(EvaluationSchedule, engagement_pk(engagement_id), "EVALUATION_SCHEDULE")

    def get_round(self, evaluation_id: str) -> EvaluationRound | None:
        return _get(EvaluationRound, evaluation_pk(evaluation_id), "EVALUATION")

    def list_engagement_rounds(self, engagement_id: str) -> list[EvaluationRound]:
        items = MainItem.by_gsi1.query(engagement_pk(engagement_id), MainItem.gsi1sk.startswith("EVALUATION#"))
        # The index lags behind writes: each round is read again, strongly (a part just given shows).
        return [r for r in (_get(EvaluationRound, i.pk, i.sk) for i in items) if r is not None]

    def list_open_rounds(self, due_before: date) -> list[EvaluationRound]:
        return [load(EvaluationRound, i.data) for i in MainItem.by_gsi2.query(OPEN_EVALUATIONS, MainItem.gsi2sk < due_before.isoformat())]

    def list_agent_rounds(self, agent_id: str) -> list[EvaluationRound]:
        items = MainItem.by_gsi4.query(f"AGENT#{agent_id}", MainItem.gsi4sk.startswith("EVALUATION#"))
        return [load(EvaluationRound, i.data) for i in items]

    def list_consultant_rounds(self, consultant_id: str) -> list[EvaluationRound]:
        items = MainItem.by_gsi3.query(user_pk(consultant_id), MainItem.gsi3sk.startswith("EVALUATION#"))
        return [load(EvaluationRound, i.data) for i in items]

    def reminder_sent(self, evaluation_id: str, kind: str, user_id: str) -> bool:
        return _get(EvaluationReminder, evaluation_pk(evaluation_id), f"REMINDER#{kind}#{user_id}") is not None

    def get_escalation(self, escalation_id: str) -> Escalation | None:
        return _get(Escalation, f"ESCALATION#{escalation_id}", "ESCALATION")

    def list_escalations(self, status: EscalationStatus) -> list[Escalation]:
        return [load(Escalation, i.data) for i in MainItem.by_gsi2.query(f"ESCALATIONS#{status.value}", scan_index_forward=False)]

    def list_agent_escalations(self, agent_id: str) -> list[Escalation]:
        items = MainItem.by_gsi4.query(f"AGENT#{agent_id}", MainItem.gsi4sk.startswith("ESCALATION#"))
        return [load(Escalation, i.data) for i in items]

    def list_consultant_escalations(self, consultant_id: str) -> list[Escalation]:
        items = MainItem.by_gsi3.query(user_pk(consultant_id), MainItem.gsi3sk.startswith("ESCALATION#"))
        return [load(Escalation, i.data) for i in items]


class DynamoReviewRepository:
    def get_review(self, review_id: str) -> Review | None:
        return _get(Review, f"REVIEW#{review_id}", "REVIEW")

    def list_consultant_reviews(self, consultant_id: str) -> list[Review]:
        items = MainItem.by_gsi3.query(user_pk(consultant_id), MainItem.gsi3sk.startswith("REVIEW#"))
        return [load(Review, i.data) for i in items]

    def list_reviews_due(self, at: datetime) -> list[Review]:
        # "$" sorts right after "#": the reviews whose deadline is ``at`` itself are due too.
        found = MainItem.by_gsi2.query(PENDING_REVIEWS, MainItem.gsi2sk < f"{sort_time(at)}$")
        # The index lags behind writes: each is read again, strongly.
        return [r for r in (_get(Review, i.pk, i.sk) for i in found) if r is not None and r.status is ReviewStatus.PENDING]

    def get_rating(self, consultant_id: str) -> ConsultantRating | None:
        return _get(ConsultantRating, user_pk(consultant_id), "RATING")

    def get_ratings(self, consultant_ids: Sequence[str]) -> dict[str, ConsultantRating]:
        keys = [(user_pk(consultant_id), "RATING") for consultant_id in dict.fromkeys(consultant_ids)]
        found = (load(ConsultantRating, item.data) for item in MainItem.batch_get(keys))
        return {rating.consultant_id: rating for rating in found}


class DynamoTimesheetRepository:
    def get_entry(self, engagement_id: str, day: date) -> TimeEntry | None:
        return _get(TimeEntry, engagement_pk(engagement_id), f"TIME#{day.isoformat()}")

    def list_entries(self, engagement_id: str, first: date, last: date) -> list[TimeEntry]:
        days = MainItem.sk.between(f"TIME#{first.isoformat()}", f"TIME#{last.isoformat()}")
        return [load(TimeEntry, i.data) for i in MainItem.query(engagement_pk(engagement_id), days, consistent_read=True)]

    def get_period(self, engagement_id: str, key: str) -> Period | None:
        return _get(Period, engagement_pk(engagement_id), f"PERIOD#{key}")

    def list_periods(self, engagement_id: str) -> list[Period]:
        items = MainItem.query(engagement_pk(engagement_id), MainItem.sk.startswith("PERIOD#"), consistent_read=True)
        return [load(Period, i.data) for i in items]

    def list_agency_periods(self, agency_id: str, status: PeriodStatus) -> list[Period]:
        items = MainItem.by_gsi4.query(org_pk(agency_id), MainItem.gsi4sk.startswith(f"PERIOD#{status.value}#"))
        return [load(Period, i.data) for i in items]

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        return _get(Invoice, f"INVOICE#{invoice_id}", "INVOICE")

    def list_engagement_invoices(self, engagement_id: str) -> list[Invoice]:
        items = MainItem.by_gsi1.query(engagement_pk(engagement_id), MainItem.gsi1sk.startswith("INVOICE#"))
        return [load(Invoice, i.data) for i in items]

    def get_claim(self, claim_id: str) -> MilestoneClaim | None:
        return _get(MilestoneClaim, f"CLAIM#{claim_id}", "CLAIM")

    def list_engagement_claims(self, engagement_id: str) -> list[MilestoneClaim]:
        # The index lags behind writes: the claims are read again, strongly (the remainder is computed from them).
        items = MainItem.by_gsi1.query(engagement_pk(engagement_id), MainItem.gsi1sk.startswith("CLAIM#"))
        return [c for c in (_get(MilestoneClaim, i.pk, i.sk) for i in items) if c is not None]


class DynamoPaymentsRepository:
    def get_payout_account(self, agency_id: str) -> PayoutAccountRecord | None:
        return _get(PayoutAccountRecord, org_pk(agency_id), "PAYOUT")

    def find_payout_account(self, account_id: str) -> PayoutAccountRecord | None:
        found = next(iter(MainItem.by_gsi1.query(f"PAYOUT_ACCOUNT#{account_id}", limit=1)), None)
        return _get(PayoutAccountRecord, found.pk, found.sk) if found is not None else None

    def get_customer(self, client_id: str) -> BillingCustomerRecord | None:
        return _get(BillingCustomerRecord, org_pk(client_id), "CUSTOMER")

    def find_invoice(self, provider_invoice_id: str) -> Invoice | None:
        found = next(iter(MainItem.by_gsi3.query(f"PROVIDER_INVOICE#{provider_invoice_id}", limit=1)), None)
        return _get(Invoice, found.pk, found.sk) if found is not None else None

    def list_invoices_by_status(self, status: InvoiceStatus) -> list[Invoice]:
        return [load(Invoice, i.data) for i in MainItem.by_gsi2.query(f"INVOICES#{status.value}")]

    def list_settling_invoices(self) -> list[Invoice]:
        return [load(Invoice, i.data) for i in MainItem.by_gsi2.query(SETTLING_INVOICES)]

    def list_agency_invoices(self, agency_id: str, status: InvoiceStatus) -> list[Invoice]:
        items = MainItem.by_gsi4.query(org_pk(agency_id), MainItem.gsi4sk.startswith(f"INVOICE#{status.value}#"))
        return [load(Invoice, i.data) for i in items]


class DynamoSigningRepository:
    def get_envelope(self, envelope_id: str) -> SigningEnvelope | None:
        return _get(SigningEnvelope, f"ESIGN#{envelope_id}", "ENVELOPE")

    def list_open_envelopes(self, expiring_before: datetime) -> list[SigningEnvelope]:
        return [load(SigningEnvelope, i.data) for i in MainItem.by_gsi2.query("ESIGN#sent", MainItem.gsi2sk < sort_time(expiring_before))]


class DynamoErasureRepository:
    def get_erasure(self, user_id: str) -> Erasure | None:
        return _get(Erasure, f"ERASURE#{user_id}", "ERASURE")

    def list_pending_erasures(self) -> list[Erasure]:
        return [load(Erasure, i.data) for i in MainItem.by_gsi2.query("ERASURES#pending")]

    def list_person_items(self, user_id: str) -> list[PersonItem]:
        return [load(_CLASS_OF_KIND[i.kind], i.data) for i in MainItem.query(user_pk(user_id), consistent_read=True)]

    def list_consultant_candidacies(self, consultant_id: str) -> list[Candidacy]:
        return DynamoProposalRepository().list_consultant_candidacies(consultant_id)

    def list_candidacy_interviews(self, candidacy_id: str) -> list[Interview]:
        return DynamoProposalRepository().list_candidacy_interviews(candidacy_id)

    def list_invitations_for_email(self, email: str) -> list[Invitation]:
        return [load(Invitation, i.data) for i in MainItem.by_gsi2.query(invitee_pk(email))]

    def list_notifications(self, user_id: str) -> list[Notification]:
        return DynamoNotificationRepository().list_notifications(user_id)

    def list_consultant_engagements(self, consultant_id: str) -> list[Engagement]:
        return DynamoEngagementRepository().list_consultant_engagements(consultant_id)

    def list_evaluation_records(self, consultant_id: str) -> list[EvaluationRound | EvaluationReminder | Escalation]:
        repository = DynamoEvaluationRepository()
        records: list[EvaluationRound | EvaluationReminder | Escalation] = []
        for evaluation in repository.list_consultant_rounds(consultant_id):
            # The round's partition: the round and the reminders it sent.
            for item in MainItem.query(evaluation_pk(evaluation.evaluation_id), consistent_read=True):
                records.append(load(_CLASS_OF_KIND[item.kind], item.data))
        return records + repository.list_consultant_escalations(consultant_id)

    def list_consultants_inactive_since(self, moment: datetime) -> list[User]:
        items = MainItem.by_gsi2.query(CONSULTANT_ACTIVITY, MainItem.gsi2sk < sort_time(moment))
        return [load(User, i.data) for i in items]


class DynamoAppendOnlyEraser:
    """Replaces a ledger or audit entry by its pseudonymised copy in one transaction (see the port)."""

    def __init__(self, region: str | None = None) -> None:
        self._connection = Connection(region=region)

    def replace(self, original: ConsentEntry | AuditEntry, copy: ConsentEntry | AuditEntry) -> None:
        old, new = to_item(original), to_item(copy)
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(new, condition=type(new)._hash_key_attribute().does_not_exist())
                transaction.delete(old)
        except TransactWriteError as exc:
            # Only a replacement made meanwhile may be taken for done: the erasure run skips it. Anything
            # else (throttling) must fail the run, or the person's entry would stay as it was.
            _raise_as_conflict(exc, "the entry was replaced meanwhile")
            raise


class DynamoConsentLedger:
    """Reads the ledger. It is written only through DynamoUnitOfWork, as inserts conditional on absence."""

    def list_for_subject(self, subject_id: str) -> list[ConsentEntry]:
        return [load(ConsentEntry, i.data) for i in ConsentEntryItem.query(subject_id, consistent_read=True)]

    def get(self, subject_id: str, entry_id: str) -> ConsentEntry | None:
        try:
            return load(ConsentEntry, ConsentEntryItem.get(subject_id, entry_id, consistent_read=True).data)
        except ConsentEntryItem.DoesNotExist:
            return None


class DynamoAuditLog:
    """Reads the audit log; written like the ledger."""

    def list_for_subject(self, subject_id: str) -> list[AuditEntry]:
        return [load(AuditEntry, i.data) for i in AuditEntryItem.query(subject_id, consistent_read=True)]


class DynamoOutbox:
    """The e-mail outbox in the main table; the stream handler delivers what is inserted."""

    def already_sent(self, message_id: str) -> bool:
        try:
            return MainItem.get(f"OUTBOX#{message_id}", "OUTBOX", consistent_read=True).status == "sent"
        except MainItem.DoesNotExist:
            return True  # removed by TTL, long after it was sent

    def mark_sent(self, message: OutboxMessage) -> None:
        from pynamodb.exceptions import UpdateError

        redacted = replace(message, to="", text="", attachments=())
        item = MainItem(f"OUTBOX#{message.message_id}", "OUTBOX")
        # A concurrent delivery of the same record may have marked it already.
        with suppress(UpdateError):
            item.update(
                actions=[MainItem.status.set("sent"), MainItem.data.set(dump(redacted))],
                condition=MainItem.pk.exists() & MainItem.status.does_not_exist(),
            )


def outbox_message_from_image(image: dict[str, Any]) -> OutboxMessage:
    """The outbox message in a stream record's new image (``data`` is the JSON the codec wrote)."""
    data = image["data"]
    return load(OutboxMessage, json.loads(data) if isinstance(data, str) else data)
