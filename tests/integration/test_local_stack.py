"""The local stack: bootstrap, event pump and persistence across restarts, against a real moto server."""

from __future__ import annotations

import base64
import json
import os
import pickle
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo import models
from chalicelib.local import aws
from chalicelib.local.bootstrap import (
    LocalResources,
    ensure_resources,
    local_aws_environment,
    pool_name,
    scrubbed_environ,
)
from chalicelib.local.pump import EventPump
from chalicelib.settings import Settings

pytestmark = pytest.mark.integration

REGION = "eu-north-1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"  # >= 12 characters, no composition rules

# What the fake handlers below saw; each test clears it.
SEEN: list[tuple[dict[str, Any], Any]] = []
# messageId / SequenceNumber -> how many more times the fake handler reports it as failed.
FAIL: dict[str, int] = {}


def record_and_fail_marked(event: dict[str, Any], context: Any) -> dict[str, Any]:
    SEEN.append((event, context))
    failures = []
    for record in event["Records"]:
        ident = record["messageId"] if record.get("eventSource") == "aws:sqs" else record["dynamodb"]["SequenceNumber"]
        if FAIL.get(ident, 0) > 0:
            FAIL[ident] -= 1
            failures.append({"itemIdentifier": ident})
    return {"batchItemFailures": failures}


HANDLER = f"{__name__}.record_and_fail_marked"


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    bound = (models.MainItem.Meta.table_name, models.ConsentEntryItem.Meta.table_name, models.AuditEntryItem.Meta.table_name)
    with pytest.MonkeyPatch.context() as mp:
        for name in set(os.environ) - set(scrubbed_environ()):
            mp.delenv(name)
        server = aws.LocalAwsServer("127.0.0.1", 0)
        server.start()
        for name, value in local_aws_environment(server.endpoint_url, REGION).items():
            mp.setenv(name, value)
        try:
            yield server.endpoint_url
        finally:
            server.stop()
            # Leave the PynamoDB models as other tests expect them.
            models.bind_table_names(*bound)
            for model in models.TABLE_MODELS:
                model._connection = None


@pytest.fixture
def settings(endpoint: str) -> Settings:
    # Unique names per test: the moto server (and its global state) is shared by the module.
    tag = uuid.uuid4().hex[:8]
    overrides: dict[str, Any] = {
        "APP_STAGE": f"t{tag}",
        "AWS_REGION": REGION,
        "TABLE_MAIN": f"t{tag}-main",
        "TABLE_CONSENT_LEDGER": f"t{tag}-consent-ledger",
        "TABLE_AUDIT_LOG": f"t{tag}-audit-log",
        "DOCUMENTS_BUCKET": f"t{tag}-documents",
        "UPLOADS_QUEUE_NAME": f"t{tag}-uploads",
        "EMAIL_SENDER": f"no-reply-{tag}@customersonly.local",
        "CORS_ALLOWED_ORIGINS": ["http://localhost:3000", "http://127.0.0.1:3000"],
    }
    return Settings(**overrides)


@pytest.fixture
def resources(settings: Settings) -> LocalResources:
    return ensure_resources(settings)


@pytest.fixture(autouse=True)
def _clear_handler_log() -> None:
    SEEN.clear()
    FAIL.clear()


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def until(condition: Callable[[], bool], *, attempts: int = 200, pause: float = 0.05) -> None:
    for _ in range(attempts):
        if condition():
            return
        time.sleep(pause)
    raise AssertionError("condition not met in time")


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


# -- bootstrap ------------------------------------------------------------------------------------


def test_a_main_table_saved_before_the_newer_indexes_gets_them_at_bootstrap(endpoint: str, settings: Settings) -> None:
    """Local data restored from an older snapshot: the table exists, so only the missing indexes are added."""
    ddb = client("dynamodb", endpoint)
    schema = models.MainItem._get_schema()
    older = [i for i in schema["global_secondary_indexes"] if i["index_name"] in ("gsi1", "gsi2")]
    ddb.create_table(
        TableName=settings.table_main,
        KeySchema=schema["key_schema"],
        AttributeDefinitions=[d for d in schema["attribute_definitions"] if not d["AttributeName"].startswith(("gsi3", "gsi4"))],
        GlobalSecondaryIndexes=[{"IndexName": i["index_name"], "KeySchema": i["key_schema"], "Projection": i["projection"]} for i in older],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    resources = ensure_resources(settings)
    assert settings.table_main not in resources.tables_created
    indexes = ddb.describe_table(TableName=settings.table_main)["Table"]["GlobalSecondaryIndexes"]
    assert sorted(i["IndexName"] for i in indexes) == ["gsi1", "gsi2", "gsi3", "gsi4"]


def test_bootstrap_twice_finds_everything_and_creates_nothing_new(endpoint: str, settings: Settings) -> None:
    first = ensure_resources(settings)
    second = ensure_resources(settings)

    assert set(first.tables_created) == {settings.table_main, settings.table_consent_ledger, settings.table_audit_log}
    assert second.tables_created == ()
    assert {**vars(second), "tables_created": ()} == {**vars(first), "tables_created": ()}

    cognito = client("cognito-idp", endpoint)
    pools = [p for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == pool_name(settings)]
    assert [p["Id"] for p in pools] == [first.user_pool_id]
    policy = cognito.describe_user_pool(UserPoolId=first.user_pool_id)["UserPool"]["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == 12
    groups = {g["GroupName"] for g in cognito.list_groups(UserPoolId=first.user_pool_id)["Groups"]}
    assert groups == {"staff", "agency_admin", "consultant", "client"}
    clients = cognito.list_user_pool_clients(UserPoolId=first.user_pool_id, MaxResults=60)["UserPoolClients"]
    assert [c["ClientId"] for c in clients] == [first.client_id]
    app_client = cognito.describe_user_pool_client(UserPoolId=first.user_pool_id, ClientId=first.client_id)["UserPoolClient"]
    assert set(app_client["ExplicitAuthFlows"]) == {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert "ClientSecret" not in app_client
    with urllib.request.urlopen(first.jwks_url, timeout=5) as response:
        assert json.load(response)["keys"]

    s3 = client("s3", endpoint)
    rules = s3.get_bucket_cors(Bucket=settings.documents_bucket)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == settings.cors_allowed_origins
    assert set(rules[0]["AllowedMethods"]) == {"POST", "PUT", "GET", "HEAD"}
    notifications = s3.get_bucket_notification_configuration(Bucket=settings.documents_bucket)["QueueConfigurations"]
    assert [(n["QueueArn"], n["Events"]) for n in notifications] == [(first.uploads_queue_arn, ["s3:ObjectCreated:*"])]

    sqs = client("sqs", endpoint)
    redrive = json.loads(
        sqs.get_queue_attributes(
            QueueUrl=first.uploads_queue_url,
            AttributeNames=["RedrivePolicy"],
        )["Attributes"]["RedrivePolicy"]
    )
    dlq_arn = sqs.get_queue_attributes(QueueUrl=first.uploads_dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == 5
    # The notification was configured once, so S3 sent exactly one test event.
    assert queue_counts(sqs, first.uploads_queue_url) == (1, 0)

    assert settings.email_sender in client("ses", endpoint).list_identities()["Identities"]
    assert first.main_table_stream_arn.startswith(f"arn:aws:dynamodb:{REGION}:")


# -- event pump: uploads queue --------------------------------------------------------------------


def test_upload_reaches_the_handler_as_a_lambda_sqs_event_and_only_successes_are_deleted(
    endpoint: str,
    resources: LocalResources,
) -> None:
    s3, sqs = client("s3", endpoint), client("sqs", endpoint)
    s3.put_object(Bucket=resources.documents_bucket, Key="cv/u 1/cv.pdf", Body=b"%PDF-1.7")
    pump = EventPump(region=REGION, uploads_queue_url=resources.uploads_queue_url, main_table=None, upload_handler=HANDLER)

    # The test event is "failed" once by the handler; the upload succeeds.
    def delivered() -> list[dict[str, Any]]:
        pump.drain_once()
        return [r for event, _ in SEEN for r in event["Records"]]

    probe = sqs.receive_message(QueueUrl=resources.uploads_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    test_event_id = next(m["MessageId"] for m in probe if "s3:TestEvent" in m["Body"])
    FAIL[test_event_id] = 1
    until(lambda: len(delivered()) >= 2)

    records = [r for event, _ in SEEN for r in event["Records"]]
    assert len(SEEN) == 1 and len(records) == 2  # one batch
    for record in records:
        assert set(record) == {
            "messageId",
            "receiptHandle",
            "body",
            "attributes",
            "messageAttributes",
            "md5OfBody",
            "eventSource",
            "eventSourceARN",
            "awsRegion",
        }
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == resources.uploads_queue_arn
        assert record["awsRegion"] == REGION
        assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    bodies = [json.loads(r["body"]) for r in records]
    assert bodies[0]["Event"] == "s3:TestEvent"  # passed through unchanged
    s3_record = bodies[1]["Records"][0]
    assert s3_record["eventName"].startswith("ObjectCreated:")
    # URL-encoded as real S3 does (moto also encodes "/", real S3 does not): handlers use unquote_plus.
    assert unquote_plus(s3_record["s3"]["object"]["key"]) == "cv/u 1/cv.pdf"

    context = SEEN[0][1]
    assert context.function_name == "record_and_fail_marked"
    assert context.get_remaining_time_in_millis() > 0
    assert context.invoked_function_arn.startswith(f"arn:aws:lambda:{REGION}:")

    # The failed test event is still in flight (invisible until its visibility timeout); the upload is gone.
    assert queue_counts(sqs, resources.uploads_queue_url) == (0, 1)


def test_pump_leaves_messages_alone_while_the_handler_cannot_be_imported(endpoint: str, resources: LocalResources) -> None:
    sqs = client("sqs", endpoint)
    pump = EventPump(
        region=REGION,
        uploads_queue_url=resources.uploads_queue_url,
        main_table=resources.main_table,
        upload_handler="chalicelib.no_such_module.handler",
        stream_handler="chalicelib.no_such_module.handler",
    )
    result = pump.drain_once()
    assert result.delivered == 0
    assert queue_counts(sqs, resources.uploads_queue_url) == (1, 0)  # the test event was not received


# -- event pump: DynamoDB stream ------------------------------------------------------------------


def test_stream_records_reach_the_handler_in_lambda_shape_and_failures_are_redelivered(
    endpoint: str,
    resources: LocalResources,
) -> None:
    ddb = client("dynamodb", endpoint)
    key = {"pk": {"S": "USER#1"}, "sk": {"S": "PROFILE"}}
    ddb.put_item(TableName=resources.main_table, Item={**key, "kind": {"S": "user"}, "blob": {"B": b"\x00\x01"}})
    ddb.update_item(
        TableName=resources.main_table,
        Key=key,
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "active"}},
    )
    ddb.delete_item(TableName=resources.main_table, Key=key)
    pump = EventPump(region=REGION, uploads_queue_url=None, main_table=resources.main_table, stream_handler=HANDLER)

    first = pump.drain_once()
    assert first.stream_records == 3
    records = SEEN[0][0]["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    for record in records:
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventSourceARN"] == resources.main_table_stream_arn
        assert record["awsRegion"] == REGION
        assert {"eventID", "eventName", "eventVersion", "dynamodb"} <= set(record)
        stream = record["dynamodb"]
        assert stream["Keys"] == key
        assert stream["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(stream["ApproximateCreationDateTime"], int)
        assert isinstance(stream["SequenceNumber"], str)
    assert records[0]["dynamodb"]["NewImage"]["blob"] == {"B": base64.b64encode(b"\x00\x01").decode()}
    assert records[1]["dynamodb"]["OldImage"]["kind"] == {"S": "user"}
    assert records[1]["dynamodb"]["NewImage"]["status"] == {"S": "active"}
    assert "NewImage" not in records[2]["dynamodb"]
    json.dumps(SEEN[0][0])  # the event is plain JSON, as Lambda's is

    # A new write; the handler fails its record once: the next drain re-delivers from that record only.
    ddb.put_item(TableName=resources.main_table, Item={**key, "kind": {"S": "user"}})
    ddb.put_item(TableName=resources.main_table, Item={"pk": {"S": "USER#2"}, "sk": {"S": "PROFILE"}, "kind": {"S": "user"}})
    SEEN.clear()
    pump.drain_once()
    assert [r["eventName"] for r in SEEN[0][0]["Records"]] == ["INSERT", "INSERT"]
    delivered_seq = [r["dynamodb"]["SequenceNumber"] for r in SEEN[0][0]["Records"]]
    assert pump.checkpoints() == {f"{resources.main_table_stream_arn}|{_shard_id(endpoint, resources)}": delivered_seq[-1]}

    ddb.put_item(TableName=resources.main_table, Item={"pk": {"S": "USER#3"}, "sk": {"S": "PROFILE"}, "kind": {"S": "user"}})
    ddb.put_item(TableName=resources.main_table, Item={"pk": {"S": "USER#4"}, "sk": {"S": "PROFILE"}, "kind": {"S": "user"}})
    third_seq = str(int(delivered_seq[-1]) + 1)
    fourth_seq = str(int(delivered_seq[-1]) + 2)
    FAIL[fourth_seq] = 1
    SEEN.clear()
    failed_pass = pump.drain_once()
    assert failed_pass.stream_failed == 1
    assert pump.checkpoints()[f"{resources.main_table_stream_arn}|{_shard_id(endpoint, resources)}"] == third_seq
    retry_pass = pump.drain_once()
    assert retry_pass.stream_records == 1 and retry_pass.stream_failed == 0
    assert [r["dynamodb"]["SequenceNumber"] for r in SEEN[-1][0]["Records"]] == [fourth_seq]
    assert pump.drain_once().delivered == 0

    # The stack's housekeeping frees moto's iterators; the pump resumes from its checkpoint, exactly once.
    aws.discard_stream_iterators()
    pump.forget_iterators()
    ddb.put_item(TableName=resources.main_table, Item={"pk": {"S": "USER#5"}, "sk": {"S": "PROFILE"}, "kind": {"S": "user"}})
    after_housekeeping = pump.drain_once()
    assert (after_housekeeping.stream_records, after_housekeeping.stream_failed) == (1, 0)
    assert SEEN[-1][0]["Records"][0]["dynamodb"]["Keys"]["pk"] == {"S": "USER#5"}


def test_records_after_a_cancelled_transaction_still_arrive(endpoint: str, resources: LocalResources) -> None:
    """moto itself rolls a cancelled transaction back by putting a copy of the table in place, which left
    the pump reading the discarded copy's stream; the local stack undoes the transaction in place instead."""
    ddb = client("dynamodb", endpoint)
    pump = EventPump(region=REGION, uploads_queue_url=None, main_table=resources.main_table, stream_handler=HANDLER)
    ddb.put_item(TableName=resources.main_table, Item={"pk": {"S": "R#1"}, "sk": {"S": "R"}, "kind": {"S": "x"}})
    assert pump.drain_once().stream_records == 1
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": resources.main_table, "Item": {"pk": {"S": "R#3"}, "sk": {"S": "R"}, "kind": {"S": "x"}}}},
                {
                    "Put": {
                        "TableName": resources.main_table,
                        "Item": {"pk": {"S": "R#1"}, "sk": {"S": "R"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert "Item" not in ddb.get_item(TableName=resources.main_table, Key={"pk": {"S": "R#3"}, "sk": {"S": "R"}})  # all or nothing
    ddb.put_item(TableName=resources.main_table, Item={"pk": {"S": "R#2"}, "sk": {"S": "R"}, "kind": {"S": "x"}})
    SEEN.clear()
    assert pump.drain_once().stream_records == 1
    assert SEEN[0][0]["Records"][0]["dynamodb"]["Keys"]["pk"] == {"S": "R#2"}


def test_a_record_that_keeps_failing_is_skipped_after_the_retry_limit(endpoint: str, resources: LocalResources) -> None:
    ddb = client("dynamodb", endpoint)
    ddb.put_item(TableName=resources.main_table, Item={"pk": {"S": "A"}, "sk": {"S": "A"}, "kind": {"S": "x"}})
    pump = EventPump(region=REGION, uploads_queue_url=None, main_table=resources.main_table, stream_handler=HANDLER, max_stream_retries=2)
    seq = _shard_start(endpoint, resources)
    FAIL[seq] = 100
    attempts = [pump.drain_once().stream_failed for _ in range(4)]
    assert attempts == [1, 1, 1, 0]  # first try + 2 retries, then skipped
    assert len(SEEN) == 3


def test_run_forever_delivers_until_stopped(endpoint: str, resources: LocalResources) -> None:
    pump = EventPump(
        region=REGION,
        uploads_queue_url=resources.uploads_queue_url,
        main_table=resources.main_table,
        upload_handler=HANDLER,
        stream_handler=HANDLER,
    )
    stop = threading.Event()
    worker = threading.Thread(target=pump.run_forever, args=(stop,), kwargs={"interval": 0.02})
    worker.start()
    try:
        client("dynamodb", endpoint).put_item(
            TableName=resources.main_table,
            Item={
                "pk": {"S": "LIVE"},
                "sk": {"S": "1"},
                "kind": {"S": "x"},
            },
        )
        until(lambda: {r.get("eventSource") for event, _ in list(SEEN) for r in event["Records"]} == {"aws:sqs", "aws:dynamodb"})
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()


def _shard_id(endpoint: str, resources: LocalResources) -> str:
    stream = client("dynamodbstreams", endpoint).describe_stream(StreamArn=resources.main_table_stream_arn)
    return str(stream["StreamDescription"]["Shards"][0]["ShardId"])


def _shard_start(endpoint: str, resources: LocalResources) -> str:
    stream = client("dynamodbstreams", endpoint).describe_stream(StreamArn=resources.main_table_stream_arn)
    return str(stream["StreamDescription"]["Shards"][0]["SequenceNumberRange"]["StartingSequenceNumber"])


# -- persistence ----------------------------------------------------------------------------------


def test_a_bad_snapshot_is_reported_and_moved_aside(tmp_path: Path) -> None:
    corrupt = tmp_path / "aws-state.pickle"
    corrupt.write_bytes(b"customersonly-local-aws-snapshot\n" + b"\x80\x05garbage")
    loaded = aws.load_snapshot(corrupt)
    assert loaded.status == "corrupt" and not corrupt.exists()
    assert loaded.moved_to is not None and loaded.moved_to.exists()

    old = tmp_path / "old.pickle"
    old.write_bytes(b"customersonly-local-aws-snapshot\n" + pickle.dumps({"format": 1, "moto": "0.0.1", "python": "3.11"}))
    loaded = aws.load_snapshot(old)
    assert loaded.status == "incompatible" and "0.0.1" in loaded.message and not old.exists()

    assert aws.load_snapshot(tmp_path / "missing.pickle").status == "absent"


def test_local_data_survives_a_restart_of_the_stack(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    # A corrupt leftover must not stop the first start.
    (state_dir / "aws-state.pickle").write_bytes(b"not a snapshot")
    env_before, stack = _start_stack(state_dir)
    try:
        assert list(state_dir.glob("aws-state.pickle.corrupt-*"))
        endpoint = env_before["AWS_ENDPOINT_URL"]
        cognito = client("cognito-idp", endpoint)
        pool, app_client = env_before["COGNITO_USER_POOL_ID"], env_before["COGNITO_CLIENT_ID"]
        cognito.admin_create_user(
            UserPoolId=pool,
            Username="staff@example.com",
            MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": "staff@example.com"}],
        )
        cognito.admin_set_user_password(UserPoolId=pool, Username="staff@example.com", Password=PASSWORD, Permanent=True)
        cognito.admin_add_user_to_group(UserPoolId=pool, Username="staff@example.com", GroupName="staff")
        sub_before = _login(env_before, PASSWORD)["sub"]
        client("dynamodb", endpoint).put_item(
            TableName=env_before["TABLE_MAIN"],
            Item={
                "pk": {"S": f"USER#{sub_before}"},
                "sk": {"S": "PROFILE"},
                "kind": {"S": "user"},
                "data": {"S": "{}"},
            },
        )
        client("s3", endpoint).put_object(Bucket=env_before["DOCUMENTS_BUCKET"], Key="consents/a.pdf", Body=b"%PDF-1.7 x")
    finally:
        _stop_stack(stack)
    assert (state_dir / "aws-state.pickle").exists()
    assert not (state_dir / "app.env").exists()

    env_after, stack = _start_stack(state_dir)
    try:
        assert (env_after["COGNITO_USER_POOL_ID"], env_after["COGNITO_CLIENT_ID"]) == (pool, app_client)
        endpoint = env_after["AWS_ENDPOINT_URL"]
        item = client("dynamodb", endpoint).get_item(
            TableName=env_after["TABLE_MAIN"],
            Key={"pk": {"S": f"USER#{sub_before}"}, "sk": {"S": "PROFILE"}},
        )
        assert item["Item"]["kind"] == {"S": "user"}
        body = client("s3", endpoint).get_object(Bucket=env_after["DOCUMENTS_BUCKET"], Key="consents/a.pdf")["Body"].read()
        assert body == b"%PDF-1.7 x"
        claims = _login(env_after, PASSWORD)
        assert claims["sub"] == sub_before
        assert claims["cognito:groups"] == ["staff"]
    finally:
        _stop_stack(stack)


def _start_stack(state_dir: Path) -> tuple[dict[str, str], subprocess.Popen[bytes]]:
    env_file = state_dir / "app.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local.stack", "--no-api", "--no-pump", "--aws-port", "0", "--state-dir", str(state_dir)],
        cwd=PROJECT_ROOT,
        env={**scrubbed_environ(), "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        until(lambda: env_file.exists() or process.poll() is not None, attempts=600)
        assert process.poll() is None, process.communicate()[0].decode()
    except BaseException:
        _stop_stack(process)
        raise
    env = {}
    for line in env_file.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = shlex.split(line)[1].partition("=")
            env[name] = value
    return env, process


def _stop_stack(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output


def _login(env: dict[str, str], password: str) -> dict[str, Any]:
    cognito = client("cognito-idp", env["AWS_ENDPOINT_URL"])
    tokens = cognito.initiate_auth(
        ClientId=env["COGNITO_CLIENT_ID"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "staff@example.com", "PASSWORD": password},
    )["AuthenticationResult"]
    # Verified with the pool's keys as served now, i.e. the signing key survived the restart too.
    signing_key = jwt.PyJWKClient(env["COGNITO_JWKS_URL"]).get_signing_key_from_jwt(tokens["IdToken"]).key
    return dict(jwt.decode(tokens["IdToken"], signing_key, algorithms=["RS256"], audience=env["COGNITO_CLIENT_ID"]))
