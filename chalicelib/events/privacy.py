"""The main table's stream → the privacy worker: erasure requests (GDPR Art. 17) and export archives.

A consumer of its own (in AWS a second event source mapping, filtered to these records, with a long
timeout and the only role that may delete from the consent ledger and audit log): an archive of many
files or a long erasure must neither time out nor hold up the e-mails behind it. A failed record is
retried; the daily jobs finish erasures still pending, and an archive that never got built is reported
as failed to the person, who asks again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord, DynamoDBRecordEventName

from chalicelib.container import get_container
from chalicelib.logging import logger

KINDS = ("erasure", "export_archive")  # what this consumer acts on; infra filters the mapping to them


def handle_record(record: DynamoDBRecord) -> None:
    if record.dynamodb is None or record.event_name is not DynamoDBRecordEventName.INSERT:
        return
    image = record.dynamodb.new_image
    if image.get("kind") == "erasure":
        _erase(image)
    elif image.get("kind") == "export_archive":
        _build_archive(image)


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


def handle_privacy_stream(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
