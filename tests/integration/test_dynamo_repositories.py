"""The DynamoDB adapter against a moto server: conditional writes, transactions, the append-only ledger."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest

from chalicelib.adapters.dynamo.models import ConsentEntryItem, MainItem
from chalicelib.adapters.dynamo.repositories import DynamoAccountRepository, DynamoAuditLog, DynamoConsentLedger, DynamoUnitOfWork
from chalicelib.domain.accounts import ConsentDocument, ConsentDocumentStatus, Organisation, OrgKind, OrgStatus, User
from chalicelib.domain.consent import ConsentAction, ConsentEntry, ConsentPurpose, ConsentSource
from chalicelib.domain.contracts import Engagement
from chalicelib.domain.identity import Role
from chalicelib.domain.ids import new_id, utcnow
from chalicelib.errors import ConcurrencyConflict
from chalicelib.services.ports import Changes, Expect, UniqueClaim
from tests.conftest import LocalStack, unique_email

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(local_aws: LocalStack) -> LocalStack:
    _ = local_aws.container.uow  # binds the table names
    return local_aws


def organisation(kind: OrgKind = OrgKind.CLIENT, status: OrgStatus = OrgStatus.PENDING_APPROVAL) -> Organisation:
    return Organisation(org_id=new_id(), kind=kind, name="Client AB", country="SE", status=status, created_at=utcnow())


def consent(subject: str) -> ConsentEntry:
    return ConsentEntry(
        subject_id=subject,
        entry_id=new_id(),
        action=ConsentAction.GIVEN,
        purpose=ConsentPurpose.PLATFORM_PROCESSING,
        at=utcnow(),
        source=ConsentSource.FORM,
        actor_id=subject,
        notice_version="v1",
        notice_sha256="0" * 64,
    )


def test_a_transaction_writes_all_or_nothing(stack: LocalStack) -> None:
    uow, repo = DynamoUnitOfWork("eu-north-1"), DynamoAccountRepository()
    email = unique_email()
    user_id = new_id()
    uow.commit(Changes().insert(UniqueClaim("email", email, user_id)))
    org = organisation()
    user = User(user_id=new_id(), email=email, name="X", roles=frozenset({Role.CLIENT}), created_at=utcnow(), org_id=org.org_id)
    with pytest.raises(ConcurrencyConflict) as raised:
        uow.commit(Changes().insert(org).insert(UniqueClaim("email", email, user.user_id)).insert(user))
    assert raised.value.cancellation_reasons[1] == "ConditionalCheckFailed"
    assert repo.get_organisation(org.org_id) is None and repo.get_user(user.user_id) is None
    assert repo.claim_owner("email", email) == user_id


def test_transitions_only_from_the_expected_status(stack: LocalStack) -> None:
    uow, repo = DynamoUnitOfWork("eu-north-1"), DynamoAccountRepository()
    org = organisation()
    uow.commit(Changes().insert(org))
    approved = replace(org, status=OrgStatus.ACTIVE)
    uow.commit(Changes().transition(approved, OrgStatus.PENDING_APPROVAL.value))
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().transition(replace(org, status=OrgStatus.REJECTED), OrgStatus.PENDING_APPROVAL.value))
    assert repo.get_organisation(org.org_id) == approved
    assert org.org_id not in [o.org_id for o in repo.list_organisations(OrgKind.CLIENT, OrgStatus.PENDING_APPROVAL)]
    assert org.org_id in [o.org_id for o in repo.list_organisations(OrgKind.CLIENT, OrgStatus.ACTIVE)]


def test_access_patterns_are_queries_on_keys_and_indexes(stack: LocalStack) -> None:
    uow, repo = DynamoUnitOfWork("eu-north-1"), DynamoAccountRepository()
    agency = organisation(OrgKind.AGENCY, OrgStatus.ACTIVE)
    members = [
        User(
            user_id=new_id(), email=unique_email(), name="M", roles=frozenset({Role.CONSULTANT}), created_at=utcnow(), org_id=agency.org_id
        )
        for _ in range(3)
    ]
    document = ConsentDocument(
        document_id=new_id(),
        agency_id=agency.org_id,
        consultant_name="C",
        consultant_email=unique_email(),
        uploaded_by=members[0].user_id,
        created_at=utcnow(),
        object_key="k",
    )
    changes = Changes().insert(agency).insert(document)
    for member in members:
        changes.insert(member)
    uow.commit(changes)
    assert {u.user_id for u in repo.list_members(agency.org_id)} == {m.user_id for m in members}
    assert [d.document_id for d in repo.list_consent_documents(agency.org_id)] == [document.document_id]
    uploaded = replace(document, status=ConsentDocumentStatus.UPLOADED, sha256="a" * 64)
    uow.commit(Changes().transition(uploaded, ConsentDocumentStatus.AWAITING_UPLOAD.value))
    assert document.document_id in [d.document_id for d in repo.list_consent_documents_by_status(ConsentDocumentStatus.UPLOADED)]
    assert document.document_id not in [d.document_id for d in repo.list_consent_documents_by_status(ConsentDocumentStatus.AWAITING_UPLOAD)]
    assert repo.get_consent_document(document.document_id) == uploaded


def test_the_ledger_offers_no_update_or_delete_and_never_overwrites(stack: LocalStack) -> None:
    for repository, reads in ((DynamoConsentLedger, {"list_for_subject", "get"}), (DynamoAuditLog, {"list_for_subject"})):
        public = {name for name, _ in inspect.getmembers(repository, inspect.isfunction) if not name.startswith("_")}
        assert public == reads  # reads only: writes go through the unit of work
    uow, ledger, subject = DynamoUnitOfWork("eu-north-1"), DynamoConsentLedger(), new_id()
    entry = consent(subject)
    uow.commit(Changes().insert(entry))
    with pytest.raises(ConcurrencyConflict):  # the put is conditional on absence
        uow.commit(Changes().insert(replace(entry, notice_version="forged")))
    # The unit of work refuses anything but an insert on the append-only tables.
    with pytest.raises(ValueError, match="append-only"):
        uow.commit(Changes(writes=[(replace(entry, notice_version="forged"), Expect(status="given"))]))
    assert ledger.list_for_subject(subject) == [entry]
    assert ConsentEntryItem.get(subject, entry.entry_id).data["notice_version"] == "v1"


def test_a_commit_that_requires_a_consent_in_force_fails_once_it_is_withdrawn(stack: LocalStack) -> None:
    from chalicelib.domain.consent import withdrawal_entry_id

    uow, ledger, subject = DynamoUnitOfWork("eu-north-1"), DynamoConsentLedger(), new_id()
    given = consent(subject)
    uow.commit(Changes().insert(given))
    assert ledger.get(subject, given.entry_id) == given and ledger.get(subject, "missing") is None
    claim = UniqueClaim("email", unique_email(), "u1")
    uow.commit(Changes().require_in_force(given).insert(claim))  # a ConditionCheck: nothing written to the ledger
    assert ledger.list_for_subject(subject) == [given]
    withdrawal = replace(
        given, entry_id=withdrawal_entry_id(given.entry_id), action=ConsentAction.WITHDRAWN, withdraws_entry_id=given.entry_id
    )
    uow.commit(Changes().insert(withdrawal))
    later = UniqueClaim("email", unique_email(), "u2")
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().require_in_force(given).insert(later))
    assert DynamoAccountRepository().claim_owner("email", later.value) is None  # all or nothing


def test_nothing_in_the_application_updates_or_deletes_ledger_or_audit_items() -> None:
    import pathlib
    import re

    sources = [p for p in pathlib.Path("chalicelib").rglob("*.py") if "local" not in p.parts]
    for path in sources:
        text = path.read_text()
        for model in ("ConsentEntryItem", "AuditEntryItem"):
            assert not re.search(rf"{model}\b[^\n]*\.(update|delete|batch_write)\(", text), path


def test_audit_log_is_queryable_by_subject_in_time_order(stack: LocalStack) -> None:
    from chalicelib.domain.audit import AuditAction, AuditEntry

    log, subject = DynamoAuditLog(), new_id()
    entries = [
        AuditEntry(
            subject_id=subject,
            entry_id=new_id(),
            at=utcnow(),
            actor_id="staff",
            action=AuditAction.CONSENTS_READ,
            object_type="subject",
            object_id=subject,
        )
        for _ in range(3)
    ]
    for entry in entries:
        DynamoUnitOfWork("eu-north-1").commit(Changes().insert(entry))
    assert log.list_for_subject(subject) == entries


def test_tables_have_the_indexes_stream_and_ttl_the_app_relies_on(stack: LocalStack) -> None:
    description = MainItem.describe_table()
    assert {i["IndexName"] for i in description["GlobalSecondaryIndexes"]} == {"gsi1", "gsi2", "gsi3", "gsi4"}
    assert description["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = MainItem._get_connection().connection.client.describe_time_to_live(TableName=MainItem.Meta.table_name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl"


def test_a_sent_outbox_message_keeps_no_recipient_or_text(stack: LocalStack) -> None:
    from chalicelib.adapters.dynamo.repositories import DynamoOutbox
    from chalicelib.services.ports import Attachment, OutboxMessage

    invite = Attachment("invite.ics", "text/calendar; method=REQUEST", "BEGIN:VCALENDAR\r\nATTENDEE;CN=Cecilia:mailto:c@example.com\r\n")
    message = OutboxMessage(new_id(), unique_email(), "Your code", "invitation code: secret-code-123", utcnow(), (invite,))
    DynamoUnitOfWork("eu-north-1").commit(Changes().insert(message))
    assert MainItem.get(f"OUTBOX#{message.message_id}", "OUTBOX").data["attachments"][0]["filename"] == "invite.ics"
    outbox = DynamoOutbox()
    assert not outbox.already_sent(message.message_id)
    outbox.mark_sent(message)
    outbox.mark_sent(message)  # a redelivery marks nothing twice and fails nothing
    assert outbox.already_sent(message.message_id)
    stored = MainItem.get(f"OUTBOX#{message.message_id}", "OUTBOX")
    assert stored.data["to"] == "" and stored.data["text"] == "" and stored.data["subject"] == "Your code"
    assert stored.data["attachments"] == []
    assert stored.expires is not None


def test_deletes_are_conditional_and_never_reach_the_ledger(stack: LocalStack) -> None:
    uow, repo = DynamoUnitOfWork("eu-north-1"), DynamoAccountRepository()
    org = organisation()
    claim = UniqueClaim("organisation_number", f"SE:{new_id()}", org.org_id)
    uow.commit(Changes().insert(org).insert(claim))
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().delete(org, OrgStatus.ACTIVE.value).delete(claim))  # the status differs: nothing is deleted
    assert repo.get_organisation(org.org_id) == org and repo.claim_owner(claim.namespace, claim.value) == org.org_id
    uow.commit(Changes().delete(org, OrgStatus.PENDING_APPROVAL.value).delete(claim))
    assert repo.get_organisation(org.org_id) is None and repo.claim_owner(claim.namespace, claim.value) is None
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().delete(claim))  # already gone
    entry = consent(new_id())
    uow.commit(Changes().insert(entry))
    with pytest.raises(ValueError, match="append-only"):
        uow.commit(Changes(writes=[(entry, Expect(delete=True))]))
    assert DynamoConsentLedger().list_for_subject(entry.subject_id) == [entry]


def test_a_transition_can_require_the_item_to_be_filed_where_it_was_read(stack: LocalStack) -> None:
    uow, repo = DynamoUnitOfWork("eu-north-1"), DynamoAccountRepository()
    user = User(user_id=new_id(), email=unique_email(), name="U", roles=frozenset({Role.CONSULTANT}), created_at=utcnow(), org_id="A" * 26)
    uow.commit(Changes().insert(user))
    moved = replace(user, org_id="B" * 26)
    uow.commit(Changes().transition(moved, "active", was=user))
    with pytest.raises(ConcurrencyConflict):  # a second writer that read the user in organisation A
        uow.commit(Changes().transition(replace(user, org_id="C" * 26), "active", was=user))
    assert repo.get_user(user.user_id) == moved


def test_consultants_are_found_by_last_activity_and_others_never(stack: LocalStack) -> None:
    from datetime import timedelta

    from chalicelib.adapters.dynamo.repositories import DynamoErasureRepository

    uow, erasures, now = DynamoUnitOfWork("eu-north-1"), DynamoErasureRepository(), utcnow()
    # Far in the past, so that no other test's consultant is older.
    long_ago = now - timedelta(days=365 * 40)

    def user(roles: set[Role], active: timedelta) -> User:
        return User(new_id(), unique_email(), "N", frozenset(roles), created_at=long_ago, last_active_at=long_ago + active)

    asleep, awake, admin = (
        user({Role.CONSULTANT}, timedelta(0)),
        user({Role.CONSULTANT}, timedelta(days=300)),
        user({Role.AGENCY_ADMIN}, timedelta(0)),
    )
    uow.commit(Changes().insert(asleep).insert(awake).insert(admin))
    found = [u.user_id for u in erasures.list_consultants_inactive_since(long_ago + timedelta(days=100))]
    assert found == [asleep.user_id]
    # Recorded activity moves the consultant in the index: the transition rewrites its key.
    uow.commit(Changes().transition(replace(asleep, last_active_at=now), asleep.status.value, was=asleep))
    assert erasures.list_consultants_inactive_since(long_ago + timedelta(days=100)) == []


def test_an_append_only_entry_is_replaced_by_its_copy_once(stack: LocalStack) -> None:
    from chalicelib.adapters.dynamo.repositories import DynamoAppendOnlyEraser

    uow, ledger, eraser = DynamoUnitOfWork("eu-north-1"), DynamoConsentLedger(), DynamoAppendOnlyEraser("eu-north-1")
    original = consent(new_id())
    uow.commit(Changes().insert(original))
    copy = replace(original, subject_id=f"erased-{new_id()}", ip=None)
    eraser.replace(original, copy)
    assert ledger.list_for_subject(original.subject_id) == []
    assert ledger.list_for_subject(copy.subject_id) == [copy]
    with pytest.raises(ConcurrencyConflict):  # a second run finds the copy already there and changes nothing
        eraser.replace(original, copy)
    assert ledger.list_for_subject(copy.subject_id) == [copy]


def test_a_write_at_a_stale_revision_is_refused(stack: LocalStack) -> None:
    from chalicelib.adapters.dynamo.repositories import DynamoProfileRepository
    from chalicelib.domain.files import FileKind, FilePurpose, FileStatus, UploadedFile

    uow, profiles, user_id, file_id = DynamoUnitOfWork("eu-north-1"), DynamoProfileRepository(), new_id(), new_id()
    file = UploadedFile(
        user_id, file_id, FilePurpose.CV, FileKind.PDF, "cv.pdf", utcnow(), f"files/{user_id}/{file_id}", FileStatus.ACCEPTED
    )
    uow.commit(Changes().insert(file))
    uow.commit(Changes().transition(replace(file, filename="a.pdf", revision=1), "accepted", revision=0))
    with pytest.raises(ConcurrencyConflict):  # written from the copy read before the first change
        uow.commit(Changes().transition(replace(file, filename="b.pdf", revision=1), "accepted", revision=0))
    stored = profiles.get_file(user_id, file_id)
    assert stored is not None and (stored.filename, stored.revision) == ("a.pdf", 1)


def test_pending_files_are_listed_until_checked(stack: LocalStack) -> None:
    from datetime import timedelta

    from chalicelib.adapters.dynamo.repositories import DynamoProfileRepository
    from chalicelib.domain.files import FileKind, FilePurpose, FileStatus, UploadedFile

    uow, profiles, user_id, file_id = DynamoUnitOfWork("eu-north-1"), DynamoProfileRepository(), new_id(), new_id()
    created = utcnow() - timedelta(days=365 * 30)  # older than any other test's file
    file = UploadedFile(user_id, file_id, FilePurpose.CV, FileKind.PDF, "cv.pdf", created, f"files/{user_id}/{file_id}")
    uow.commit(Changes().insert(file))
    assert [f.file_id for f in profiles.list_pending_files(created + timedelta(seconds=1))] == [file_id]
    assert profiles.list_pending_files(created) == []
    uow.commit(Changes().transition(replace(file, status=FileStatus.ACCEPTED), "pending", was=file))
    assert profiles.list_pending_files(created + timedelta(seconds=1)) == []


def test_an_item_stored_before_it_had_a_revision_counts_as_revision_zero(stack: LocalStack) -> None:
    from chalicelib.adapters.dynamo.repositories import DynamoProfileRepository, to_item
    from chalicelib.domain.files import FileKind, FilePurpose, FileStatus, UploadedFile

    uow, profiles, user_id, file_id = DynamoUnitOfWork("eu-north-1"), DynamoProfileRepository(), new_id(), new_id()
    file = UploadedFile(
        user_id, file_id, FilePurpose.CV, FileKind.PDF, "cv.pdf", utcnow(), f"files/{user_id}/{file_id}", FileStatus.ACCEPTED
    )
    legacy = to_item(file)
    legacy.revision = None  # as written before revisions existed
    legacy.save()
    uow.commit(Changes().transition(replace(file, filename="a.pdf", revision=1), "accepted", revision=0))
    stored = profiles.get_file(user_id, file_id)
    assert stored is not None and stored.revision == 1


def test_a_write_from_a_user_copy_read_before_a_sign_in_is_refused(stack: LocalStack) -> None:
    uow, repo = DynamoUnitOfWork("eu-north-1"), DynamoAccountRepository()
    user = User(new_id(), unique_email(), "N", frozenset({Role.CONSULTANT}), created_at=utcnow())
    uow.commit(Changes().insert(user))
    uow.commit(Changes().transition(replace(user, last_active_at=utcnow()), user.status.value, was=user))  # a sign-in
    with pytest.raises(ConcurrencyConflict):  # e.g. the retention job's notice, from the copy it listed earlier
        uow.commit(Changes().transition(replace(user, retention_notice_at=utcnow()), user.status.value, was=user))
    stored = repo.get_user(user.user_id)
    assert stored is not None and stored.last_active_at is not None and stored.retention_notice_at is None


def test_assignments_are_listed_per_company_and_status_and_move_between_lists(stack: LocalStack) -> None:
    from datetime import date

    from chalicelib.adapters.dynamo.repositories import DynamoAssignmentRepository
    from chalicelib.domain.assignments import Assignment, AssignmentStatus, Seniority, SkillRequirement
    from chalicelib.domain.money import HourlyRate

    uow, repo, client_id, now = DynamoUnitOfWork("eu-north-1"), DynamoAssignmentRepository(), new_id(), utcnow()

    def assignment(title: str) -> Assignment:
        return Assignment(
            new_id(), client_id, title, "d", [SkillRequirement("python", "Python")], Seniority.SENIOR, date(2030, 1, 1), None, 100,
            now, "u", now, "u", max_hourly_rate=HourlyRate(100000, "SEK"),
        )  # fmt: skip

    first, second = assignment("first"), assignment("second")
    uow.commit(Changes().insert(first).insert(second))
    opened = replace(first, status=AssignmentStatus.OPEN, published_at=now)
    uow.commit(Changes().transition(opened, "draft", was=first))
    assert [a.title for a in repo.list_client_assignments(client_id, None)] == ["second", "first"]  # newest first
    assert [a.title for a in repo.list_client_assignments(client_id, AssignmentStatus.OPEN)] == ["first"]
    assert [a.title for a in repo.list_client_assignments(client_id, AssignmentStatus.DRAFT)] == ["second"]
    assert first.assignment_id in [a.assignment_id for a in repo.list_assignments_by_status(AssignmentStatus.OPEN)]
    assert first.assignment_id not in [a.assignment_id for a in repo.list_assignments_by_status(AssignmentStatus.DRAFT)]
    with pytest.raises(ConcurrencyConflict):  # moved from the copy read as a draft, after it opened
        uow.commit(Changes().transition(replace(first, status=AssignmentStatus.CANCELLED), "draft", was=first))
    stored = repo.get_assignment(first.assignment_id)
    assert stored is not None and stored.status is AssignmentStatus.OPEN


def test_an_append_only_replacement_that_fails_otherwise_is_no_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Erasure skips a conflict as "done by a concurrent run": a throttled transaction must not look like one."""
    from pynamodb.connection.base import VerboseClientError
    from pynamodb.exceptions import CancellationReason, TransactWriteError

    from chalicelib.adapters.dynamo import repositories

    def failing(code: str) -> type:
        cause = VerboseClientError(
            {"Error": {"Code": "TransactionCanceledException", "Message": "x"}},
            "TransactWriteItems",
            cancellation_reasons=[CancellationReason(code), None],
        )

        class Transaction:
            def __init__(self, **_: object) -> None:
                pass

            def __enter__(self) -> Transaction:
                return self

            def __exit__(self, *_: object) -> None:
                raise TransactWriteError("cancelled", cause)

            def save(self, *_: object, **__: object) -> None:
                pass

            def delete(self, *_: object, **__: object) -> None:
                pass

        return Transaction

    original = consent(new_id())
    copy = replace(original, subject_id=f"erased-{new_id()}", ip=None)
    monkeypatch.setattr(repositories, "TransactWrite", failing("ThrottlingError"))
    with pytest.raises(TransactWriteError):
        repositories.DynamoAppendOnlyEraser("eu-north-1").replace(original, copy)
    monkeypatch.setattr(repositories, "TransactWrite", failing("ConditionalCheckFailed"))
    with pytest.raises(ConcurrencyConflict):
        repositories.DynamoAppendOnlyEraser("eu-north-1").replace(original, copy)


def test_notifications_live_in_the_persons_partition_newest_first_and_are_found_by_id(stack: LocalStack) -> None:
    from datetime import timedelta

    from chalicelib.adapters.dynamo.repositories import DynamoErasureRepository, DynamoNotificationRepository
    from chalicelib.domain.notifications import Notification, NotificationStatus

    uow, repository = DynamoUnitOfWork("eu-north-1"), DynamoNotificationRepository()
    user_id, other_id, now = new_id(), new_id(), utcnow()
    older, newer = (Notification(user_id, new_id(), "candidate_accepted", f"S{i}", "T", now + timedelta(minutes=i)) for i in (0, 1))
    elsewhere = Notification(other_id, new_id(), "candidate_accepted", "S", "T", now)
    uow.commit(Changes().insert(older).insert(newer).insert(elsewhere))

    assert repository.list_notifications(user_id) == [newer, older]
    assert repository.get_notification(user_id, older.notification_id) == older
    assert repository.get_notification(other_id, older.notification_id) is None  # only the owner's
    read = older.marked_read(now)
    uow.commit(Changes().transition(read, NotificationStatus.UNREAD.value))
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().transition(read, NotificationStatus.UNREAD.value))
    assert repository.get_notification(user_id, older.notification_id) == read
    assert sorted(n.subject for n in DynamoErasureRepository().list_person_items(user_id) if isinstance(n, Notification)) == ["S0", "S1"]


def test_staff_stored_before_they_were_filed_together_are_filed_by_their_next_write(stack: LocalStack) -> None:
    from chalicelib.adapters.dynamo.repositories import to_item

    uow, accounts = DynamoUnitOfWork(), DynamoAccountRepository()
    staff = User(user_id=new_id(), email=unique_email("staff"), name="Old Staff", roles=frozenset({Role.STAFF}), created_at=utcnow())
    legacy = to_item(staff)
    legacy.gsi1pk = legacy.gsi1sk = None  # as written before staff had an index entry
    legacy.save()
    assert staff.user_id not in {u.user_id for u in accounts.list_staff()}
    # A write conditioned on the copy read (an activity stamp, say) still finds the item, and files it.
    uow.commit(Changes().transition(replace(staff, name="Old Staff Renamed"), staff.status.value, was=staff))
    assert staff.user_id in {u.user_id for u in accounts.list_staff()}
    # Once filed, a copy filed elsewhere is refused as before.
    moved = replace(staff, org_id="someone-else")
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().transition(staff, staff.status.value, was=moved))


def test_evaluation_rounds_and_escalations_are_made_once_and_filed_for_the_agent_and_staff(stack: LocalStack) -> None:
    from datetime import date

    from chalicelib.adapters.dynamo.repositories import DynamoEvaluationRepository
    from chalicelib.domain.evaluations import (
        Escalation,
        EscalationReason,
        EscalationStatus,
        EvaluationReminder,
        EvaluationRound,
        EvaluationSchedule,
        ReminderKind,
        RoundStatus,
        escalation_id,
        round_id,
    )

    uow, repo = DynamoUnitOfWork("eu-north-1"), DynamoEvaluationRepository()
    engagement_id, consultant_id, agent_id, now = new_id(), new_id(), new_id(), utcnow()
    due = date(2026, 11, 27)

    def opened(day: date) -> EvaluationRound:
        return EvaluationRound(
            round_id(engagement_id, day), engagement_id, new_id(), new_id(), new_id(), consultant_id, day, day, day, now, agent_id
        )

    first, second = opened(due), opened(date(2026, 12, 27))
    uow.commit(Changes().insert(first).insert(second))
    with pytest.raises(ConcurrencyConflict):  # the same engagement and due date: the same key
        uow.commit(Changes().insert(opened(due)))
    assert repo.get_round(first.evaluation_id) == first
    assert [r.due_date for r in repo.list_engagement_rounds(engagement_id)] == [first.due_date, second.due_date]
    assert [r.evaluation_id for r in repo.list_open_rounds(date(2026, 11, 28)) if r.consultant_id == consultant_id] == [first.evaluation_id]
    assert [r.evaluation_id for r in repo.list_agent_rounds(agent_id)] == [first.evaluation_id, second.evaluation_id]
    closed = replace(first, status=RoundStatus.COMPLETED, revision=1)
    uow.commit(Changes().transition(closed, RoundStatus.OPEN.value, revision=0))
    assert [r.evaluation_id for r in repo.list_agent_rounds(agent_id)] == [second.evaluation_id]  # only open ones are the agent's to do
    assert all(r.evaluation_id != first.evaluation_id for r in repo.list_open_rounds(date(2027, 1, 1)))
    assert {r.evaluation_id for r in repo.list_consultant_rounds(consultant_id)} == {first.evaluation_id, second.evaluation_id}

    reminder = EvaluationReminder(first.evaluation_id, ReminderKind.DUE, consultant_id, now)
    uow.commit(Changes().insert(reminder))
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().insert(reminder))
    assert repo.reminder_sent(first.evaluation_id, "due", consultant_id) and not repo.reminder_sent(
        first.evaluation_id, "deadline", consultant_id
    )

    escalation = Escalation(
        escalation_id(first.evaluation_id, due, EscalationReason.LOW_SCORE),
        EscalationReason.LOW_SCORE,
        first.evaluation_id,
        engagement_id,
        consultant_id,
        due,
        now,
        agent_id,
        "Low scores",
    )
    uow.commit(Changes().insert(escalation))
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().insert(escalation))
    assert repo.list_agent_escalations(agent_id) == [escalation] and repo.list_consultant_escalations(consultant_id) == [escalation]
    assert escalation in repo.list_escalations(EscalationStatus.OPEN)
    resolved = escalation.resolved("staff", "Done", now)
    uow.commit(Changes().transition(resolved, EscalationStatus.OPEN.value, revision=0))
    assert repo.list_agent_escalations(agent_id) == [] and resolved in repo.list_escalations(EscalationStatus.RESOLVED)
    assert escalation not in repo.list_escalations(EscalationStatus.OPEN)

    schedule = EvaluationSchedule(engagement_id, 7, 14, 5, now, "staff")
    uow.commit(Changes().insert(schedule))
    changed = replace(schedule, every_days=21, revision=1)
    uow.commit(Changes().update(changed, revision=0))
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().update(replace(schedule, every_days=30, revision=1), revision=0))
    assert repo.get_schedule(engagement_id) == changed


def _engagement(status: str, last_day: str) -> Engagement:
    from datetime import date

    from chalicelib.domain.contracts import EngagementStatus, EngagementTerms, Pricing

    terms = EngagementTerms(Pricing.HOURLY, "SEK", 1500, date(2026, 1, 5), date.fromisoformat(last_day), 100, "Work", rate_minor=100_000)
    now = utcnow()
    return Engagement(
        new_id(), new_id(), new_id(), new_id(), new_id(), new_id(), new_id(), new_id(), now, now, terms, EngagementStatus(status)
    )


def test_active_engagements_are_found_by_their_last_day_also_when_filed_before_it_was_in_the_key(stack: LocalStack) -> None:
    from datetime import date

    from chalicelib.adapters.dynamo.repositories import DynamoEngagementRepository, to_item

    uow, repo = DynamoUnitOfWork("eu-north-1"), DynamoEngagementRepository()
    over, today, later, contracting = (
        _engagement("active", "2026-11-26"),
        _engagement("active", "2026-11-27"),
        _engagement("active", "2027-03-31"),
        _engagement("contracting", "2026-11-26"),
    )
    for engagement in (over, today, later, contracting):
        uow.commit(Changes().insert(engagement))
    legacy = _engagement("active", "2026-10-31")  # made active before its last day was in its gsi2 key
    item = to_item(legacy)
    item.gsi2sk = f"ENGAGEMENT#{legacy.created_at.isoformat()}#{legacy.engagement_id}"
    item.save()
    found = {e.engagement_id for e in repo.list_engagements_ending_before(date(2026, 11, 27))}
    assert {over.engagement_id, legacy.engagement_id} <= found
    assert not {today.engagement_id, later.engagement_id, contracting.engagement_id} & found


def test_reviews_are_found_by_id_by_consultant_and_when_due_and_the_rating_is_written_at_its_revision(stack: LocalStack) -> None:
    from datetime import timedelta

    from chalicelib.adapters.dynamo.repositories import DynamoReviewRepository
    from chalicelib.domain.reviews import ConsultantRating, Review, ReviewSide, ReviewStatus

    uow, repo = DynamoUnitOfWork("eu-north-1"), DynamoReviewRepository()
    consultant, now = new_id(), utcnow()

    def review(deadline_in: timedelta) -> Review:
        return Review(
            new_id(), new_id(), ReviewSide.CLIENT, consultant, new_id(), new_id(), new_id(), 4, "Good", now, now, "u", now + deadline_in
        )

    due, exactly, later = review(-timedelta(minutes=1)), review(timedelta()), review(timedelta(days=3))
    for r in (due, exactly, later):
        uow.commit(Changes().insert(r))
    assert repo.get_review(due.review_id) == due
    assert [r.review_id for r in repo.list_consultant_reviews(consultant)] == [due.review_id, exactly.review_id, later.review_id]
    pending = {r.review_id for r in repo.list_reviews_due(now)}
    assert {due.review_id, exactly.review_id} <= pending and later.review_id not in pending
    uow.commit(Changes().transition(due.with_reveal(now), ReviewStatus.PENDING.value, revision=due.revision))
    assert due.review_id not in {r.review_id for r in repo.list_reviews_due(now)}  # recorded: off the jobs' list

    first = ConsultantRating(consultant, now).changed(4, 1, now)
    uow.commit(Changes().insert(first))
    uow.commit(Changes().update(first.changed(5, 1, now), revision=first.revision))
    with pytest.raises(ConcurrencyConflict):
        uow.commit(Changes().update(first.changed(3, 1, now), revision=first.revision))  # a stale copy
    stored = repo.get_rating(consultant)
    assert stored is not None and (stored.count, stored.average) == (2, 4.5)
    # A match run reads every candidate's rating in one batch; those without one are simply absent.
    assert repo.get_ratings([consultant, new_id(), consultant]) == {consultant: stored}
