"""CDK assertions on the synthesized templates (dev as in cdk.json, and prod)."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from conftest import PROD_CONTEXT, Synth, cdk_json_context
from stacks.api import (
    API_HANDLER,
    APPEND_ONLY_TABLE_ACTIONS,
    CONTRACT_OBJECT_ACTIONS,
    ERASURE_LEDGER_ACTIONS,
    PRIVACY_JOBS,
    PRIVACY_JOBS_SCHEDULE,
    PRIVACY_WORKER,
    PRIVACY_WORKER_KINDS,
    PROPOSAL_JOBS,
    PROPOSAL_JOBS_AUDIT_ACTIONS,
    PROPOSAL_JOBS_LEDGER_ACTIONS,
    STREAM_HANDLER,
    UPLOAD_HANDLER,
)
from stacks.config import PAYMENTS_PROVIDERS, PROJECT_ROOT, ConfigError, StageConfig
from stacks.data import ESIGN_GENERATED_FIELD, ESIGN_OPERATOR_FIELDS, MAIN_TABLE_INDEXES, STRIPE_OPERATOR_FIELDS, DataStack

from chalicelib.adapters.dynamo import models
from chalicelib.domain.identity import Role
from chalicelib.settings import ESIGN_SECRET_FIELDS, STRIPE_SECRET_FIELDS, Settings

IAM_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role")
FUNCTIONS = (API_HANDLER, UPLOAD_HANDLER, STREAM_HANDLER, PRIVACY_JOBS, PRIVACY_WORKER, PROPOSAL_JOBS)
# The contract and e-signature settings.
CONTRACT_VARIABLES = {
    "CONTRACTS_BUCKET", "SIGNATURE_PROVIDER", "ESIGN_WEBHOOK_URL", "CONTRACT_RETENTION_YEARS", "CONTRACT_SIGNING_DAYS",
    "PLATFORM_LEGAL_NAME", "PLATFORM_ORG_NUMBER", "DOCUSIGN_AUTH_SERVER", "DOCUSIGN_BASE_URI", "ESIGN_SECRET_ARN",
}  # fmt: skip
# Never in any function's environment: they are in the esign and stripe secrets.
SECRET_VARIABLES = {
    "BUILTIN_ESIGN_KEYS", "DOCUSIGN_PRIVATE_KEY", "DOCUSIGN_CONNECT_KEYS",
    "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET",
}  # fmt: skip
# The functions that call Stripe: the api handler (payout onboarding, webhooks), the stream handler (issues
# invoices) and the proposal jobs (reconcile them). Also the readers of the esign secret.
SECRET_READING_FUNCTIONS = (API_HANDLER, STREAM_HANDLER, PROPOSAL_JOBS)
# The stripe secret's fields are the app's settings of these names (Settings field name = JSON key).
STRIPE_SECRET_SETTINGS = {
    "stripe_api_key": "STRIPE_API_KEY",
    "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET",
    "stripe_connect_webhook_secret": "STRIPE_CONNECT_WEBHOOK_SECRET",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allow_statements(template: Template) -> Iterator[dict[str, Any]]:
    """Every Allow statement of the identity policies in a template (inline role policies included)."""
    for resource_type in IAM_POLICY_TYPES:
        for resource in template.find_resources(resource_type).values():
            props = resource.get("Properties", {})
            documents = [props["PolicyDocument"]] if "PolicyDocument" in props else [p["PolicyDocument"] for p in props.get("Policies", [])]
            for document in documents:
                for statement in _as_list(document["Statement"]):
                    if statement["Effect"] == "Allow":
                        yield statement


def logical_id(stack: Any, construct: Any) -> str:
    return str(stack.get_logical_id(construct.node.default_child))


def mentions(statement: dict[str, Any], table_logical_id: str) -> bool:
    # Cross-stack references (Fn::GetStackOutput / Fn::ImportValue) carry the producer's logical id.
    return table_logical_id in json.dumps(statement.get("Resource"))


def _keys(key_schema: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(k["AttributeName"], k["KeyType"]) for k in key_schema}


def function_properties(synth: Synth, function: str) -> dict[str, Any]:
    props: dict[str, Any] = synth.api.find_resources("AWS::Serverless::Function")[function]["Properties"]
    return props


# --- data --------------------------------------------------------------------------------------------


def test_every_table_is_on_demand_encrypted_and_point_in_time_recoverable(dev: Synth) -> None:
    tables = dev.data.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == 3
    for table in tables.values():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        # SSEEnabled without a KMS key id is the AWS managed key (aws/dynamodb).
        assert props["SSESpecification"] == {"SSEEnabled": True}


@pytest.mark.parametrize("model", models.TABLE_MODELS, ids=lambda m: m.__name__)
def test_tables_match_the_pynamodb_models(dev: Synth, model: Any) -> None:
    data = dev.deployment.data
    table = {
        models.MainItem: data.main_table,
        models.ConsentEntryItem: data.consent_ledger_table,
        models.AuditEntryItem: data.audit_log_table,
    }[model]
    props = dev.data.find_resources("AWS::DynamoDB::Table")[logical_id(data, table)]["Properties"]
    schema = model._get_schema()
    assert _keys(props["KeySchema"]) == _keys(schema["key_schema"])
    indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {i["index_name"] for i in schema["global_secondary_indexes"]}
    for index in schema["global_secondary_indexes"]:
        assert _keys(indexes[index["index_name"]]["KeySchema"]) == _keys(index["key_schema"])
        assert indexes[index["index_name"]]["Projection"] == index["projection"]
    if model is models.MainItem:
        assert props["StreamSpecification"] == {"StreamViewType": model.Meta.stream_view_type}
        assert props["TimeToLiveSpecification"] == {"AttributeName": model.expires.attr_name, "Enabled": True}


def _main_table_indexes(template: Template, data: DataStack) -> dict[str, dict[str, Any]]:
    props = template.find_resources("AWS::DynamoDB::Table")[logical_id(data, data.main_table)]["Properties"]
    return {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}


def test_the_main_table_has_four_string_keyed_indexes_projecting_all(dev: Synth) -> None:
    data = dev.deployment.data
    props = dev.data.find_resources("AWS::DynamoDB::Table")[logical_id(data, data.main_table)]["Properties"]
    indexes = _main_table_indexes(dev.data, data)
    assert list(indexes) == ["gsi1", "gsi2", "gsi3", "gsi4"] == list(MAIN_TABLE_INDEXES)
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    for name, index in indexes.items():
        assert _keys(index["KeySchema"]) == {(f"{name}pk", "HASH"), (f"{name}sk", "RANGE")}
        assert index["Projection"] == {"ProjectionType": "ALL"}
        assert types[f"{name}pk"] == types[f"{name}sk"] == "S"


def _data_template(tmp_path: Any, **context: Any) -> tuple[DataStack, Template]:
    app = cdk.App(context={**cdk_json_context(), **context}, outdir=str(tmp_path))
    config = StageConfig.from_context(app.node)
    data = DataStack(app, config.stack_name("data"), config=config, env=config.env)
    return data, Template.from_stack(data)


def test_main_table_indexes_holds_a_deployment_to_the_first_n_indexes(tmp_path: Any) -> None:
    # DynamoDB adds one index per update of an existing table: README "Adding an index to a deployed table".
    data, template = _data_template(tmp_path, mainTableIndexes="3")  # as `-c mainTableIndexes=3` passes it
    assert list(_main_table_indexes(template, data)) == ["gsi1", "gsi2", "gsi3"]
    with pytest.raises(ConfigError, match="at most 4"):
        _data_template(tmp_path, mainTableIndexes=5)


def test_documents_bucket_is_private_encrypted_versioned_and_ssl_only(dev: Synth) -> None:
    dev.data.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "CorsConfiguration": {
                "CorsRules": [
                    Match.object_like(
                        {"AllowedMethods": ["POST", "PUT", "GET", "HEAD"], "AllowedOrigins": cdk_json_context()["webOrigins"]},
                    ),
                ],
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like({"NoncurrentVersionExpiration": Match.object_like({}), "Status": "Enabled"}),
                        # GDPR export archives do not outlive a day.
                        Match.object_like({"Prefix": "exports/", "ExpirationInDays": 1, "Status": "Enabled"}),
                    ]
                ),
            },
        },
    )
    dev.data.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                        ),
                    ],
                ),
            },
        },
    )


def test_object_created_events_go_to_the_encrypted_uploads_queue_with_a_dead_letter_queue(dev: Synth) -> None:
    data = dev.deployment.data
    queue_id = logical_id(data, data.uploads_queue)
    dev.data.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": [{"Events": ["s3:ObjectCreated:*"], "QueueArn": {"Fn::GetAtt": [queue_id, "Arn"]}}],
            },
        },
    )
    queue = dev.data.find_resources("AWS::SQS::Queue")[queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    dlq_arn = {"Fn::GetAtt": [logical_id(data, data.uploads_dlq), "Arn"]}
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
    # Every queue (uploads, its DLQ, and the stream-failure DLQ) refuses plain HTTP.
    for synth_template in (dev.data, dev.api):
        for queue_id in synth_template.find_resources("AWS::SQS::Queue"):
            assert synth_template.find_resources("AWS::SQS::Queue")[queue_id]["Properties"]["SqsManagedSseEnabled"] is True
            synth_template.has_resource_properties(
                "AWS::SQS::QueuePolicy",
                {
                    "Queues": [{"Ref": queue_id}],
                    "PolicyDocument": {
                        "Statement": Match.array_with(
                            [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})],
                        ),
                    },
                },
            )


def _contracts_bucket(synth: Synth) -> tuple[str, dict[str, Any]]:
    data = synth.deployment.data
    bucket_id = logical_id(data, data.contracts_bucket)
    return bucket_id, synth.data.find_resources("AWS::S3::Bucket")[bucket_id]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_contracts_bucket_is_object_locked_private_encrypted_and_retained(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(stage)
    bucket_id, bucket = _contracts_bucket(synth)
    props = bucket["Properties"]
    assert props["ObjectLockEnabled"] is True
    # No default retention: the app locks each signed contract itself (COMPLIANCE); drafts stay unlocked.
    assert "ObjectLockConfiguration" not in props
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # SSE-S3, as the documents bucket: the app puts with ServerSideEncryption=AES256.
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    # Retained in every stage: COMPLIANCE-locked versions could not be deleted anyway.
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert "ExpirationInDays" not in rule and "ExpiredObjectDeleteMarker" not in rule  # current versions stay
    assert "NotificationConfiguration" not in props
    for notifications in synth.data.find_resources("Custom::S3BucketNotifications").values():
        assert bucket_id not in json.dumps(notifications["Properties"]["BucketName"])
    synth.data.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})],
                ),
            },
        },
    )
    assert "ContractsBucketName" in synth.data.find_outputs("*")


def _secret(synth: Synth, name: str) -> dict[str, Any]:
    data = synth.deployment.data
    secret = {"esign": data.esign_secret, "stripe": data.stripe_secret}[name]
    resource: dict[str, Any] = synth.data.find_resources("AWS::SecretsManager::Secret")[logical_id(data, secret)]
    return resource


def test_the_data_stack_holds_the_esign_and_stripe_secrets_only(dev: Synth) -> None:
    names = {s["Properties"]["Name"] for s in dev.data.find_resources("AWS::SecretsManager::Secret").values()}
    assert names == {"customersonly-dev/esign", "customersonly-dev/stripe"}
    for name in dev.templates:
        if name != "data":
            assert not dev.templates[name].find_resources("AWS::SecretsManager::Secret"), name
    assert {"EsignSecretArn", "StripeSecretArn"} <= set(dev.data.find_outputs("*"))


def test_the_esign_secret_is_generated_with_placeholders_for_docusign(dev: Synth) -> None:
    props = _secret(dev, "esign")["Properties"]
    assert props["Name"] == "customersonly-dev/esign"
    generated = props["GenerateSecretString"]
    assert generated["GenerateStringKey"] == ESIGN_GENERATED_FIELD == "builtin_esign_keys"
    assert generated["PasswordLength"] >= 32
    template = json.loads(generated["SecretStringTemplate"])
    assert template == dict.fromkeys(ESIGN_OPERATOR_FIELDS, "")
    assert set(template) | {ESIGN_GENERATED_FIELD} == ESIGN_SECRET_FIELDS  # what the app reads from it
    assert "SecretString" not in props  # nothing secret in the template


def test_the_stripe_secret_holds_empty_placeholders_for_the_operator(dev: Synth) -> None:
    props = _secret(dev, "stripe")["Properties"]
    assert props["Name"] == "customersonly-dev/stripe"
    # Stripe makes all three: nothing is generated, the template holds empty placeholders and nothing else.
    assert "GenerateSecretString" not in props
    value = json.loads(props["SecretString"])
    assert value == dict.fromkeys(STRIPE_OPERATOR_FIELDS, "")
    assert set(value) == STRIPE_SECRET_FIELDS == set(STRIPE_SECRET_SETTINGS)  # what the app reads from it
    # Each field is the app's setting of that name (what it reads from the secret instead of its environment).
    for field, alias in STRIPE_SECRET_SETTINGS.items():
        assert Settings.model_fields[field].alias == alias, field
    # No Stripe key or webhook secret anywhere in any template (Stripe's prefixes).
    for name, template in dev.templates.items():
        text = json.dumps(template.to_json())
        assert not re.search(r"\b(sk|rk)_(test|live)_|\bwhsec_[A-Za-z0-9]", text), name


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_secrets_are_retained_in_prod_only(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(stage)
    policy = "Retain" if stage == "prod" else "Delete"
    for name in ("esign", "stripe"):
        secret = _secret(synth, name)
        assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == policy, name
        assert secret["Properties"]["Name"] == f"customersonly-{stage}/{name}"


# --- IAM ---------------------------------------------------------------------------------------------


def test_no_identity_policy_grants_wildcard_actions_on_data(dev: Synth) -> None:
    checked = 0
    for name, template in dev.templates.items():
        for statement in allow_statements(template):
            for action in _as_list(statement["Action"]):
                checked += 1
                assert action != "*", f"{name}: {statement}"
                service, _, verb = action.partition(":")
                if service in ("dynamodb", "s3", "sqs", "cognito-idp", "ses", "es", "secretsmanager"):
                    assert "*" not in verb, f"{name}: wildcard action {action} in {statement}"
            # dynamodb:ListStreams is the one data action AWS only grants on "*" (Lambda's stream poller).
            if statement.get("Resource") == "*":
                assert _as_list(statement["Action"]) == ["dynamodb:ListStreams"], f"{name}: {statement}"
    assert checked > 20


def _statements_of(synth: Synth, role: Any) -> Iterator[dict[str, Any]]:
    role_ref = {"Ref": logical_id(synth.deployment.api, role)}
    for policy in synth.api.find_resources("AWS::IAM::Policy").values():
        if role_ref in policy["Properties"]["Roles"]:
            yield from _as_list(policy["Properties"]["PolicyDocument"]["Statement"])


def _append_only_grants(synth: Synth, role: Any) -> dict[str, set[str]]:
    """The actions a role has on the consent ledger and on the audit log."""
    data = synth.deployment.data
    tables = {"ledger": logical_id(data, data.consent_ledger_table), "audit": logical_id(data, data.audit_log_table)}
    granted: dict[str, set[str]] = {"ledger": set(), "audit": set()}
    for statement in _statements_of(synth, role):
        for name, table in tables.items():
            if mentions(statement, table):
                actions = set(_as_list(statement["Action"]))
                assert not actions & {"dynamodb:UpdateItem", "dynamodb:BatchWriteItem"}, statement
                granted[name] |= actions
    return granted


def test_ledger_and_audit_tables_are_append_only_for_every_role_but_erasures(dev: Synth) -> None:
    api = dev.deployment.api
    granted = {
        name: _append_only_grants(dev, role)
        for name, role in (
            ("api", api.api_role),
            ("upload", api.upload_role),
            ("stream", api.stream_role),
            ("jobs", api.jobs_role),
            ("worker", api.worker_role),
            ("proposal_jobs", api.proposal_jobs_role),
        )
    }
    assert granted["api"] == {"ledger": set(APPEND_ONLY_TABLE_ACTIONS), "audit": set(APPEND_ONLY_TABLE_ACTIONS)}
    assert granted["upload"] == granted["stream"] == {"ledger": set(), "audit": set()}
    # Erasure, run by the privacy worker and the daily jobs alone, replaces entries by pseudonymised copies.
    erasure = set(ERASURE_LEDGER_ACTIONS)
    assert granted["worker"] == granted["jobs"] == {"ledger": erasure, "audit": erasure}
    # Expiring a consent request withdraws its consents: ledger reads, and puts on both tables.
    assert granted["proposal_jobs"] == {"ledger": set(PROPOSAL_JOBS_LEDGER_ACTIONS), "audit": set(PROPOSAL_JOBS_AUDIT_ACTIONS)}
    assert not (granted["proposal_jobs"]["ledger"] | granted["proposal_jobs"]["audit"]) & {"dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def _rendered(resource: Any) -> str:
    """An ARN as a pattern: literal parts kept, references (table ARNs) as ``<ref>``."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Join" in resource:
        separator, parts = resource["Fn::Join"]
        return str(separator).join(_rendered(part) for part in parts)
    return "<ref>"


def _main_table_resources(synth: Synth, role: Any, action: str) -> set[str]:
    main_table = logical_id(synth.deployment.data, synth.deployment.data.main_table)
    return {
        _rendered(resource)
        for statement in _statements_of(synth, role)
        if action in _as_list(statement["Action"]) and mentions(statement, main_table)
        for resource in _as_list(statement["Resource"])
    }


def test_the_api_role_queries_every_main_table_index_and_condition_checks_the_ledger(dev: Synth) -> None:
    api, data = dev.deployment.api, dev.deployment.data
    # Candidacies by consultant (gsi3) and by agency (gsi4) among them: the index ARNs must be covered.
    patterns = _main_table_resources(dev, api.api_role, "dynamodb:Query")
    for index in MAIN_TABLE_INDEXES:
        assert any(fnmatch.fnmatchcase(f"<ref>/index/{index}", p) for p in patterns), (index, patterns)
    # Sending a proposal checks, inside its TransactWriteItems, that no consent was withdrawn meanwhile:
    # DynamoDB authorises that ConditionCheck as dynamodb:ConditionCheckItem on the ledger table.
    ledger = logical_id(data, data.consent_ledger_table)
    on_ledger = {a for s in _statements_of(dev, api.api_role) if mentions(s, ledger) for a in _as_list(s["Action"])}
    assert {"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"} <= on_ledger
    # Erasure reads a person's candidacies (gsi3) and interviews (gsi1) and deletes them.
    for role in (api.worker_role, api.jobs_role):
        patterns = _main_table_resources(dev, role, "dynamodb:Query")
        assert all(any(fnmatch.fnmatchcase(f"<ref>/index/{i}", p) for p in patterns) for i in ("gsi1", "gsi3"))
        assert "<ref>" in _main_table_resources(dev, role, "dynamodb:DeleteItem")


def test_the_proposal_jobs_role_reads_and_puts_only(dev: Synth) -> None:
    api = dev.deployment.api
    actions = _role_actions(dev, api.proposal_jobs_role)
    table_actions = {a for a in actions if a.startswith("dynamodb:")}
    assert table_actions == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}
    # The contracts' reconciliation: the provider's keys, and a completed contract's documents (no delete).
    others = actions - table_actions - {a for a in actions if a.startswith("logs:")}
    assert others == {"secretsmanager:GetSecretValue", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectRetention"}
    assert not any("*" in a for a in actions)
    # Candidacies by status (gsi2), members of an organisation (gsi1).
    patterns = _main_table_resources(dev, api.proposal_jobs_role, "dynamodb:Query")
    assert all(any(fnmatch.fnmatchcase(f"<ref>/index/{i}", p) for p in patterns) for i in ("gsi1", "gsi2"))
    for statement in _statements_of(dev, api.proposal_jobs_role):
        assert statement["Resource"] != "*", statement


def _roles(synth: Synth) -> dict[str, Any]:
    api = synth.deployment.api
    return {
        "api": api.api_role,
        "upload": api.upload_role,
        "stream": api.stream_role,
        "jobs": api.jobs_role,
        "worker": api.worker_role,
        "proposal_jobs": api.proposal_jobs_role,
    }


def test_the_api_role_writes_contracts_with_retention_and_nobody_deletes_them(dev: Synth) -> None:
    data = dev.deployment.data
    bucket_id = logical_id(data, data.contracts_bucket)
    granted: dict[str, set[str]] = {}
    for name, role in _roles(dev).items():
        on_contracts = [s for s in _statements_of(dev, role) if mentions(s, bucket_id)]
        granted[name] = {a for s in on_contracts for a in _as_list(s["Action"])}
        for statement in on_contracts:
            # Objects under contracts/ and esign/ only, never the whole bucket.
            assert {_rendered(r) for r in _as_list(statement["Resource"])} == {"<ref>/contracts/*", "<ref>/esign/*"}, statement
    assert (
        granted["api"] == set(CONTRACT_OBJECT_ACTIONS) == {"s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObjectRetention"}
    )
    assert granted["proposal_jobs"] == granted["api"]  # the reconciliation stores a completed contract's documents
    assert not any(granted[name] for name in granted if name not in ("api", "proposal_jobs")), granted
    # No delete of any kind on the contracts bucket, by any identity policy or the bucket policy.
    for name, template in dev.templates.items():
        for statement in allow_statements(template):
            resources = json.dumps(statement.get("Resource"))
            if bucket_id in resources or statement.get("Resource") == "*" or "arn:aws:s3:::*" in resources:
                for action in _as_list(statement["Action"]):
                    assert not action.startswith(
                        ("s3:DeleteObject", "s3:PutBucketObjectLockConfiguration", "s3:BypassGovernanceRetention")
                    ), (name, statement)
                    assert action not in ("s3:*", "*"), (name, statement)
    for policy in dev.data.find_resources("AWS::S3::BucketPolicy").values():
        if policy["Properties"]["Bucket"] == {"Ref": bucket_id}:
            assert all(s["Effect"] == "Deny" for s in _as_list(policy["Properties"]["PolicyDocument"]["Statement"]))


def _secret_readers(synth: Synth) -> dict[str, set[str]]:
    """Which roles read which secret ("esign", "stripe"): GetSecretValue, on the named secrets alone."""
    data = synth.deployment.data
    secret_ids = {"esign": logical_id(data, data.esign_secret), "stripe": logical_id(data, data.stripe_secret)}
    readers: dict[str, set[str]] = {name: set() for name in secret_ids}
    for role_name, role in _roles(synth).items():
        for statement in _statements_of(synth, role):
            if any(a.startswith("secretsmanager:") for a in _as_list(statement["Action"])):
                assert _as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"], statement
                # Each resource is one of the two secrets (IAM may merge both into one statement), never "*".
                for resource in _as_list(statement["Resource"]):
                    [secret] = [name for name, secret_id in secret_ids.items() if secret_id in json.dumps(resource)]
                    readers[secret].add(role_name)
    # No other identity policy in any stack touches Secrets Manager.
    for template in synth.templates.values():
        for statement in allow_statements(template):
            if any(a.startswith("secretsmanager:") for a in _as_list(statement["Action"])):
                assert statement["Resource"] != "*", statement
                assert all(any(i in json.dumps(r) for i in secret_ids.values()) for r in _as_list(statement["Resource"])), statement
    return readers


def test_only_the_api_stream_and_proposal_jobs_roles_read_the_esign_secret(dev: Synth) -> None:
    assert _secret_readers(dev)["esign"] == {"api", "stream", "proposal_jobs"}


def test_only_the_api_stream_and_proposal_jobs_roles_read_the_stripe_secret(dev: Synth) -> None:
    # The functions that call Stripe: payout onboarding and webhooks, issuing invoices, reconciling them.
    assert _secret_readers(dev)["stripe"] == {"api", "stream", "proposal_jobs"}


def test_each_function_runs_under_its_own_role(dev: Synth) -> None:
    api = dev.deployment.api
    expected = {
        API_HANDLER: api.api_role,
        UPLOAD_HANDLER: api.upload_role,
        STREAM_HANDLER: api.stream_role,
        PRIVACY_JOBS: api.jobs_role,
        PRIVACY_WORKER: api.worker_role,
        PROPOSAL_JOBS: api.proposal_jobs_role,
    }
    for function, role in expected.items():
        assert function_properties(dev, function)["Role"] == {"Fn::GetAtt": [logical_id(api, role), "Arn"]}
    # chalice must not have generated a role of its own.
    assert set(dev.api.find_resources("AWS::IAM::Role")) == {logical_id(api, r) for r in expected.values()}


def test_only_the_api_role_administers_cognito_and_only_the_stream_role_sends_mail(dev: Synth) -> None:
    api = dev.deployment.api
    api_actions, upload_actions, stream_actions = (_role_actions(dev, r) for r in (api.api_role, api.upload_role, api.stream_role))
    assert "cognito-idp:AdminCreateUser" in api_actions
    assert not any(a.startswith("cognito-idp:") for a in upload_actions)
    jobs_actions, worker_actions = _role_actions(dev, api.jobs_role), _role_actions(dev, api.worker_role)
    assert not any(a.startswith("cognito-idp:") for a in stream_actions)
    for erasing in (worker_actions, jobs_actions):
        assert {a for a in erasing if a.startswith("cognito-idp:")} == {"cognito-idp:AdminDeleteUser"}  # erasure
    sending = {"ses:SendEmail", "ses:SendRawEmail"}
    assert not sending & (jobs_actions | worker_actions)  # notices go through the outbox
    assert {"s3:GetObject", "s3:ListBucket"} <= jobs_actions and "s3:PutObject" not in jobs_actions  # stale uploads
    assert "s3:ListBucket" in worker_actions  # a missing file is a 404, left out of its archive
    assert sending <= stream_actions
    assert not sending & (api_actions | upload_actions)
    assert "s3:PutObject" in api_actions
    assert "s3:PutObject" not in upload_actions
    assert "sqs:ReceiveMessage" in upload_actions
    dev.api.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["ses:SendEmail", "ses:SendRawEmail"],
                                "Condition": {"StringEquals": {"ses:FromAddress": cdk_json_context()["emailSender"]}},
                            },
                        ),
                    ],
                ),
            },
        },
    )


# The boto3 calls each adapter makes, and the IAM actions that authorise them (presigned URLs are
# authorised as the operation they sign; calls naming a VersionId need the *Version action too).
S3_CALL_ACTIONS = {
    "get_object": ("s3:GetObject", "s3:GetObjectVersion"),
    "head_object": ("s3:GetObject", "s3:GetObjectVersion"),
    "delete_object": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "generate_presigned_post": ("s3:PutObject",),
    "generate_presigned_url": ("s3:GetObject", "s3:GetObjectVersion"),
    # Contracts (S3DocumentStorage.put on the contracts bucket): a signed one is put with its object lock retention.
    "put_object": ("s3:PutObject", "s3:PutObjectRetention"),
}
# Export archives (S3DocumentStorage.write_archive), built by the privacy worker only: a multipart upload
# is authorised as PutObject, its abort as AbortMultipartUpload.
S3_ARCHIVE_CALL_ACTIONS = {
    "create_multipart_upload": ("s3:PutObject",),
    "upload_part": ("s3:PutObject",),
    "complete_multipart_upload": ("s3:PutObject",),
    "abort_multipart_upload": ("s3:AbortMultipartUpload",),
}
# Erasure's calls (S3DocumentStorage.erase), made by the privacy worker (and the daily jobs) only: DeleteObjects is authorised
# per object, as DeleteObjectVersion when a version is named.
S3_ERASURE_CALL_ACTIONS = {
    "get_paginator": ("s3:ListBucketVersions", "s3:ListBucketMultipartUploads"),
    "delete_objects": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
}


def _calls(adapter: str, client_attribute: str) -> set[str]:
    source = (PROJECT_ROOT / "chalicelib" / "adapters" / adapter).read_text()
    return set(re.findall(rf"self\.{client_attribute}\.([a-z_]+)\(", source))


def _role_actions(synth: Synth, role: Any) -> set[str]:
    return {action for statement in _statements_of(synth, role) for action in _as_list(statement["Action"])}


def test_the_roles_allow_every_cognito_and_s3_call_the_adapters_make(dev: Synth) -> None:
    granted = _role_actions(dev, dev.deployment.api.api_role)
    cognito_calls = _calls("identity.py", "_cognito")
    assert cognito_calls, "no Cognito calls found: did the adapter move?"
    for call in cognito_calls:
        action = "cognito-idp:" + "".join(part.capitalize() for part in call.split("_"))
        assert action in granted, f"CognitoIdentityGateway calls {call}: add {action} to COGNITO_ACTIONS"
    s3_calls = _calls("storage.py", "_s3")
    assert s3_calls
    worker_granted = _role_actions(dev, dev.deployment.api.worker_role)
    for call in s3_calls:
        worker_only = S3_ERASURE_CALL_ACTIONS | S3_ARCHIVE_CALL_ACTIONS
        if call in worker_only:
            assert set(worker_only[call]) <= worker_granted, call
            continue
        assert call in S3_CALL_ACTIONS, f"S3DocumentStorage calls {call}: map it to its IAM action here and in the roles"
        assert set(S3_CALL_ACTIONS[call]) <= granted, call
    assert _calls("email.py", "_ses") == {"send_email", "send_raw_email"}  # both granted to the stream role (above)


# --- triggers ----------------------------------------------------------------------------------------


def _mapping_for(synth: Synth, function: str) -> dict[str, Any]:
    mappings = [
        m["Properties"]
        for m in synth.api.find_resources("AWS::Lambda::EventSourceMapping").values()
        if function in json.dumps(m["Properties"]["FunctionName"])
    ]
    assert len(mappings) == 1, mappings
    return mappings[0]


def test_upload_handler_consumes_the_uploads_queue_with_partial_batch_responses(dev: Synth) -> None:
    mapping = _mapping_for(dev, UPLOAD_HANDLER)
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert logical_id(dev.deployment.data, dev.deployment.data.uploads_queue) in json.dumps(mapping["EventSourceArn"])


def test_stream_handler_reads_the_main_table_stream_and_parks_failures_in_a_queue(dev: Synth) -> None:
    mapping = _mapping_for(dev, STREAM_HANDLER)
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] > 0
    api = dev.deployment.api
    failures_arn = {"Fn::GetAtt": [logical_id(api, api.stream_failures_queue), "Arn"]}
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": failures_arn}}
    main_table = logical_id(dev.deployment.data, dev.deployment.data.main_table)
    assert main_table in json.dumps(mapping["EventSourceArn"]) and "StreamArn" in json.dumps(mapping["EventSourceArn"])


def test_the_privacy_worker_reads_only_its_records_one_at_a_time_with_a_long_timeout(dev: Synth) -> None:
    from chalicelib.events.privacy import KINDS

    assert PRIVACY_WORKER_KINDS == KINDS
    mapping = _mapping_for(dev, PRIVACY_WORKER)
    assert mapping["BatchSize"] == 1 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    [pattern] = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": list(KINDS)}}}}
    assert "DestinationConfig" in mapping
    for function in (PRIVACY_WORKER, PRIVACY_JOBS):  # the jobs finish erasures the worker could not
        props = function_properties(dev, function)
        assert props["Timeout"] == 900 and props["MemorySize"] >= 1024
    assert function_properties(dev, STREAM_HANDLER)["Timeout"] < props["Timeout"]


def _rule_for(synth: Synth, function: str) -> dict[str, Any]:
    rules = [
        r["Properties"]
        for r in synth.api.find_resources("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert len(rules) == 1, rules
    [target] = rules[0]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    synth.api.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Principal": "events.amazonaws.com", "FunctionName": {"Fn::GetAtt": [function, "Arn"]}},
    )
    return rules[0]


def test_the_privacy_jobs_run_daily(dev: Synth) -> None:
    schedule = PRIVACY_JOBS_SCHEDULE
    assert _rule_for(dev, PRIVACY_JOBS)["ScheduleExpression"] == f"cron({schedule['minute']} {schedule['hour']} * * ? *)"


def test_the_proposal_jobs_run_every_five_minutes(dev: Synth) -> None:
    assert len(dev.api.find_resources("AWS::Events::Rule")) == 2
    assert _rule_for(dev, PROPOSAL_JOBS)["ScheduleExpression"] == "rate(5 minutes)"
    props = function_properties(dev, PROPOSAL_JOBS)
    assert props["FunctionName"] == "customersonly-dev-proposal-jobs"
    assert props["Handler"] == "app.proposal_jobs"
    # A run ends well inside the interval, so runs do not pile up.
    assert props["Timeout"] < 5 * 60


def test_every_function_the_app_declares_has_a_trigger(dev: Synth) -> None:
    """A new @app.lambda_function (a scheduled job, a consumer) that nothing invokes would never run."""
    functions = dev.api.find_resources("AWS::Serverless::Function")
    assert set(functions) == set(FUNCTIONS)
    mapped = {f for f in functions for m in dev.api.find_resources("AWS::Lambda::EventSourceMapping").values() if f in json.dumps(m)}
    scheduled = {
        f for f in functions for r in dev.api.find_resources("AWS::Events::Rule").values() if f in json.dumps(r["Properties"]["Targets"])
    }
    assert mapped == {UPLOAD_HANDLER, STREAM_HANDLER, PRIVACY_WORKER}
    assert scheduled == {PRIVACY_JOBS, PROPOSAL_JOBS}
    assert set(functions) - mapped - scheduled == {API_HANDLER}  # behind the REST API


# --- the Chalice app ---------------------------------------------------------------------------------


def test_functions_get_every_setting_the_app_reads_and_nothing_it_does_not(dev: Synth) -> None:
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    required = {
        "APP_STAGE", "TABLE_MAIN", "TABLE_CONSENT_LEDGER", "TABLE_AUDIT_LOG", "DOCUMENTS_BUCKET", "UPLOADS_QUEUE_NAME",
        "COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "EMAIL_SENDER", "WEB_BASE_URL", "CORS_ALLOWED_ORIGINS",
    }  # fmt: skip
    assert required <= aliases, "a setting was renamed in chalicelib/settings.py"
    for function in FUNCTIONS:
        variables = function_properties(dev, function)["Environment"]["Variables"]
        assert required <= set(variables), function
        assert set(variables) - aliases == {"POWERTOOLS_SERVICE_NAME"}, function
        assert not set(variables) & SECRET_VARIABLES, function
        # Lambda reserves AWS_REGION; the app derives the JWKS URL from the issuer in AWS.
        assert "AWS_REGION" not in variables and "COGNITO_JWKS_URL" not in variables
        assert variables["APP_STAGE"] == "dev"
        assert json.loads(variables["CORS_ALLOWED_ORIGINS"]) == cdk_json_context()["webOrigins"]
        settings = Settings.from_environment({k: v for k, v in variables.items() if isinstance(v, str)})
        assert settings.cors_allowed_origins == cdk_json_context()["webOrigins"]


def test_functions_get_the_contract_settings_and_the_secrets_arn_not_the_secrets(dev: Synth) -> None:
    data = dev.deployment.data
    for function in FUNCTIONS:
        variables = function_properties(dev, function)["Environment"]["Variables"]
        assert CONTRACT_VARIABLES - {"ESIGN_SECRET_ARN"} <= set(variables), function
        assert logical_id(data, data.contracts_bucket) in json.dumps(variables["CONTRACTS_BUCKET"])
        assert variables["SIGNATURE_PROVIDER"] == "builtin"
        assert variables["CONTRACT_RETENTION_YEARS"] == "7" and variables["CONTRACT_SIGNING_DAYS"] == "14"
        assert variables["PLATFORM_LEGAL_NAME"] == cdk_json_context()["platformLegalName"]
        assert variables["PLATFORM_ORG_NUMBER"] == cdk_json_context()["platformOrgNumber"]
        assert variables["DOCUSIGN_AUTH_SERVER"] == "account-d.docusign.com" and variables["DOCUSIGN_BASE_URI"] == ""
        # Only the functions that may read the secret are told where it is.
        assert ("ESIGN_SECRET_ARN" in variables) == (function in SECRET_READING_FUNCTIONS), function
        if "ESIGN_SECRET_ARN" in variables:
            assert logical_id(data, data.esign_secret) in json.dumps(variables["ESIGN_SECRET_ARN"])
        # Without apiBaseUrl the webhook URL comes from the deployed REST API, except in the API handler's
        # own environment (the REST API refers to the handler: a circular reference).
        webhook = variables["ESIGN_WEBHOOK_URL"]
        if function == API_HANDLER:
            assert webhook == ""
        else:
            assert "${RestAPI}" in json.dumps(webhook) and "webhooks/esign" in json.dumps(webhook), function


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_functions_get_payments_from_the_config_and_the_stripe_secrets_arn_not_the_keys(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(stage)
    data = synth.deployment.data
    assert synth.deployment.config.payments == "stripe"  # the default in every stage
    for function in FUNCTIONS:
        variables = function_properties(synth, function)["Environment"]["Variables"]
        assert variables["PAYMENTS"] == synth.deployment.config.payments, function
        assert variables["STRIPE_TAX"] == "true", function  # Stripe Tax works the VAT out, unless turned off
        assert not set(variables) & SECRET_VARIABLES, function
        # Only the functions that call Stripe are told where its keys are.
        assert ("STRIPE_SECRET_ARN" in variables) == (function in SECRET_READING_FUNCTIONS), function
        if "STRIPE_SECRET_ARN" in variables:
            assert logical_id(data, data.stripe_secret) in json.dumps(variables["STRIPE_SECRET_ARN"]), function
            assert logical_id(data, data.esign_secret) not in json.dumps(variables["STRIPE_SECRET_ARN"]), function


def test_a_configured_api_url_gives_every_function_the_webhook_url(prod: Synth) -> None:
    expected = PROD_CONTEXT["apiBaseUrl"].rstrip("/") + "/webhooks/esign"
    for function in FUNCTIONS:
        variables = function_properties(prod, function)["Environment"]["Variables"]
        assert variables["ESIGN_WEBHOOK_URL"] == expected, function
        assert variables["PLATFORM_ORG_NUMBER"] == PROD_CONTEXT["platformOrgNumber"]


def test_functions_are_named_have_log_groups_and_the_event_handlers_a_longer_timeout(dev: Synth) -> None:
    log_groups = {g["Properties"]["LogGroupName"] for g in dev.api.find_resources("AWS::Logs::LogGroup").values()}
    for function in FUNCTIONS:
        props = function_properties(dev, function)
        assert props["Runtime"] == "python3.11"
        assert f"/aws/lambda/{props['FunctionName']}" in log_groups
    assert function_properties(dev, API_HANDLER)["Timeout"] <= 29
    assert function_properties(dev, UPLOAD_HANDLER)["Timeout"] > function_properties(dev, API_HANDLER)["Timeout"]


# --- identity ----------------------------------------------------------------------------------------


def test_user_pool_is_admin_created_with_the_apps_password_policy(dev: Synth) -> None:
    pool = next(iter(dev.identity.find_resources("AWS::Cognito::UserPool").values()))["Properties"]
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    # The app uses Username=<e-mail>: the e-mail must not be a username attribute.
    assert "UsernameAttributes" not in pool and "AliasAttributes" not in pool
    # Length, not composition, as the app's schema and the local pool: a password valid locally is valid here.
    assert pool["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12,
        "RequireLowercase": False,
        "RequireNumbers": False,
        "RequireSymbols": False,
        "RequireUppercase": False,
        "TemporaryPasswordValidityDays": 3,
    }
    assert pool["AccountRecoverySetting"] == {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]}
    groups = {g["Properties"]["GroupName"] for g in dev.identity.find_resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == {role.value for role in Role} == {"staff", "agency_admin", "consultant", "client"}
    client = next(iter(dev.identity.find_resources("AWS::Cognito::UserPoolClient").values()))["Properties"]
    assert client["GenerateSecret"] is False
    assert sorted(client["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
    assert "AllowedOAuthFlows" not in client
    dev.identity.has_resource_properties("AWS::SES::EmailIdentity", {"EmailIdentity": cdk_json_context()["emailSender"]})


def test_outputs_name_what_a_deployer_needs(dev: Synth) -> None:
    assert {"ApiUrl"} <= set(dev.api.find_outputs("*"))
    assert {"UserPoolId", "UserPoolClientId"} <= set(dev.identity.find_outputs("*"))
    assert {"MainTableName", "ConsentLedgerTableName", "AuditLogTableName", "DocumentsBucketName", "ContractsBucketName"} <= set(
        dev.data.find_outputs("*")
    )


# --- stages ------------------------------------------------------------------------------------------


def test_prod_retains_and_protects_its_data_and_users(prod: Synth) -> None:
    for table in prod.data.find_resources("AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["DeletionProtectionEnabled"] is True
    for bucket in prod.data.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    for pool in prod.identity.find_resources("AWS::Cognito::UserPool").values():
        assert pool["DeletionPolicy"] == "Retain"
        assert pool["Properties"]["DeletionProtection"] == "ACTIVE"
    variables = function_properties(prod, API_HANDLER)["Environment"]["Variables"]
    assert variables["APP_STAGE"] == "prod"
    # The stack's table names win over the fixed names in .chalice/config.json's prod stage.
    assert not isinstance(variables["TABLE_MAIN"], str)
    assert json.loads(variables["CORS_ALLOWED_ORIGINS"]) == PROD_CONTEXT["webOrigins"]


def test_dev_data_can_be_torn_down(dev: Synth) -> None:
    for table in dev.data.find_resources("AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Delete"
        assert table["Properties"]["DeletionProtectionEnabled"] is False


class _Node:
    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context

    def try_get_context(self, key: str) -> Any:
        return self._context.get(key)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"stage": "staging"}, "not a stage of .chalice/config.json"),
        ({"stage": "prod"}, "https"),
        ({**PROD_CONTEXT, "webOrigins": ["https://localhost:3000"]}, "localhost"),
        ({"webOrigins": "https://app.example.com/path"}, "is not an origin"),
        ({"webOrigins": []}, "at least one origin"),
        ({"emailSender": "nobody"}, "e-mail address"),
        ({"mainTableIndexes": "1"}, "at least 2"),
        ({"mainTableIndexes": "three"}, "whole number"),
        ({"signatureProvider": "adobe"}, "signatureProvider"),
        ({"contractRetentionYears": "0"}, "at least 1"),
        ({"apiBaseUrl": "http://api.example.com/api/"}, "apiBaseUrl"),
        ({**PROD_CONTEXT, "platformOrgNumber": "000000-0000"}, "platformOrgNumber"),
        ({**PROD_CONTEXT, "platformLegalName": ""}, "platformLegalName"),
        # The offline Stripe keeps its objects in memory: never prod. Unknown providers nowhere.
        ({**PROD_CONTEXT, "payments": "offline"}, "prod needs payments=stripe"),
        ({"payments": "paypal"}, "payments must be one of"),
        ({**PROD_CONTEXT, "payments": "paypal"}, "payments must be one of"),
        ({"payments": ""}, "payments must be one of"),
        ({"alarmEmail": "ops"}, "alarmEmail must be an e-mail address"),
        ({"apiThrottleRate": "0"}, "apiThrottleRate"),
        ({"wafPublicRateLimit": "5"}, "at least 10"),
        ({"searchInstanceType": "t3.small"}, "searchInstanceType"),
        ({"searchDataNodes": "3"}, "two availability zones"),
        ({"searchVolumeGb": "5"}, "searchVolumeGb"),
        ({"searchOperatorRoleArns": "arn:aws:iam::123456789012:user/someone"}, "not an IAM role ARN"),
    ],
)
def test_unusable_context_is_refused_before_synthesis(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StageConfig.from_context(_Node({**cdk_json_context(), **overrides}))


def test_payments_defaults_to_stripe_and_dev_may_use_the_offline_stripe() -> None:
    assert PAYMENTS_PROVIDERS == ("stripe", "offline")
    assert cdk_json_context()["payments"] == "stripe"
    without = {k: v for k, v in cdk_json_context().items() if k != "payments"}
    assert StageConfig.from_context(_Node(without)).payments == "stripe"
    assert StageConfig.from_context(_Node({**without, **PROD_CONTEXT})).payments == "stripe"
    assert StageConfig.from_context(_Node({**cdk_json_context(), "payments": " offline "})).payments == "offline"


def test_synth_refuses_the_offline_stripe_in_prod(tmp_path: Any) -> None:
    from stacks import build

    app = cdk.App(context={**cdk_json_context(), **PROD_CONTEXT, "payments": "offline"}, outdir=str(tmp_path))
    with pytest.raises(ConfigError, match="payments=stripe"):
        build(app)


def test_context_from_the_command_line_is_parsed_like_cdk_json() -> None:
    config = StageConfig.from_context(
        _Node({**cdk_json_context(), "webOrigins": "https://a.example, https://b.example", "passwordRequiresCharacterClasses": "false"}),
    )
    assert config.web_origins == ("https://a.example", "https://b.example")
    assert config.password_requires_character_classes is False
    assert config.main_table_indexes is None  # all of them
    assert (config.alarm_email, config.search_operator_role_arns) == (None, ())  # none unless given
    numbers = {"apiThrottleRate": "20", "apiThrottleBurst": "40", "wafPublicRateLimit": "50", "wafRateLimit": "500", "searchDataNodes": "4"}
    config = StageConfig.from_context(
        _Node({**cdk_json_context(), **numbers, "searchOperatorRoleArns": "arn:aws:iam::123456789012:role/a"})
    )
    assert (config.api_throttle_rate, config.api_throttle_burst, config.waf_public_rate_limit, config.waf_rate_limit) == (20, 40, 50, 500)
    assert config.search_data_nodes == 4 and config.search_operator_role_arns == ("arn:aws:iam::123456789012:role/a",)
    assert StageConfig.from_context(_Node({**cdk_json_context(), "webOrigins": '["https://c.example"]'})).web_origins == (
        "https://c.example",
    )
