"""The main table's DynamoDB stream → this handler.

It delivers the outbox: e-mails committed in the same transaction as the change that caused them (an
invitation, a verified consent document), so a mail goes out if and only if the change is stored. And it
keeps the search index true: any change to a consultant's account, profile, resume or consents (inserted,
modified or removed) reindexes that consultant, which also removes them when they must not be found. A
consultant changed many times in one batch (a JSON Resume import writes hundreds of items) is reindexed
once, at their last record: a reindex reads the current state, so it covers the earlier ones. Records
that cannot change findability (an account's activity stamp, an expiring consent marker) reindex nobody. Long
privacy work (erasures, export archives) has its own consumer of the same stream:
chalicelib/events/privacy.py.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord, DynamoDBRecordEventName

from chalicelib.container import get_container
from chalicelib.logging import log_failure, logger
from chalicelib.services import outbox

# The kinds whose change can change how (or whether) a consultant is found.
INDEXED_KINDS = frozenset({"user", "profile", "resume_item", "consent_changed"})


def _indexed_consultant(kind: Any, pk: Any) -> str | None:
    """The consultant whose findability a record of this kind and key may change, if any."""
    if kind in INDEXED_KINDS and isinstance(pk, str) and pk.startswith("USER#"):
        return pk.removeprefix("USER#")
    return None


def last_records_per_consultant(records: list[dict[str, Any]]) -> set[str]:
    """Sequence numbers of each consultant's last record in a raw batch (images in DynamoDB JSON), among
    the records that may change how they are found."""
    last: dict[str, str] = {}
    for record in records:
        change = record.get("dynamodb") or {}
        image = change.get("NewImage") or change.get("OldImage") or {}
        user_id = _indexed_consultant(image.get("kind", {}).get("S"), image.get("pk", {}).get("S"))
        if user_id is not None and _may_change_findability(record.get("eventName"), image["kind"]["S"], change):
            last[user_id] = change["SequenceNumber"]
    return set(last.values())


def _may_change_findability(event: Any, kind: str, change: dict[str, Any]) -> bool:
    """False for the frequent records that cannot: an account's daily activity stamp or a retention notice
    (only its status and roles matter to the index), and a consent marker expiring (its TTL removal)."""
    if kind == "consent_changed":
        return event != "REMOVE"
    if kind == "user" and event == "MODIFY":
        return _account_access(change.get("OldImage")) != _account_access(change.get("NewImage"))
    return True


def _account_access(image: dict[str, Any] | None) -> tuple[Any, list[str]]:
    data = json.loads((image or {}).get("data", {}).get("S") or "{}")
    return data.get("status"), sorted(data.get("roles") or [])  # a set, stored in no particular order


def handle_record(record: DynamoDBRecord, reindex_at: set[str] | None = None) -> None:
    """``reindex_at``: the records at which to reindex (each consultant's last in the batch); all when None."""
    if record.dynamodb is None:
        return
    image = record.dynamodb.new_image or record.dynamodb.old_image  # a removal has only the old one
    kind = image.get("kind")
    user_id = _indexed_consultant(kind, image.get("pk"))
    if kind == "user" and _became_active_consultant(record.dynamodb.old_image, record.dynamodb.new_image):
        _assign_agent(image)
    if kind == "outbox" and record.event_name is DynamoDBRecordEventName.INSERT:
        _send_outbox_message(image)
    elif kind == "webhook_delivery" and record.event_name is DynamoDBRecordEventName.INSERT:
        _deliver_webhook(image)
    elif kind == "invoice" and record.event_name is DynamoDBRecordEventName.INSERT:
        _issue_invoice(image)
    elif kind == "payout_account" and record.event_name is DynamoDBRecordEventName.MODIFY:
        _issue_waiting_invoices(record.dynamodb.old_image, image)
    elif user_id is not None and (reindex_at is None or record.dynamodb.sequence_number in reindex_at):
        _reindex(user_id)


def _data(image: dict[str, Any] | None) -> dict[str, Any]:
    """An item's ``data`` as the stream record (deserialized) carries it."""
    data = (image or {}).get("data")
    return json.loads(data) if isinstance(data, str) else (data or {})


def _became_active_consultant(old_image: dict[str, Any] | None, new_image: dict[str, Any] | None) -> bool:
    def active_consultant(image: dict[str, Any] | None) -> bool:
        data = _data(image)
        return data.get("status") == "active" and "consultant" in (data.get("roles") or [])

    return active_consultant(new_image) and not active_consultant(old_image)


def _assign_agent(image: dict[str, Any]) -> None:
    """A consultant who became active gets a Consultant Agent by load (the jobs repair a failure here)."""
    from chalicelib.services.agents import assign_agent_by_load

    user_id = _data(image).get("user_id")
    if not user_id:
        return
    try:
        assign_agent_by_load(get_container().contracts, user_id)
    except Exception as exc:  # the record's reindex must not wait on it: the jobs give a missing agent
        log_failure("assigning a Consultant Agent failed; the jobs will", exc, user_id=user_id)


def _reindex(user_id: str) -> None:
    from chalicelib.services.matching import reindex_consultant

    container = get_container()
    if container.settings.search_engine == "none":
        return  # no engine deployed: nothing to keep true, so nothing to read
    reindex_consultant(container.indexing, user_id)


def _send_outbox_message(image: dict[str, Any]) -> None:
    from chalicelib.adapters.dynamo.repositories import outbox_message_from_image

    container = get_container()
    message = outbox_message_from_image(image)
    if outbox.deliver(container.outbox, container.email, message):
        logger.info("outbox message sent", extra={"message_id": message.message_id})


def _deliver_webhook(image: dict[str, Any]) -> None:
    """A built-in signature event, posted to the app's webhook endpoint; a failure fails the record, which
    the stream delivers again (the endpoint handles each event id once)."""
    from chalicelib.adapters.dynamo.repositories import load
    from chalicelib.domain.signing import WebhookDelivery

    data = image["data"]
    delivery = load(WebhookDelivery, json.loads(data) if isinstance(data, str) else data)
    get_container().webhook_sender.deliver(delivery.body.encode())
    logger.info("signature webhook delivered", extra={"delivery_id": delivery.delivery_id})


def _issue_invoice(image: dict[str, Any]) -> None:
    """An invoice a confirmation recorded: issued with the payment provider now (or left waiting, with the
    reason, until the agency can be paid). A failure fails the record; the stream and the reconciliation
    retry, and the provider's idempotency keys keep a retry from making a second invoice."""
    from chalicelib.adapters.dynamo.repositories import load
    from chalicelib.domain.invoicing import Invoice
    from chalicelib.services.invoicing import issue_invoice

    data = image["data"]
    invoice = load(Invoice, json.loads(data) if isinstance(data, str) else data)
    issue_invoice(get_container().invoicing, invoice.invoice_id)


def _issue_waiting_invoices(old_image: dict[str, Any] | None, new_image: dict[str, Any]) -> None:
    """An agency's payout account can now receive transfers: the invoices that waited for it are issued here,
    off the request that synced the account (Stripe's webhook should not wait for a batch of invoices)."""
    from chalicelib.adapters.dynamo.repositories import load
    from chalicelib.domain.invoicing import PayoutAccountRecord
    from chalicelib.services.invoicing import issue_waiting_invoices

    def record(image: dict[str, Any] | None) -> PayoutAccountRecord | None:
        data = _data(image)
        return load(PayoutAccountRecord, data) if data else None

    before, after = record(old_image), record(new_image)
    if after is not None and after.transfers_active and not (before is not None and before.transfers_active):
        issue_waiting_invoices(get_container().invoicing, after.agency_id)


def handle_main_stream(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    reindex_at = last_records_per_consultant(event.get("Records") or [])
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return process_partial_response(
        event=event, record_handler=partial(handle_record, reindex_at=reindex_at), processor=processor, context=context
    )
