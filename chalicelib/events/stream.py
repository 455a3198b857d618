"""The main table's DynamoDB stream → this handler.

It delivers the outbox: e-mails committed in the same transaction as the change that caused them (an
invitation, a verified consent document), so a mail goes out if and only if the change is stored. And it
keeps the search index true: any change to a consultant's account, profile, resume or consents (inserted,
modified or removed) reindexes that consultant, which also removes them when they must not be found. Long privacy work (erasures, export
archives) has its own consumer of the same stream: chalicelib/events/privacy.py.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord, DynamoDBRecordEventName

from chalicelib.container import get_container
from chalicelib.logging import logger
from chalicelib.services import outbox

# The kinds whose change can change how (or whether) a consultant is found.
INDEXED_KINDS = frozenset({"user", "profile", "resume_item", "consent_changed"})


def handle_record(record: DynamoDBRecord) -> None:
    if record.dynamodb is None:
        return
    image = record.dynamodb.new_image or record.dynamodb.old_image  # a removal has only the old one
    kind = image.get("kind")
    if kind == "outbox" and record.event_name is DynamoDBRecordEventName.INSERT:
        _send_outbox_message(image)
    elif kind in INDEXED_KINDS and str(image.get("pk", "")).startswith("USER#"):
        _reindex(str(image["pk"]).removeprefix("USER#"))


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


def handle_main_stream(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
