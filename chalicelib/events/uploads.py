"""S3 ObjectCreated → SQS → this handler: check and attach uploaded files.

Runs in Lambda (SQS event source with partial batch responses) and locally through the event pump.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.container import get_container
from chalicelib.logging import logger
from chalicelib.services import consent_documents, files, milestones
from chalicelib.services.milestones import CLAIMS_PREFIX

CONSENT_DOCUMENT_PREFIX = "consent-documents/"
FILES_PREFIX = "files/"
EXPORTS_PREFIX = "exports/"  # the platform's own GDPR export archives: nothing to check


def created_objects(record: SQSRecord) -> list[tuple[str, str | None]]:
    """(key, version id) of each object an SQS message announces; none for S3's configuration test event."""
    body = json.loads(record.body)
    if body.get("Event") == "s3:TestEvent":
        return []
    # Keys arrive URL-encoded in S3 notifications, with '+' for spaces.
    return [
        (unquote_plus(r.s3.get_object.key), r.s3.get_object.version_id)
        for r in S3Event(body).records
        if r.event_name.startswith("ObjectCreated")
    ]


def handle_record(record: SQSRecord) -> None:
    container = get_container()
    for key, version_id in created_objects(record):
        if key.startswith(CONSENT_DOCUMENT_PREFIX):
            document = consent_documents.record_upload(
                container.accounts, container.storage, container.consent_document_policy, key, version_id
            )
            logger.info(
                "consent document upload processed",
                extra={
                    "document_id": document.document_id if document else None,
                    "status": document.status.value if document else "discarded",
                },
            )
        elif key.startswith(FILES_PREFIX):
            file = files.record_file_upload(container.profiles, container.storage, container.taxonomy, key, version_id)
            logger.info(
                "file upload processed",
                extra={"file_id": file.file_id if file else None, "status": file.status.value if file else "discarded"},
            )
        elif key.startswith(CLAIMS_PREFIX):
            claim = milestones.record_claim_document(container.milestones, key, version_id)
            logger.info(
                "milestone invoice upload processed",
                extra={"claim_id": claim.claim_id if claim else None, "status": claim.status.value if claim else "discarded"},
            )
        elif not key.startswith(EXPORTS_PREFIX):
            logger.warning("upload under an unknown prefix ignored", extra={"prefix": key.split("/", 1)[0]})


def handle_upload_queue(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
