"""The code: the Chalice app (REST API, event handlers, scheduled jobs), their IAM roles and triggers, and
what guards them: the REST API's throttle and web ACL, the alarms.

Roles. Chalice would generate one role whose policy comes from a static scan of ``app.py`` for boto3
calls; this app's calls live in ``chalicelib/adapters`` (the scan sees none), and one role would be
shared by all the functions. Instead ``manage_iam_role`` is off and each function gets its own role
built here, holding only what that function's code path calls (traced in the README, "IAM").

Triggers. ``@app.on_s3_event`` / ``@app.on_sqs_message`` / ``@app.on_dynamodb_record`` cannot be used
with ``chalice.cdk`` here (it refuses S3 events; the stream decorator needs a literal ARN), so the app
declares plain ``@app.lambda_function`` handlers and their event source mappings are created below.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.alarms import Alarms
from stacks.chalice_app import StagedChalice
from stacks.config import (
    API_TIMEOUT,
    APP_NAME,
    ESIGN_WEBHOOK_PATH,
    EVENT_HANDLER_TIMEOUT,
    LAMBDA_MEMORY_MB,
    PRIVACY_WORKER_MEMORY_MB,
    PRIVACY_WORKER_TIMEOUT,
    PROJECT_ROOT,
    StageConfig,
    chalice_api_stage,
)
from stacks.data import CONTRACT_OBJECT_PREFIXES, DLQ_RETENTION, DataStack
from stacks.firewall import RestApiFirewall, rest_api_stage_arn
from stacks.identity import IdentityStack
from stacks.search import INDEX_ALIAS, READER_ROLE, ROLE_PERMISSIONS, SEARCH_READ_ACTIONS, SEARCH_WRITE_ACTIONS, WRITER_ROLE, SearchStack

# Logical ids chalice gives the packaged functions: the REST handler, then @app.lambda_function names.
API_HANDLER = "APIHandler"
# ...and its REST API (an AWS::Serverless::Api).
REST_API = "RestAPI"
UPLOAD_HANDLER = "UploadHandler"
STREAM_HANDLER = "StreamHandler"
PRIVACY_JOBS = "PrivacyJobs"
PRIVACY_WORKER = "PrivacyWorker"
PROPOSAL_JOBS = "ProposalJobs"
# The functions that read the esign secret (and get its ARN as ESIGN_SECRET_ARN): the api handler
# (DocuSign, verifying webhooks, the built-in signature), the stream handler (signing the built-in
# signature's webhooks) and the proposal jobs (asking DocuSign about contracts whose webhook never came).
ESIGN_SECRET_READERS = (API_HANDLER, STREAM_HANDLER, PROPOSAL_JOBS)
# The functions that call Stripe and read the stripe secret (its ARN as STRIPE_SECRET_ARN): the api handler
# (payout onboarding links, the webhooks /webhooks/stripe and /webhooks/stripe/connect), the stream handler
# (issues each recorded invoice) and the proposal jobs (reconcile invoices with Stripe).
STRIPE_SECRET_READERS = (API_HANDLER, STREAM_HANDLER, PROPOSAL_JOBS)
# When the daily privacy jobs run (UTC): pending erasures, then retention (chalicelib/events/jobs.py).
PRIVACY_JOBS_SCHEDULE = {"hour": "3", "minute": "15"}
# How often unanswered disclosure consent requests are expired: a request outlives its deadline
# (CONSENT_REQUEST_TTL_HOURS after it was made) by five minutes at most while the runs succeed.
PROPOSAL_JOBS_RATE = cdk.Duration.minutes(5)
# EventBridge's retries of a failed delivery to the function, for both schedules.
SCHEDULE_RETRY_ATTEMPTS = 2

# Read/write on the main table and its indexes. No Scan (no request path may scan: DESIGN.md §2) and no
# DescribeTable (PynamoDB 6 builds table metadata from the models and never calls it).
MAIN_TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)
# The consent ledger and audit log are append-only evidence. The app writes them with PutItem
# conditional on absence (alone or inside TransactWriteItems, which IAM checks per item action) and
# reads them with GetItem/Query. Without UpdateItem/DeleteItem even a bug cannot rewrite history.
APPEND_ONLY_TABLE_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
)
# Erasure (chalicelib/services/erasure.py, run by the privacy worker and the privacy jobs) replaces each
# ledger and audit entry about the person by its pseudonymised copy: the only roles that may delete there.
# Erasure pseudonymises (a put of the copy, a delete of the original) and, first, withdraws the person's
# open candidacies, which reads their consents one by one (GetItem) and puts the withdrawals.
ERASURE_LEDGER_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem")
# The proposal jobs (chalicelib/services/candidacies.py expire_consent_requests) read candidacies, users,
# organisations and assignments (GetItem; Query on gsi1/gsi2) and write only through one TransactWriteItems
# per candidacy whose items are conditional puts: the transition, the outbox and notification items.
PROPOSAL_JOBS_MAIN_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
# ...and in the same transaction the withdrawal of a consent given for the candidacy (its ledger entries
# are read first) with its audit entry: puts conditional on absence, never an update or a delete.
PROPOSAL_JOBS_LEDGER_ACTIONS = ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query")
PROPOSAL_JOBS_AUDIT_ACTIONS = ("dynamodb:PutItem",)
# Where a person's objects live (chalicelib/services/files.py, privacy.py, consent_documents.py).
PERSONAL_OBJECT_PREFIXES = ("files/", "exports/", "consent-documents/")
# What CognitoIdentityGateway calls (chalicelib/adapters/identity.py); tests/test_stack.py fails when the
# adapter starts calling something that is not listed here.
COGNITO_ACTIONS = (
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminSetUserPassword",
    "cognito-idp:AdminAddUserToGroup",
    "cognito-idp:AdminRemoveUserFromGroup",
    "cognito-idp:AdminUpdateUserAttributes",
    "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminGetUser",
    # InitiateAuth is a public API that Cognito does not authorise with IAM; granted anyway so the
    # policy reads as the list of calls the code makes.
    "cognito-idp:InitiateAuth",
)
# Contracts (the api handler, and the proposal jobs' reconciliation): drafts and signed PDFs are put and read, signed ones with a COMPLIANCE
# retention in the same PutObject (authorised as PutObjectRetention too); reads may name a version. Nobody
# may delete there: object lock guards the signed versions, and the missing grant everything else.
CONTRACT_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectRetention")
# What a reader of a secret (esign, stripe) may do with it: read its value, nothing else (not even
# DescribeSecret, which CDK's grant_read adds).
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue",)
# DynamoDB stream batches: how hard to retry a poisoned batch before its position goes to the DLQ.
STREAM_RETRY_ATTEMPTS = 5
STREAM_BATCH_SIZE = 100
# The functions that use the search index (chalicelib/container.py match_index): the api handler searches
# it (match runs), the stream handler keeps it (reindex_consultant). No other code path reaches it.
SEARCH_READERS = (API_HANDLER,)
SEARCH_WRITERS = (STREAM_HANDLER,)
# The records the privacy worker acts on (chalicelib/events/privacy.py KINDS; a test keeps them equal).
PRIVACY_WORKER_KINDS = ("erasure", "export_archive")
UPLOADS_BATCH_SIZE = 10


class ApiStack(cdk.Stack):
    chalice: StagedChalice
    api_role: iam.Role
    upload_role: iam.Role
    stream_role: iam.Role
    jobs_role: iam.Role
    worker_role: iam.Role
    proposal_jobs_role: iam.Role
    stream_failures_queue: sqs.Queue
    function_environment: dict[str, str]
    alarms: Alarms

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: DataStack,
        identity: IdentityStack,
        search: SearchStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._config = config
        labels = {
            API_HANDLER: "api-handler",
            UPLOAD_HANDLER: "upload-handler",
            STREAM_HANDLER: "stream-handler",
            PRIVACY_JOBS: "privacy-jobs",
            PRIVACY_WORKER: "privacy-worker",
            PROPOSAL_JOBS: "proposal-jobs",
        }
        names = {logical_id: config.name(label) for logical_id, label in labels.items()}

        self.api_role = self._lambda_role("ApiHandlerRole", names[API_HANDLER], "REST API handler")
        self.upload_role = self._lambda_role("UploadHandlerRole", names[UPLOAD_HANDLER], "S3 upload queue handler")
        self.stream_role = self._lambda_role("StreamHandlerRole", names[STREAM_HANDLER], "main table stream handler")
        self.jobs_role = self._lambda_role("PrivacyJobsRole", names[PRIVACY_JOBS], "daily privacy jobs")
        self.worker_role = self._lambda_role("PrivacyWorkerRole", names[PRIVACY_WORKER], "erasures and export archives")
        self.proposal_jobs_role = self._lambda_role("ProposalJobsRole", names[PROPOSAL_JOBS], "consent request expiry")

        # REST API: accounts, consents and consent documents (presigned POST/GET, delete on rejection),
        # Cognito user administration and login; assignments, candidacies, proposals and interviews (the
        # main table's gsi1-gsi4, the index/* grant), disclosure consents (ledger GetItem, and a ConditionCheck
        # on the ledger inside TransactWriteItems when a proposal is sent). E-mail goes through the outbox.
        self._grant_main_table(self.api_role, data.main_table)
        self._grant_append_only(self.api_role, data.consent_ledger_table, data.audit_log_table)
        self._grant_documents(self.api_role, data.documents_bucket.bucket_arn, put=True)
        self.api_role.add_to_policy(iam.PolicyStatement(actions=list(COGNITO_ACTIONS), resources=[identity.user_pool.user_pool_arn]))
        # Contracts: prepared, signed (locked for CONTRACT_RETENTION_YEARS) and downloaded by the API.
        self._grant_contracts(self.api_role, data)
        # Match runs search the index: see "Search" below.
        # The esign and stripe secrets: see _share_secret below.

        # Upload handler: reads the consent document record, checks the uploaded version (one bounded
        # GET for size, first bytes and SHA-256), deletes refused versions and records the outcome.
        self._grant_main_table(self.upload_role, data.main_table)
        self._grant_documents(self.upload_role, data.documents_bucket.bucket_arn, put=False)
        data.uploads_queue.grant_consume_messages(self.upload_role)

        # Stream handler: delivers outbox messages (GetItem + conditional UpdateItem on the main table)
        # through SES, from the configured sender only; those with attachments (calendar invitations)
        # as MIME, with SendRawEmail.
        self._grant_main_table(self.stream_role, data.main_table)
        self.stream_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                # identity/* because, in the SES sandbox, the recipient's identity is authorised too;
                # the condition pins the sender.
                resources=[self.format_arn(service="ses", resource="identity", resource_name="*")],
                conditions={"StringEquals": {"ses:FromAddress": config.email_sender}},
            ),
        )
        data.main_table.grant_stream_read(self.stream_role)
        # ...and posts the built-in signature's webhooks to the API over HTTPS (no AWS permission), signed
        # with the key from the esign secret; issues recorded invoices with Stripe (the stripe secret's key).

        # Privacy worker: carries out erasure requests and builds export archives (reads the person's
        # files, streams the zip to exports/ in parts), from its own filtered reading of the stream.
        bucket_arn = data.documents_bucket.bucket_arn
        self._grant_main_table(self.worker_role, data.main_table)
        data.main_table.grant_stream_read(self.worker_role)
        self._grant_erasure(self.worker_role, data, identity)
        self.worker_role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[f"{bucket_arn}/files/*"]),
        )
        self.worker_role.add_to_policy(
            iam.PolicyStatement(actions=["s3:PutObject", "s3:AbortMultipartUpload"], resources=[f"{bucket_arn}/exports/*"]),
        )
        # So that S3 answers 404, not 403, for a file deleted since its archive was asked for (left out).
        self.worker_role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket_arn]))

        # Privacy jobs: finish pending erasures (as the privacy worker does), apply retention (reads
        # consultants by activity, writes notices to the outbox and erasure requests: main table only) and
        # settle stale uploads.
        self._grant_main_table(self.jobs_role, data.main_table)
        self._grant_erasure(self.jobs_role, data, identity)
        # Settling uploads that will never be checked: is anything stored under the file's key? (ListBucket
        # makes S3 answer 404, not 403, when nothing is.)
        self.jobs_role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{bucket_arn}/files/*"]))
        self.jobs_role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket_arn]))

        # Proposal jobs: expire unanswered disclosure consent requests (PROPOSAL_JOBS_*_ACTIONS above), and
        # the built-in signature's signing requests past their deadline (the same reads on gsi2 and
        # conditional puts: the expiry's delivery item goes to the outbox, the stream handler posts its
        # webhook). Ending engagements past their last day and recording reviews' reveals at their deadline are
        # the same: queries of gsi2, reads, conditional puts (the engagement, the review, the consultant's rating).
        # No Cognito or SES: the stream handler mails the notices the job puts in the outbox.
        main = data.main_table.table_arn
        self.proposal_jobs_role.add_to_policy(
            iam.PolicyStatement(actions=list(PROPOSAL_JOBS_MAIN_TABLE_ACTIONS), resources=[main, f"{main}/index/*"]),
        )
        self.proposal_jobs_role.add_to_policy(
            iam.PolicyStatement(actions=list(PROPOSAL_JOBS_LEDGER_ACTIONS), resources=[data.consent_ledger_table.table_arn]),
        )
        self.proposal_jobs_role.add_to_policy(
            iam.PolicyStatement(actions=list(PROPOSAL_JOBS_AUDIT_ACTIONS), resources=[data.audit_log_table.table_arn]),
        )
        # ...and the reconciliation of contracts out for signature whose webhook never came: it asks the
        # provider (DocuSign with the keys in the secret) and stores a completed contract's documents, locked.
        # (The esign secret, to ask DocuSign, and the stripe secret, to reconcile invoices: _share_secret below.)
        self._grant_contracts(self.proposal_jobs_role, data)

        # What the app reads from its environment (chalicelib/settings.py). COGNITO_JWKS_URL stays unset:
        # the app derives it from the issuer. AWS_REGION is set by Lambda itself (and reserved).
        self.function_environment = {
            "APP_STAGE": config.stage,
            "POWERTOOLS_SERVICE_NAME": APP_NAME,
            "TABLE_MAIN": data.main_table.table_name,
            "TABLE_CONSENT_LEDGER": data.consent_ledger_table.table_name,
            "TABLE_AUDIT_LOG": data.audit_log_table.table_name,
            "DOCUMENTS_BUCKET": data.documents_bucket.bucket_name,
            "UPLOADS_QUEUE_NAME": data.uploads_queue.queue_name,
            "COGNITO_USER_POOL_ID": identity.user_pool.user_pool_id,
            "COGNITO_CLIENT_ID": identity.user_pool_client.user_pool_client_id,
            "EMAIL_SENDER": config.email_sender,
            "WEB_BASE_URL": config.web_base_url,
            "CORS_ALLOWED_ORIGINS": json.dumps(list(config.web_origins), separators=(",", ":")),
            # The search domain, signed with SigV4 from each function's role (region: the function's own).
            # Only the api and stream handlers may reach it (IAM and the domain's own roles, below).
            "SEARCH_ENGINE": "opensearch",
            "OPENSEARCH_URL": search.endpoint_url,
            "OPENSEARCH_ALIAS": INDEX_ALIAS,
            # Contracts and e-signatures. The keys are not here: ESIGN_SECRET_ARN (below, on the api and stream
            # handlers and the proposal jobs only) names the secret that holds them.
            "CONTRACTS_BUCKET": data.contracts_bucket.bucket_name,
            "SIGNATURE_PROVIDER": config.signature_provider,
            "CONTRACT_RETENTION_YEARS": str(config.contract_retention_years),
            "CONTRACT_SIGNING_DAYS": str(config.contract_signing_days),
            "PLATFORM_LEGAL_NAME": config.platform_legal_name,
            "PLATFORM_ORG_NUMBER": config.platform_org_number,
            "DOCUSIGN_AUTH_SERVER": config.docusign_auth_server,
            "DOCUSIGN_BASE_URI": config.docusign_base_uri,
            # The configured URL; otherwise derived from the REST API below, except in the API handler's
            # own environment, where that would be a circular reference (README "Environment of the functions").
            "ESIGN_WEBHOOK_URL": config.esign_webhook_url or "",
            # Stripe or the offline Stripe (context `payments`; prod refuses offline). The keys are not here:
            # STRIPE_SECRET_ARN (below, on the functions that call Stripe) names the secret that holds them.
            "PAYMENTS": config.payments,
            "STRIPE_TAX": "true" if config.stripe_tax else "false",
        }
        self.chalice = StagedChalice(
            self,
            "ChaliceApp",
            source_dir=str(PROJECT_ROOT),
            stage=config.stage,
            stage_config={
                "manage_iam_role": False,
                # Global to all functions (see chalice_app.py); the event handlers are re-pointed below.
                "iam_role_arn": self.api_role.role_arn,
                "environment_variables": self.function_environment,
                "lambda_memory_size": LAMBDA_MEMORY_MB,
                "lambda_timeout": int(API_TIMEOUT.to_seconds()),
                # Not chalice's `log_retention_in_days`: with a REST API its SAM output references the
                # API handler's pre-rename logical id and CfnInclude rejects the template. The log
                # groups are created below instead.
            },
        )
        # Explicit names make the log-group ARNs in the roles exact (and the functions easy to find).
        self.chalice.override_function(API_HANDLER, FunctionName=names[API_HANDLER])
        # The proposal jobs get the same minute: well inside their five-minute interval, and a backlog left
        # by a run cut short is taken up by the next (each expiry is its own idempotent transaction).
        event_handlers = ((UPLOAD_HANDLER, self.upload_role), (STREAM_HANDLER, self.stream_role), (PROPOSAL_JOBS, self.proposal_jobs_role))
        for logical_id, role in event_handlers:
            self.chalice.override_function(
                logical_id,
                FunctionName=names[logical_id],
                Role=role.role_arn,
                Timeout=int(EVENT_HANDLER_TIMEOUT.to_seconds()),
            )
        # The daily jobs finish erasures the worker could not: they get the worker's time and memory.
        for logical_id, role in ((PRIVACY_WORKER, self.worker_role), (PRIVACY_JOBS, self.jobs_role)):
            self.chalice.override_function(
                logical_id,
                FunctionName=names[logical_id],
                Role=role.role_arn,
                Timeout=int(PRIVACY_WORKER_TIMEOUT.to_seconds()),
                MemorySize=PRIVACY_WORKER_MEMORY_MB,
            )

        # The secrets, each to the functions that read it: its ARN in their environment, GetSecretValue on it.
        roles = {
            API_HANDLER: self.api_role,
            UPLOAD_HANDLER: self.upload_role,
            STREAM_HANDLER: self.stream_role,
            PRIVACY_JOBS: self.jobs_role,
            PRIVACY_WORKER: self.worker_role,
            PROPOSAL_JOBS: self.proposal_jobs_role,
        }
        self._share_secret(data.esign_secret, "ESIGN_SECRET_ARN", {f: roles[f] for f in ESIGN_SECRET_READERS})
        self._share_secret(data.stripe_secret, "STRIPE_SECRET_ARN", {f: roles[f] for f in STRIPE_SECRET_READERS})

        # Search. IAM: the api handler reads and the stream handler writes, on this domain's paths only. Inside
        # the domain, fine-grained access control maps their roles to the reader and writer roles, limited to
        # the app's indices (stacks/search.py); the search stack's function applies the mapping.
        domain_paths = f"{search.domain.domain_arn}/*"
        for logical_id in SEARCH_READERS:
            roles[logical_id].add_to_policy(iam.PolicyStatement(actions=list(SEARCH_READ_ACTIONS), resources=[domain_paths]))
        for logical_id in SEARCH_WRITERS:
            roles[logical_id].add_to_policy(iam.PolicyStatement(actions=list(SEARCH_WRITE_ACTIONS), resources=[domain_paths]))
        search_roles = cdk.CustomResource(
            self,
            "SearchRoles",
            service_token=search.roles_function.function_arn,
            resource_type="Custom::OpenSearchRoles",
            properties={
                "Endpoint": search.domain.domain_endpoint,
                "Roles": [
                    {
                        "Name": READER_ROLE,
                        "Permissions": ROLE_PERMISSIONS[READER_ROLE],
                        "BackendRoles": [roles[f].role_arn for f in SEARCH_READERS],
                    },
                    {
                        "Name": WRITER_ROLE,
                        "Permissions": ROLE_PERMISSIONS[WRITER_ROLE],
                        "BackendRoles": [*(roles[f].role_arn for f in SEARCH_WRITERS), *config.search_operator_role_arns],
                    },
                ],
            },
        )

        # The webhook URL from the deployed REST API (chalice's EndpointURL, ending in "/api/"). The REST
        # API refers to the API handler (its integrations), so the handler cannot refer back: it keeps the
        # configured value, empty when there is none. The stream handler, which posts the built-in
        # signature's webhooks, and the other functions get the real URL.
        endpoint = self.chalice.sam_template.get_output("EndpointURL")
        if config.esign_webhook_url is None:
            derived_webhook_url = cdk.Fn.join("", [endpoint.value, ESIGN_WEBHOOK_PATH])
            for logical_id in names:
                if logical_id != API_HANDLER:
                    self.chalice.override_function(logical_id, **{"Environment.Variables.ESIGN_WEBHOOK_URL": derived_webhook_url})

        # Each function's log group, with a retention. The roles may write to it but not create groups, so
        # the group must exist before the function can run: hence the dependency.
        for logical_id, function_name in names.items():
            log_group = logs.LogGroup(
                self,
                f"{logical_id}Logs",
                log_group_name=f"/aws/lambda/{function_name}",
                retention=config.log_retention,
                removal_policy=config.removal_policy,
            )
            self.chalice.get_resource(logical_id).node.add_dependency(log_group)

        # S3 ObjectCreated → uploads queue → upload_handler. The handler returns batchItemFailures, so
        # one bad object does not make the other nine in the batch run again.
        upload_mapping = lambda_.EventSourceMapping(
            self,
            "UploadsQueueMapping",
            target=self._function_ref(UPLOAD_HANDLER, self.upload_role),
            event_source_arn=data.uploads_queue.queue_arn,
            batch_size=UPLOADS_BATCH_SIZE,
            report_batch_item_failures=True,
        )

        # Main table stream → stream_handler. A failing record is isolated by bisecting the batch and
        # retried; after that its shard position (not the record itself) lands in this queue, so the
        # shard moves on instead of blocking for 24 hours.
        self.stream_failures_queue = sqs.Queue(
            self,
            "StreamFailuresQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        stream_mapping = lambda_.EventSourceMapping(
            self,
            "MainTableStreamMapping",
            target=self._function_ref(STREAM_HANDLER, self.stream_role),
            event_source_arn=data.main_table.table_stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=STREAM_BATCH_SIZE,
            bisect_batch_on_error=True,
            retry_attempts=STREAM_RETRY_ATTEMPTS,
            report_batch_item_failures=True,
            # SqsDlq also grants the stream role sqs:SendMessage on the queue.
            on_failure=event_sources.SqsDlq(self.stream_failures_queue),
        )
        # The same stream → privacy_worker, filtered to the records it acts on (erasure requests, export
        # archives), one at a time: each may take minutes, and a failure retries only its own record.
        worker_mapping = lambda_.EventSourceMapping(
            self,
            "PrivacyWorkerStreamMapping",
            target=self._function_ref(PRIVACY_WORKER, self.worker_role),
            event_source_arn=data.main_table.table_stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=1,
            retry_attempts=STREAM_RETRY_ATTEMPTS,
            report_batch_item_failures=True,
            filters=[
                lambda_.FilterCriteria.filter(
                    {
                        "eventName": lambda_.FilterRule.is_equal("INSERT"),
                        "dynamodb": {"NewImage": {"kind": {"S": list(PRIVACY_WORKER_KINDS)}}},
                    },
                ),
            ],
            on_failure=event_sources.SqsDlq(self.stream_failures_queue),
        )
        # Lambda checks the role's permissions when the mapping is created: the policies must exist first.
        upload_mapping.node.add_dependency(self.upload_role)
        stream_mapping.node.add_dependency(self.stream_role)
        worker_mapping.node.add_dependency(self.worker_role)
        # The stream handler indexes from its first record: its role must be mapped in the domain by then.
        stream_mapping.node.add_dependency(search_roles)

        schedule = events.Rule(
            self,
            "PrivacyJobsSchedule",
            description="Daily: finish pending erasures, apply retention, settle stale uploads",
            schedule=events.Schedule.cron(**PRIVACY_JOBS_SCHEDULE),
            targets=[targets.LambdaFunction(self._function_ref(PRIVACY_JOBS, self.jobs_role), retry_attempts=SCHEDULE_RETRY_ATTEMPTS)],
        )
        proposal_schedule = events.Rule(
            self,
            "ProposalJobsSchedule",
            description="Every 5 minutes: expire unanswered disclosure consent requests",
            schedule=events.Schedule.rate(PROPOSAL_JOBS_RATE),
            targets=[
                targets.LambdaFunction(self._function_ref(PROPOSAL_JOBS, self.proposal_jobs_role), retry_attempts=SCHEDULE_RETRY_ATTEMPTS),
            ],
        )
        # The rules and their functions are in this stack, so their environments cannot differ.
        for rule in (schedule, proposal_schedule):
            cdk.Annotations.of(rule).acknowledge_warning("@aws-cdk/aws-events:ruleUnresolvedEnvironment", "same stack as the function")

        # The REST API: named per stage (its CloudWatch metrics are keyed by name and stage, and two stages may
        # share an account), throttled for every method at its stage, and behind the web ACL.
        api_name = config.name("api")
        rest_api = self.chalice.get_resource(REST_API)
        rest_api.add_property_override("Name", api_name)
        rest_api.add_property_override("DefinitionBody.info.title", api_name)
        rest_api.add_property_override(
            "MethodSettings",
            [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "ThrottlingRateLimit": config.api_throttle_rate,
                    "ThrottlingBurstLimit": config.api_throttle_burst,
                },
            ],
        )
        RestApiFirewall(self, "Firewall", config=config, stage_arn=rest_api_stage_arn(REST_API))

        self.alarms = Alarms(
            self,
            "Alarms",
            config=config,
            functions={labels[logical_id]: name for logical_id, name in names.items()},
            stream_readers=[labels[STREAM_HANDLER], labels[PRIVACY_WORKER]],
            dead_letter_queues={"uploads-dlq": data.uploads_dlq, "stream-failures": self.stream_failures_queue},
            api_name=api_name,
            api_stage=chalice_api_stage(config.stage),
            search_domain=search.domain,
        )

        cdk.CfnOutput(self, "ApiUrl", value=endpoint.value, description="Base URL of the REST API (stage 'api')")
        cdk.CfnOutput(self, "StreamFailuresQueueUrl", value=self.stream_failures_queue.queue_url)
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)

    def _lambda_role(self, construct_id: str, function_name: str, purpose: str) -> iam.Role:
        role = iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{APP_NAME} {self._config.stage}: {purpose}",
        )
        # Instead of AWSLambdaBasicExecutionRole (logs:* verbs on every log group): the function's own
        # group, which the stack creates.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    self.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"/aws/lambda/{function_name}:*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    ),
                ],
            ),
        )
        return role

    def _function_ref(self, logical_id: str, role: iam.IRole) -> lambda_.IFunction:
        # A reference that knows its role, so CDK's own grants (e.g. SqsDlq) land in that role's policy.
        arn = self.chalice.get_resource(logical_id).get_att("Arn").to_string()
        return lambda_.Function.from_function_attributes(self, f"{logical_id}Ref", function_arn=arn, role=role, same_environment=True)

    @staticmethod
    def _grant_main_table(role: iam.Role, table: dynamodb.ITable) -> None:
        role.add_to_policy(
            iam.PolicyStatement(actions=list(MAIN_TABLE_ACTIONS), resources=[table.table_arn, f"{table.table_arn}/index/*"]),
        )

    @staticmethod
    def _grant_erasure(role: iam.Role, data: DataStack, identity: IdentityStack) -> None:
        """What erasure needs beyond the main table: the Cognito user, every version of the person's
        objects (listed, then deleted by version id) and uploads left incomplete, and the append-only
        entries it pseudonymises."""
        role.add_to_policy(iam.PolicyStatement(actions=["cognito-idp:AdminDeleteUser"], resources=[identity.user_pool.user_pool_arn]))
        bucket_arn = data.documents_bucket.bucket_arn
        role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucketVersions", "s3:ListBucketMultipartUploads"], resources=[bucket_arn]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload"],
                resources=[f"{bucket_arn}/{prefix}*" for prefix in PERSONAL_OBJECT_PREFIXES],
            ),
        )
        tables = (data.consent_ledger_table, data.audit_log_table)
        role.add_to_policy(iam.PolicyStatement(actions=list(ERASURE_LEDGER_ACTIONS), resources=[t.table_arn for t in tables]))

    @staticmethod
    def _grant_contracts(role: iam.Role, data: DataStack) -> None:
        contracts_arn = data.contracts_bucket.bucket_arn
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(CONTRACT_OBJECT_ACTIONS),
                resources=[f"{contracts_arn}/{prefix}*" for prefix in CONTRACT_OBJECT_PREFIXES],
            ),
        )

    def _share_secret(self, secret: secretsmanager.ISecret, variable: str, readers: dict[str, iam.Role]) -> None:
        """Give the functions ``readers`` (logical id → role) the secret's ARN as ``variable`` and
        GetSecretValue on that secret alone (README "Secrets")."""
        for logical_id, role in readers.items():
            # Not CDK's grant_read (it adds DescribeSecret). The secret is encrypted with the AWS managed
            # key aws/secretsmanager: no KMS grant needed.
            role.add_to_policy(iam.PolicyStatement(actions=list(SECRET_READ_ACTIONS), resources=[secret.secret_arn]))
            self.chalice.override_function(logical_id, **{f"Environment.Variables.{variable}": secret.secret_arn})

    @staticmethod
    def _grant_append_only(role: iam.Role, *tables: dynamodb.ITable) -> None:
        role.add_to_policy(iam.PolicyStatement(actions=list(APPEND_ONLY_TABLE_ACTIONS), resources=[t.table_arn for t in tables]))

    @staticmethod
    def _grant_documents(role: iam.Role, bucket_arn: str, *, put: bool) -> None:
        # A presigned URL carries the signer's permissions: the API role needs PutObject for the upload
        # POST it signs and GetObject for download links. Documents refer to the exact object version
        # that was checked (chalicelib/adapters/storage.py), so reads and deletes name a VersionId,
        # which S3 authorises with the *Version actions.
        actions = ["s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion", *(["s3:PutObject"] if put else [])]
        role.add_to_policy(iam.PolicyStatement(actions=sorted(actions), resources=[f"{bucket_arn}/*"]))
        # Without ListBucket, S3 answers HEAD/GET of a missing key with 403 instead of 404; the storage
        # adapter treats 404 as "gone" (e.g. already refused and deleted) and anything else as a failure
        # to retry, which would send redelivered upload events to the DLQ.
        role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket_arn]))
