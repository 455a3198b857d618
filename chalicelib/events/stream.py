"""The main table's DynamoDB stream → this handler.

It delivers the outbox: e-mails committed in the same transaction as the change that caused them (an
invitation, a verified consent document), so a mail goes out if and only if the change is stored. It
builds the archives of people's files for their personal-data export, and carries out erasure requests
(GDPR Art. 17) as they are stored; a failed record is retried, and the
scheduled job finishes whatever is still pending. Later capabilities (search indexing) add their
projections here.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord, DynamoDBRecordEventName

from chalicelib.container import get_container
from chalicelib.logging import logger
from chalicelib.services import outbox


def handle_record(record: DynamoDBRecord) -> None:
    if record.dynamodb is None or record.event_name is not DynamoDBRecordEventName.INSERT:
        return
    image = record.dynamodb.new_image
    if image.get("kind") == "outbox":
        _send_outbox_message(image)
    elif image.get("kind") == "erasure":
        _erase(image)
    elif image.get("kind") == "export_archive":
        _build_archive(image)


def _send_outbox_message(image: dict[str, Any]) -> None:
    from chalicelib.adapters.dynamo.repositories import outbox_message_from_image

    container = get_container()
    message = outbox_message_from_image(image)
    if outbox.deliver(container.outbox, container.email, message):
        logger.info("outbox message sent", extra={"message_id": message.message_id})


def _build_archive(image: dict[str, Any]) -> None:
    from chalicelib.services.privacy import build_archive

    container = get_container()
    user_id, archive_id = str(image["pk"]).removeprefix("USER#"), str(image["sk"]).removeprefix("ARCHIVE#")
    if build_archive(container.profiles, container.storage, user_id, archive_id):
        logger.info("export archive built", extra={"archive_id": archive_id})


def _erase(image: dict[str, Any]) -> None:
    from chalicelib.services.erasure import run_erasure

    user_id = str(image["pk"]).removeprefix("ERASURE#")
    if run_erasure(get_container().erasure, user_id):
        logger.info("erasure completed")  # no id: the log would otherwise keep the erased person's id


def handle_main_stream(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
