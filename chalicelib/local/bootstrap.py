"""Create the AWS resources the app needs on a local endpoint (moto), idempotently.

In AWS these resources belong to ``infra/``; locally this module plays that part. Every step first
looks for what exists, so running it against a restored snapshot (or twice) changes nothing and, in
particular, does not re-put the bucket notification (S3 sends a fresh ``s3:TestEvent`` on every put).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib.adapters.dynamo import models
from chalicelib.domain.identity import Role

if TYPE_CHECKING:
    from chalicelib.settings import Settings

# moto accepts any credentials; fixed values keep every client in the same moto account.
FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - not a secret: moto ignores it

UPLOADS_MAX_RECEIVE_COUNT = 5
_DLQ_RETENTION_SECONDS = 14 * 24 * 3600
_NOTIFICATION_ID = "uploads-to-queue"
_CORS_METHODS = ["POST", "PUT", "GET", "HEAD"]
# The key the local built-in signature signs its webhooks with: local only, never deployed.
LOCAL_ESIGN_KEY = "local-only-builtin-esign-key"

# Variables from the developer's shell that would send local traffic elsewhere or break credential
# resolution (a named profile that does not exist raises even when keys are in the environment).
_SCRUBBED_PREFIXES = ("AWS_ENDPOINT_URL_",)
_SCRUBBED_NAMES = frozenset(
    {
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    }
)


@dataclass(frozen=True)
class LocalResources:
    endpoint_url: str
    region: str
    user_pool_id: str
    client_id: str
    jwks_url: str
    documents_bucket: str
    contracts_bucket: str
    uploads_queue_url: str
    uploads_queue_arn: str
    uploads_dlq_url: str
    main_table: str
    main_table_stream_arn: str
    tables_created: tuple[str, ...] = ()


def pool_name(settings: Settings) -> str:
    return f"customersonly-{settings.stage}"


def app_client_name(settings: Settings) -> str:
    return f"customersonly-{settings.stage}-web"


def local_aws_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """What any process needs to talk to the local endpoint instead of AWS."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # No instance-metadata probing (a 1-2 s stall) if something ever bypasses the keys above.
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def app_environment(settings: Settings, resources: LocalResources) -> dict[str, str]:
    """The environment the app process (chalice local, CLI, event handlers) needs for the local stack.

    Names are the aliases of ``chalicelib.settings.Settings`` so the app reads them unchanged.
    """
    env = local_aws_environment(resources.endpoint_url, resources.region)
    env.update(
        {
            "APP_STAGE": settings.stage,
            "COGNITO_USER_POOL_ID": resources.user_pool_id,
            "COGNITO_CLIENT_ID": resources.client_id,
            "COGNITO_JWKS_URL": resources.jwks_url,
            "TABLE_MAIN": settings.table_main,
            "TABLE_CONSENT_LEDGER": settings.table_consent_ledger,
            "TABLE_AUDIT_LOG": settings.table_audit_log,
            "DOCUMENTS_BUCKET": settings.documents_bucket,
            "CONTRACTS_BUCKET": settings.contracts_bucket,
            "BUILTIN_ESIGN_KEYS": LOCAL_ESIGN_KEY,
            "UPLOADS_QUEUE_NAME": settings.uploads_queue_name,
            "EMAIL_SENDER": settings.email_sender,
            "CORS_ALLOWED_ORIGINS": json.dumps(settings.cors_allowed_origins, separators=(",", ":")),
        }
    )
    return env


def scrubbed_environ(base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) without variables that point AWS clients elsewhere."""
    source = dict(os.environ if base is None else base)
    return {k: v for k, v in source.items() if k not in _SCRUBBED_NAMES and not k.startswith(_SCRUBBED_PREFIXES)}


def ensure_resources(settings: Settings) -> LocalResources:
    """Create (or find) every local resource; safe to run any number of times.

    Refuses to run without ``AWS_ENDPOINT_URL`` so that it can never create resources in a real account.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    if not endpoint:
        raise RuntimeError("AWS_ENDPOINT_URL is not set: the local bootstrap only runs against a local endpoint")
    region = settings.aws_region

    def client(service: str) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=endpoint)

    tables_created = _ensure_tables(settings)
    dlq_url, _dlq_arn, queue_url, queue_arn = _ensure_queues(client("sqs"), settings.uploads_queue_name)
    _ensure_bucket(client("s3"), settings.documents_bucket, region, settings.cors_allowed_origins, queue_arn)
    _ensure_contracts_bucket(client("s3"), settings.contracts_bucket, region)
    client("ses").verify_email_identity(EmailAddress=settings.email_sender)
    pool_id, client_id = _ensure_user_pool(client("cognito-idp"), pool_name(settings), app_client_name(settings))
    stream_arn = client("dynamodb").describe_table(TableName=settings.table_main)["Table"]["LatestStreamArn"]
    return LocalResources(
        endpoint_url=endpoint,
        region=region,
        user_pool_id=pool_id,
        client_id=client_id,
        # moto serves each pool's keys here; the tokens' `iss` stays the real AWS URL (see settings).
        jwks_url=f"{endpoint}/{pool_id}/.well-known/jwks.json",
        documents_bucket=settings.documents_bucket,
        contracts_bucket=settings.contracts_bucket,
        uploads_queue_url=queue_url,
        uploads_queue_arn=queue_arn,
        uploads_dlq_url=dlq_url,
        main_table=settings.table_main,
        main_table_stream_arn=stream_arn,
        tables_created=tuple(tables_created),
    )


def _ensure_tables(settings: Settings) -> list[str]:
    models.bind_table_names(settings.table_main, settings.table_consent_ledger, settings.table_audit_log)
    # PynamoDB caches one botocore client per model, created with whatever endpoint was current then;
    # dropping it makes the models follow AWS_ENDPOINT_URL as it is now (tests restart moto elsewhere).
    for model in models.TABLE_MODELS:
        model._connection = None
    return models.ensure_tables()


def _ensure_queues(sqs: Any, queue_name: str) -> tuple[str, str, str, str]:
    dlq_url = _get_or_create_queue(sqs, f"{queue_name}-dlq", {"MessageRetentionPeriod": str(_DLQ_RETENTION_SECONDS)})
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = _get_or_create_queue(sqs, queue_name, {})
    # Set on every run (idempotent) so an older local queue picks up the policy too.
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(UPLOADS_MAX_RECEIVE_COUNT)})
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedrivePolicy": redrive})
    return dlq_url, dlq_arn, queue_url, _queue_arn(sqs, queue_url)


def _get_or_create_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _ensure_bucket(s3: Any, bucket: str, region: str, origins: list[str], queue_arn: str) -> None:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":  # S3 rejects an explicit us-east-1 location constraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
    # Versioned as in AWS: a checked upload is referred to by its version, which a later overwrite cannot change.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": list(origins),
                    "AllowedMethods": _CORS_METHODS,
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 3000,
                }
            ]
        },
    )
    wanted = {"Id": _NOTIFICATION_ID, "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}
    current = s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", [])
    if not any(_same_notification(c, wanted) for c in current):
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"QueueConfigurations": [wanted]},
        )


def _ensure_contracts_bucket(s3: Any, bucket: str, region: str) -> None:
    """Versioned with object lock, as in infra/: signed contracts are stored locked (compliance mode)."""
    if bucket in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        return
    kwargs: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": True}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)


def _same_notification(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return bool(current.get("QueueArn") == wanted["QueueArn"] and sorted(current.get("Events", [])) == wanted["Events"])


def _ensure_user_pool(cognito: Any, name: str, client_name: str) -> tuple[str, str]:
    pool_id = _find_pool(cognito, name)
    if pool_id is None:
        pool_id = cognito.create_user_pool(
            PoolName=name,
            # The app's own rule is length >= 12 without composition rules; say so explicitly because
            # moto (like Cognito's console) otherwise requires upper/lower/digit/symbol.
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireUppercase": False,
                    "RequireLowercase": False,
                    "RequireNumbers": False,
                    "RequireSymbols": False,
                }
            },
            # Accounts are created by the API (admin_create_user), never by self sign-up.
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        )["UserPool"]["Id"]
    existing_groups = {g["GroupName"] for page in cognito.get_paginator("list_groups").paginate(UserPoolId=pool_id) for g in page["Groups"]}
    for role in Role:
        if role.value not in existing_groups:
            cognito.create_group(UserPoolId=pool_id, GroupName=role.value)
    client_id = _find_client(cognito, pool_id, client_name)
    if client_id is None:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=client_name,
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            PreventUserExistenceErrors="ENABLED",
        )["UserPoolClient"]["ClientId"]
    return str(pool_id), str(client_id)


def _find_pool(cognito: Any, name: str) -> str | None:
    for page in cognito.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page["UserPools"]:
            if pool["Name"] == name:
                return str(pool["Id"])
    return None


def _find_client(cognito: Any, pool_id: str, name: str) -> str | None:
    for page in cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id, MaxResults=60):
        for app_client in page["UserPoolClients"]:
            if app_client["ClientName"] == name:
                return str(app_client["ClientId"])
    return None
