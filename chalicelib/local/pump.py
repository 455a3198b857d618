"""A local stand-in for Lambda's event source mappings.

``chalice local`` serves HTTP routes only, so locally nothing would consume the uploads queue or the
main table's stream. :class:`EventPump` polls both and invokes the same handler functions Lambda
invokes, with events shaped as Lambda builds them and with Lambda's partial-batch semantics:

* SQS: a batch of up to 10 messages; only messages the handler did not report in
  ``batchItemFailures`` are deleted. The others become visible again after the queue's visibility
  timeout and go to the dead-letter queue after ``maxReceiveCount`` receives (moto implements that).
* DynamoDB stream: records in order per shard; on a reported failure the next batch starts at the
  lowest failed sequence number (the checkpoint is the record before it). After
  ``max_stream_retries`` failed attempts on the same record it is skipped and logged, as a mapping
  with ``MaximumRetryAttempts`` would do, so that one bad record cannot stall local indexing.

Handlers are imported lazily by dotted name, so the pump works before they exist and picks them up
as soon as they import; until then their source is left untouched (no message is received).
"""

from __future__ import annotations

import base64
import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("customersonly.local.pump")

DEFAULT_UPLOAD_HANDLER = "chalicelib.events.uploads.handle_upload_queue"
# Every consumer of the stream that AWS runs (chalicelib/local/streams.py).
DEFAULT_STREAM_HANDLER = "chalicelib.local.streams.handle_main_stream_locally"

Handler = Callable[[dict[str, Any], Any], Any]

_SQS_BATCH_SIZE = 10  # SQS's maximum per ReceiveMessage, and Lambda's default batch size
_STREAM_BATCH_SIZE = 100  # Lambda's default batch size for DynamoDB streams
_MAX_BATCHES_PER_DRAIN = 10  # bounds one drain_once() call while producers keep writing
_HANDLER_TIMEOUT_MS = 60_000


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and powertools read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default_factory=lambda: time.monotonic() + _HANDLER_TIMEOUT_MS / 1000)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class DrainResult:
    sqs_messages: int = 0
    sqs_failed: int = 0
    stream_records: int = 0
    stream_failed: int = 0

    @property
    def delivered(self) -> int:
        return self.sqs_messages + self.stream_records

    @property
    def failed(self) -> int:
        return self.sqs_failed + self.stream_failed


@dataclass
class _ShardState:
    # Last sequence number handled (successfully or skipped); None means "from TRIM_HORIZON".
    checkpoint: str | None = None
    # Set after a failure: the next batch must start exactly here.
    retry_at: str | None = None
    attempts: int = 0
    iterator: str | None = None


class _LazyHandler:
    def __init__(self, dotted: str) -> None:
        self.dotted = dotted
        self._func: Handler | None = None
        self._last_error: str | None = None

    @property
    def function_name(self) -> str:
        return self.dotted.rsplit(".", 1)[-1]

    def resolve(self) -> Handler | None:
        if self._func is not None:
            return self._func
        module_name, _, attr = self.dotted.rpartition(".")
        try:
            func: Handler = getattr(importlib.import_module(module_name), attr)
        except Exception as exc:  # any import-time error means "not ready yet"
            message = f"{type(exc).__name__}: {exc}"
            if message != self._last_error:  # log once per distinct problem, not on every poll
                log.warning("handler %s is not importable yet (%s); its events wait", self.dotted, message)
                self._last_error = message
            return None
        if self._last_error is not None:
            log.info("handler %s is importable now", self.dotted)
        self._func, self._last_error = func, None
        return func


class EventPump:
    """Polls the uploads queue and the main table's stream and invokes the handlers.

    Not thread-safe: one thread calls :meth:`drain_once` (or :meth:`run_forever`).
    """

    def __init__(
        self,
        *,
        region: str,
        uploads_queue_url: str | None,
        main_table: str | None,
        upload_handler: str = DEFAULT_UPLOAD_HANDLER,
        stream_handler: str = DEFAULT_STREAM_HANDLER,
        endpoint_url: str | None = None,
        max_stream_retries: int = 5,
        checkpoints: Mapping[str, str] | None = None,
        account_id: str = "123456789012",
    ) -> None:
        self._region = region
        self._account_id = account_id
        self._queue_url = uploads_queue_url
        self._queue_arn: str | None = None
        self._table = main_table
        self._upload_handler = _LazyHandler(upload_handler)
        self._stream_handler = _LazyHandler(stream_handler)
        self._max_stream_retries = max_stream_retries
        kwargs: dict[str, Any] = {"region_name": region}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        self._sqs = boto3.client("sqs", **kwargs)
        self._dynamodb = boto3.client("dynamodb", **kwargs)
        self._streams = boto3.client("dynamodbstreams", **kwargs)
        self._stream_arn: str | None = None
        # Keyed by "<stream arn>|<shard id>": a re-created table has a new stream ARN, so a stale
        # checkpoint can never skip records of the new stream.
        self._shards: dict[str, _ShardState] = {key: _ShardState(checkpoint=seq) for key, seq in (checkpoints or {}).items()}

    # -- public -----------------------------------------------------------------------------------

    def drain_once(self) -> DrainResult:
        """Deliver what is available now from both sources (bounded); returns what was delivered."""
        result = DrainResult()
        if self._queue_url:
            self._guard("uploads queue", lambda: self._drain_queue(result))
        if self._table:
            self._guard("main table stream", lambda: self._drain_stream(result), on_error=self._forget_stream)
        return result

    def run_forever(
        self,
        stop_event: threading.Event,
        interval: float = 0.5,
        between_polls: Callable[[], None] | None = None,
    ) -> None:
        """Drain until ``stop_event`` is set; ``between_polls`` runs on this thread after each drain."""
        while not stop_event.is_set():
            try:
                result = self.drain_once()
                # Straight on while a backlog drains cleanly; pause when idle or after a failure, so
                # stream retries are spread out instead of spent in a few milliseconds.
                backlog = result.delivered > 0 and not result.failed
                if between_polls is not None:
                    between_polls()
            except Exception:
                # A bug must not silently end local event delivery: log it and keep polling.
                log.exception("event pump iteration failed")
                backlog = False
            if not backlog:
                stop_event.wait(interval)

    def checkpoints(self) -> dict[str, str]:
        """Stream positions to persist with the local data (restored through ``checkpoints=``)."""
        # While a retry is pending the checkpoint is the record before the failed one, so resuming
        # after it re-delivers the failed record.
        return {key: s.checkpoint for key, s in self._shards.items() if s.checkpoint is not None}

    def forget_iterators(self) -> None:
        """Drop shard iterators; the next drain re-acquires them from the checkpoints."""
        for state in self._shards.values():
            state.iterator = None

    # -- SQS ----------------------------------------------------------------------------------------

    def _drain_queue(self, result: DrainResult) -> None:
        assert self._queue_url is not None
        for _ in range(_MAX_BATCHES_PER_DRAIN):
            handler = self._upload_handler.resolve()
            if handler is None:
                return
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=_SQS_BATCH_SIZE,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return
            event = {"Records": [self._sqs_record(m) for m in messages]}
            ids = [m["MessageId"] for m in messages]
            failed = self._failed_ids(self._invoke(self._upload_handler, handler, event), ids)
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
                )
            result.sqs_messages += len(messages)
            result.sqs_failed += len(failed)
            log.info("uploads queue: %d message(s) to %s, %d failed", len(messages), self._upload_handler.dotted, len(failed))

    def _sqs_record(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._queue_arn is None:
            self._queue_arn = self._sqs.get_queue_attributes(
                QueueUrl=self._queue_url,
                AttributeNames=["QueueArn"],
            )["Attributes"]["QueueArn"]
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    # -- DynamoDB stream ---------------------------------------------------------------------------

    def _drain_stream(self, result: DrainResult) -> None:
        if self._stream_handler.resolve() is None:
            return
        stream_arn = self._current_stream_arn()
        if stream_arn is None:
            return
        shards = self._streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            key = f"{stream_arn}|{shard['ShardId']}"
            state = self._shards.setdefault(key, _ShardState())
            for _ in range(_MAX_BATCHES_PER_DRAIN):
                if not self._drain_shard_batch(stream_arn, shard["ShardId"], state, result):
                    break

    def _current_stream_arn(self) -> str | None:
        if self._stream_arn is None:
            try:
                table = self._dynamodb.describe_table(TableName=self._table)["Table"]
            except self._dynamodb.exceptions.ResourceNotFoundException:
                return None
            self._stream_arn = table.get("LatestStreamArn")
        return self._stream_arn

    def _drain_shard_batch(self, stream_arn: str, shard_id: str, state: _ShardState, result: DrainResult) -> bool:
        """One GetRecords + invocation; True if records were delivered (so more may follow)."""
        if state.iterator is None:
            state.iterator = self._shard_iterator(stream_arn, shard_id, state)
        try:
            page = self._streams.get_records(ShardIterator=state.iterator, Limit=_STREAM_BATCH_SIZE)
        except ClientError:
            # Expired or unknown iterator (AWS expires them after 15 min; moto forgets them on
            # restart): re-acquire from the checkpoint on the next call.
            state.iterator = None
            raise
        records = page.get("Records", [])
        next_iterator = page.get("NextShardIterator")
        if not records:
            state.iterator = next_iterator
            return False
        handler = self._stream_handler.resolve()
        assert handler is not None
        event = {"Records": [self._stream_record(r, stream_arn) for r in records]}
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
        failed = self._failed_ids(self._invoke(self._stream_handler, handler, event), sequence_numbers)
        result.stream_records += len(records)
        log.info("main table stream: %d record(s) to %s, %d failed", len(records), self._stream_handler.dotted, len(failed))
        if not failed:
            state.checkpoint, state.retry_at, state.attempts = sequence_numbers[-1], None, 0
            state.iterator = next_iterator
            return True
        result.stream_failed += len(failed)
        first_failed = min(failed, key=int)
        index = sequence_numbers.index(first_failed)
        if index > 0:
            state.checkpoint = sequence_numbers[index - 1]
        state.attempts = state.attempts + 1 if state.retry_at == first_failed else 1
        if state.attempts > self._max_stream_retries:
            log.error("stream record %s failed %d times; skipping it", first_failed, state.attempts)
            state.checkpoint, state.retry_at, state.attempts = first_failed, None, 0
        else:
            state.retry_at = first_failed
        state.iterator = None  # the next batch starts at retry_at / after the checkpoint
        return False  # retry on the next drain, not in a hot loop

    def _shard_iterator(self, stream_arn: str, shard_id: str, state: _ShardState) -> str:
        kwargs: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard_id}
        if state.retry_at is not None:
            kwargs |= {"ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": state.retry_at}
        elif state.checkpoint is not None:
            kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": state.checkpoint}
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return str(self._streams.get_shard_iterator(**kwargs)["ShardIterator"])

    def _stream_record(self, record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):  # botocore parses it; Lambda sends epoch seconds
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
        for image in ("Keys", "NewImage", "OldImage"):
            if image in dynamodb:
                dynamodb[image] = {k: _lambda_attribute_value(v) for k, v in dynamodb[image].items()}
        out: dict[str, Any] = {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": self._region,  # moto reports us-east-1 whatever the region
            "dynamodb": dynamodb,
            "eventSourceARN": stream_arn,
        }
        if "userIdentity" in record:  # TTL deletions carry the dynamodb.amazonaws.com principal
            out["userIdentity"] = record["userIdentity"]
        return out

    # -- shared -------------------------------------------------------------------------------------

    def _invoke(self, lazy: _LazyHandler, handler: Handler, event: dict[str, Any]) -> Any:
        context = LocalLambdaContext(
            function_name=lazy.function_name,
            invoked_function_arn=f"arn:aws:lambda:{self._region}:{self._account_id}:function:{lazy.function_name}",
            log_group_name=f"/aws/lambda/{lazy.function_name}",
        )
        try:
            return handler(event, context)
        except Exception:
            # Lambda treats a raised error as the failure of the whole batch.
            log.exception("handler %s raised; the whole batch will be retried", lazy.dotted)
            return _WHOLE_BATCH_FAILED

    @staticmethod
    def _failed_ids(response: Any, batch_ids: list[str]) -> set[str]:
        """The ids to retry, following Lambda's rules for ``ReportBatchItemFailures``."""
        if response is _WHOLE_BATCH_FAILED:
            return set(batch_ids)
        if not isinstance(response, dict) or not response.get("batchItemFailures"):
            return set()  # None, {} or an empty list: the batch succeeded
        failed = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in response["batchItemFailures"]}
        if not failed <= set(batch_ids):
            # Lambda treats a missing, empty or unknown itemIdentifier as a failure of the whole batch.
            log.error("handler reported unknown batchItemFailures %s; retrying the whole batch", sorted(map(str, failed)))
            return set(batch_ids)
        return {str(f) for f in failed}

    def _forget_stream(self) -> None:
        self._stream_arn = None  # the table may have been re-created with a new stream

    @staticmethod
    def _guard(what: str, step: Callable[[], None], on_error: Callable[[], None] | None = None) -> None:
        # A local endpoint that is restarting or a deleted queue must not kill the pump thread.
        try:
            step()
        except (ClientError, BotoCoreError) as exc:
            log.warning("polling the %s failed: %s", what, exc)
            if on_error is not None:
                on_error()


_WHOLE_BATCH_FAILED = object()


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS API attribute (``StringValue``) to the Lambda event's spelling (``stringValue``)."""
    out: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return out


def _lambda_attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """botocore decodes binary attributes to bytes; Lambda events carry them base64-encoded."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {k: _lambda_attribute_value(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_lambda_attribute_value(v) for v in inner]}
    return {kind: inner}
