"""Stateful resources: the three DynamoDB tables, the documents bucket and its uploads queue, the
contracts bucket, and the e-signature and Stripe secrets.

They live in their own stack so that the code stack (api) can be destroyed and redeployed freely while
the data stays put; in prod everything here is retained on deletion and deletion-protected. The table
layouts mirror ``chalicelib/adapters/dynamo/models.py``; the bucket and queue mirror
``chalicelib/local/bootstrap.py`` (what the local stack creates on moto).
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import EVENT_HANDLER_TIMEOUT, ConfigError, StageConfig

# As in chalicelib/local/bootstrap.py: a message that failed five deliveries goes to the DLQ.
UPLOADS_MAX_RECEIVE_COUNT = 5
# Browser uploads use a presigned POST (multipart form) today; PUT is allowed for later direct uploads.
CORS_METHODS = (s3.HttpMethods.POST, s3.HttpMethods.PUT, s3.HttpMethods.GET, s3.HttpMethods.HEAD)
# How long a deleted or overwritten document stays recoverable. Short on purpose: the app deletes
# refused consent documents because there is no legal basis to keep them (GDPR), and a noncurrent
# version is still a copy.
NONCURRENT_VERSION_DAYS = 7
DLQ_RETENTION = cdk.Duration.days(14)
# Contracts bucket: drafts are rewritten until they are signed; their older versions are kept this long.
CONTRACT_NONCURRENT_VERSION_DAYS = 90
CONTRACT_INCOMPLETE_UPLOAD_DAYS = 7
# Where the app keeps contracts (drafts, signed PDFs) and the built-in signature's evidence.
CONTRACT_OBJECT_PREFIXES = ("contracts/", "esign/")
# The e-signature secret's JSON fields (README "The e-signature secret"). builtin_esign_keys is generated
# (the built-in signature's webhook HMAC key); the DocuSign fields are filled in by the operator.
ESIGN_GENERATED_FIELD = "builtin_esign_keys"
ESIGN_OPERATOR_FIELDS = (
    "docusign_integration_key",
    "docusign_user_id",
    "docusign_account_id",
    "docusign_private_key",
    "docusign_connect_keys",
)
# The Stripe secret's JSON fields (README "The Stripe secret"): the app's settings STRIPE_API_KEY,
# STRIPE_WEBHOOK_SECRET and STRIPE_CONNECT_WEBHOOK_SECRET. Stripe makes all three, so nothing is generated:
# the secret is created with empty placeholders and the operator fills them in.
STRIPE_OPERATOR_FIELDS = ("stripe_api_key", "stripe_webhook_secret", "stripe_connect_webhook_secret")
# The main table's global secondary indexes (string keys, projection ALL), in the order they were added:
# DynamoDB creates only one per update of an existing table, so the context key `mainTableIndexes` can
# hold a deployment to the first n of them (infra/README.md, "Adding an index to a deployed table").
MAIN_TABLE_INDEXES = {
    "gsi1": ("gsi1pk", "gsi1sk"),
    "gsi2": ("gsi2pk", "gsi2sk"),
    "gsi3": ("gsi3pk", "gsi3sk"),
    "gsi4": ("gsi4pk", "gsi4sk"),
}


class DataStack(cdk.Stack):
    main_table: dynamodb.Table
    consent_ledger_table: dynamodb.Table
    audit_log_table: dynamodb.Table
    documents_bucket: s3.Bucket
    uploads_queue: sqs.Queue
    uploads_dlq: sqs.Queue
    contracts_bucket: s3.Bucket
    esign_secret: secretsmanager.Secret
    stripe_secret: secretsmanager.Secret

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._config = config

        self.main_table = self._table(
            "MainTable",
            partition_key="pk",
            sort_key="sk",
            # The main-table stream feeds stream_handler (the outbox today, search projections later).
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            # Outbox messages (they hold an e-mail address) and invitations expire through TTL.
            time_to_live_attribute="ttl",
        )
        indexes = list(MAIN_TABLE_INDEXES.items())
        if config.main_table_indexes is not None and config.main_table_indexes > len(indexes):
            raise ConfigError(f"mainTableIndexes must be at most {len(indexes)} ({', '.join(MAIN_TABLE_INDEXES)})")
        for index, (pk, sk) in indexes[: config.main_table_indexes or len(indexes)]:
            self.main_table.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=pk, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sk, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        # Append-only evidence: the app may only add entries (see the api stack's IAM), never change them.
        self.consent_ledger_table = self._table("ConsentLedgerTable", partition_key="subject_id", sort_key="entry_id")
        self.audit_log_table = self._table("AuditLogTable", partition_key="subject_id", sort_key="sort_key")

        self.uploads_dlq = sqs.Queue(
            self,
            "UploadsDeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.uploads_queue = sqs.Queue(
            self,
            "UploadsQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Lambda requires visibility >= the function timeout; 6x leaves room for its retries.
            visibility_timeout=cdk.Duration.seconds(EVENT_HANDLER_TIMEOUT.to_seconds() * 6),
            # SQS's default, stated: a message the handler keeps failing reaches the DLQ long before.
            retention_period=cdk.Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=UPLOADS_MAX_RECEIVE_COUNT, queue=self.uploads_dlq),
        )

        self.documents_bucket = s3.Bucket(
            self,
            "DocumentsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # SSE-S3: no KMS key policy to keep in step with presigned POST/GET by the Lambda roles.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            cors=[
                s3.CorsRule(
                    allowed_origins=list(config.web_origins),
                    allowed_methods=list(CORS_METHODS),
                    allowed_headers=["*"],
                    exposed_headers=["ETag"],
                    max_age=3000,
                ),
            ],
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=cdk.Duration.days(NONCURRENT_VERSION_DAYS),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                ),
                s3.LifecycleRule(id="remove-expired-delete-markers", expired_object_delete_marker=True),
                # GDPR export archives (chalicelib/services/privacy.py) are linked for 15 minutes; keep them a day at most.
                s3.LifecycleRule(
                    id="expire-exports",
                    prefix="exports/",
                    expiration=cdk.Duration.days(1),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                ),
            ],
            # A non-empty bucket makes `cdk destroy` of dev fail rather than silently losing documents.
            removal_policy=config.removal_policy,
        )
        # S3 → SQS (not S3 → Lambda) so that failed uploads are retried and end in the DLQ. CDK adds the
        # queue policy that lets this bucket (only) send, and orders it before the notification.
        self.documents_bucket.add_event_notification(s3.EventType.OBJECT_CREATED, s3n.SqsDestination(self.uploads_queue))
        self._accept_generated_depends_on()

        # Contracts: drafts, and the signed PDFs that the app locks one by one (PutObject with
        # ObjectLockMode=COMPLIANCE and ObjectLockRetainUntilDate = signing + CONTRACT_RETENTION_YEARS).
        # No default retention, so drafts stay unlocked. COMPLIANCE cannot be shortened or removed by
        # anyone, root included, so the bucket is retained in every stage: a dev stack deletion leaves it
        # behind (delete it by hand once its locks have expired). No event notification: nothing reacts
        # to uploads here, the app writes every object itself.
        self.contracts_bucket = s3.Bucket(
            self,
            "ContractsBucket",
            object_lock_enabled=True,
            # Object lock requires versioning (and CloudFormation cannot turn lock on later).
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # As the documents bucket: SSE-S3 (the app puts with ServerSideEncryption=AES256).
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                # Older versions of drafts (rewritten before signing) expire. This cannot touch a signed
                # contract: S3 never deletes or expires an object version while its retention date is in
                # the future, lifecycle rules included; a locked version is only eligible once its
                # retention has passed.
                s3.LifecycleRule(
                    id="expire-noncurrent-draft-versions",
                    noncurrent_version_expiration=cdk.Duration.days(CONTRACT_NONCURRENT_VERSION_DAYS),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(CONTRACT_INCOMPLETE_UPLOAD_DAYS),
                ),
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        # The e-signature keys: never in the templates or the environment (README "Secrets"). The api and
        # stream handlers get its ARN (ESIGN_SECRET_ARN) and GetSecretValue on it alone. It lives here, with
        # the data, so that redeploying the code keeps the keys (a new built-in key would invalidate the
        # webhooks in flight, and the DocuSign fields are typed in by hand).
        self.esign_secret = secretsmanager.Secret(
            self,
            "EsignSecret",
            secret_name=config.esign_secret_name,
            description=f"{config.name('esign')}: built-in signature key (generated) and DocuSign credentials (set by the operator)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(dict.fromkeys(ESIGN_OPERATOR_FIELDS, "")),
                generate_string_key=ESIGN_GENERATED_FIELD,
                # Letters and digits: safe in a comma-separated key list and in any header.
                exclude_punctuation=True,
                password_length=64,
            ),
            removal_policy=config.removal_policy,
        )

        # The Stripe keys (README "The Stripe secret"): the platform account's secret key and the signing
        # secrets of its two webhook endpoints. Read by the functions that call Stripe (STRIPE_SECRET_ARN, in
        # the api stack); here with the data for the same reason as the esign secret. The template holds the
        # empty placeholders only: CloudFormation writes them when it creates the secret and leaves the value
        # alone afterwards as long as this template text is unchanged (changing it overwrites the keys).
        self.stripe_secret = secretsmanager.Secret(
            self,
            "StripeSecret",
            secret_name=config.stripe_secret_name,
            description=f"{config.name('stripe')}: Stripe secret key and webhook signing secrets (set by the operator)",
            secret_string_value=cdk.SecretValue.unsafe_plain_text(json.dumps(dict.fromkeys(STRIPE_OPERATOR_FIELDS, ""))),
            removal_policy=config.removal_policy,
        )

        cdk.CfnOutput(self, "MainTableName", value=self.main_table.table_name)
        cdk.CfnOutput(self, "ConsentLedgerTableName", value=self.consent_ledger_table.table_name)
        cdk.CfnOutput(self, "AuditLogTableName", value=self.audit_log_table.table_name)
        cdk.CfnOutput(self, "DocumentsBucketName", value=self.documents_bucket.bucket_name)
        cdk.CfnOutput(self, "ContractsBucketName", value=self.contracts_bucket.bucket_name)
        cdk.CfnOutput(self, "EsignSecretArn", value=self.esign_secret.secret_arn)
        cdk.CfnOutput(self, "StripeSecretArn", value=self.stripe_secret.secret_arn)
        cdk.CfnOutput(self, "UploadsQueueUrl", value=self.uploads_queue.queue_url)
        cdk.CfnOutput(self, "UploadsDeadLetterQueueUrl", value=self.uploads_dlq.queue_url)

    def _accept_generated_depends_on(self) -> None:
        """Tell cfn-lint that the notification custom resource's redundant DependsOn is expected.

        CDK's generated S3 notification resource and its handler function list DependsOn entries that
        a GetAtt already implies (cfn-lint W3005). It is code we do not own and the ordering is right;
        the suppression is per resource so W3005 still applies to everything else.
        """
        for construct in self.node.find_all():
            if not isinstance(construct, cdk.CfnResource):
                continue
            generated = construct.cfn_resource_type == "Custom::S3BucketNotifications" or (
                construct.cfn_resource_type == "AWS::Lambda::Function" and "BucketNotificationsHandler" in construct.node.path
            )
            if generated:
                construct.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})

    def _table(self, construct_id: str, *, partition_key: str, sort_key: str, **extra: Any) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            # The AWS managed key aws/dynamodb: key use shows in the account's CloudTrail, and DynamoDB
            # authorises it for callers with table access, so the Lambda roles need no KMS grants.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=self._config.protected,
            removal_policy=self._config.removal_policy,
            **extra,
        )
