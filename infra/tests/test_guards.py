"""What guards the deployed app: the REST API's stage throttle and web ACL, and the alarms that reach a person."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

import pytest
from aws_cdk.assertions import Match
from conftest import PROD_CONTEXT, Synth, cdk_json_context
from stacks.api import PRIVACY_WORKER, REST_API, STREAM_HANDLER
from stacks.config import DEFAULT_WAF_PUBLIC_RATE_LIMIT, DEFAULT_WAF_RATE_LIMIT
from stacks.firewall import PUBLIC_PATH_PARTS
from test_stack import FUNCTIONS, function_properties, logical_id

import chalicelib.api
from chalicelib.api.http import REGISTRY

# Public endpoints held to the loose limit only: signature-checked webhooks (they come in bursts) and
# read-only documents. Any other endpoint without a token must match PUBLIC_PATH_PARTS (the tight limit).
LOOSELY_LIMITED_PUBLIC_PATHS = {
    "/webhooks/esign",
    "/webhooks/stripe",
    "/webhooks/stripe/connect",
    "/health",
    "/privacy-notice",
    "/openapi.json",
}


def _rest_api(synth: Synth) -> dict[str, Any]:
    props: dict[str, Any] = synth.api.find_resources("AWS::Serverless::Api")[REST_API]["Properties"]
    return props


def test_the_rest_api_is_named_per_stage_and_throttled_for_every_method(dev: Synth) -> None:
    props = _rest_api(dev)
    assert props["Name"] == props["DefinitionBody"]["info"]["title"] == "customersonly-dev-api"
    assert props["MethodSettings"] == [{"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100}]


def _web_acl(synth: Synth) -> dict[str, Any]:
    [acl] = synth.api.find_resources("AWS::WAFv2::WebACL").values()
    props: dict[str, Any] = acl["Properties"]
    return props


def test_the_web_acl_guards_the_rest_api_stage(dev: Synth) -> None:
    props = _web_acl(dev)
    assert props["Scope"] == "REGIONAL" and props["DefaultAction"] == {"Allow": {}}
    [association] = dev.api.find_resources("AWS::WAFv2::WebACLAssociation").values()
    acl_id = next(iter(dev.api.find_resources("AWS::WAFv2::WebACL")))
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    # The stage SAM generates for the REST API, by SAM's reference (it resolves to the stage and waits for it).
    assert association["Properties"]["ResourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestAPI}/stages/${RestAPI.Stage}"
    }


def _rate_rules(synth: Synth) -> dict[str, dict[str, Any]]:
    rules = {}
    for rule in _web_acl(synth)["Rules"]:
        assert rule["Action"] == {"Block": {"CustomResponse": {"ResponseCode": 429}}}, rule
        assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
        statement = rule["Statement"]["RateBasedStatement"]
        assert statement["AggregateKeyType"] == "IP" and statement["EvaluationWindowSec"] == 300
        rules[rule["Name"].removeprefix(f"customersonly-{synth.deployment.config.stage}-")] = statement
    return rules


def test_the_public_endpoints_have_a_tight_per_ip_rate_limit_and_every_path_a_loose_one(dev: Synth, prod: Synth) -> None:
    rules = _rate_rules(dev)
    assert set(rules) == {"public-endpoints-rate", "all-requests-rate"}
    assert (
        rules["public-endpoints-rate"]["Limit"]
        == DEFAULT_WAF_PUBLIC_RATE_LIMIT
        < rules["all-requests-rate"]["Limit"]
        == DEFAULT_WAF_RATE_LIMIT
    )
    assert "ScopeDownStatement" not in rules["all-requests-rate"]
    matches = [s["ByteMatchStatement"] for s in rules["public-endpoints-rate"]["ScopeDownStatement"]["OrStatement"]["Statements"]]
    assert [(m["SearchString"], m["PositionalConstraint"], m["FieldToMatch"]) for m in matches] == [
        (part, "CONTAINS", {"UriPath": {}}) for part in PUBLIC_PATH_PARTS
    ]
    assert all(m["TextTransformations"] == [{"Priority": 0, "Type": "URL_DECODE"}] for m in matches)
    assert _rate_rules(prod) == rules  # the same limits unless the context changes them


def test_every_endpoint_without_a_token_is_rate_limited_tightly_or_listed_as_loose() -> None:
    for module in pkgutil.iter_modules(chalicelib.api.__path__):
        importlib.import_module(f"chalicelib.api.{module.name}")  # each area registers its operations
    public = {op.path for op in REGISTRY if op.roles is None}
    assert public >= LOOSELY_LIMITED_PUBLIC_PATHS, "a loosely limited endpoint is gone or now needs a token"
    tight = public - LOOSELY_LIMITED_PUBLIC_PATHS
    assert tight, "no public endpoint found: did chalicelib.api.http.REGISTRY move?"
    unguarded = {path for path in tight if not any(part in f"{path}/" for part in PUBLIC_PATH_PARTS)}
    assert not unguarded, f"public endpoints outside the tight WAF limit (stacks/firewall.py PUBLIC_PATH_PARTS): {unguarded}"
    # And nothing that needs a token is held to the tight limit by accident of its path.
    private = {op.path for op in REGISTRY if op.roles is not None}
    assert not {path for path in private if any(part in path for part in PUBLIC_PATH_PARTS)}


# --- alarms ------------------------------------------------------------------------------------------


def _alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    stage_prefix = f"customersonly-{synth.deployment.config.stage}-"
    return {
        alarm["Properties"]["AlarmName"].removeprefix(stage_prefix): alarm["Properties"]
        for alarm in synth.api.find_resources("AWS::CloudWatch::Alarm").values()
    }


def _dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery(dev: Synth) -> None:
    topic = {"Ref": logical_id(dev.deployment.api, dev.deployment.api.alarms.topic)}
    alarms = _alarms(dev)
    assert len(alarms) >= 20
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_failing_and_throttled_functions_and_lagging_stream_readers_alarm(dev: Synth) -> None:
    alarms = _alarms(dev)
    for function in FUNCTIONS:
        function_name = function_properties(dev, function)["FunctionName"]
        label = function_name.removeprefix("customersonly-dev-")
        for metric in ("Errors", "Throttles"):
            alarm = alarms[f"{label}-{metric.lower()}"]
            assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == ("AWS/Lambda", metric, "Sum", 1)
            assert _dimensions(alarm) == {"FunctionName": function_name}
    for function in (STREAM_HANDLER, PRIVACY_WORKER):
        function_name = function_properties(dev, function)["FunctionName"]
        alarm = alarms[f"{function_name.removeprefix('customersonly-dev-')}-iterator-age"]
        assert (alarm["MetricName"], alarm["Statistic"]) == ("IteratorAge", "Maximum") and alarm["Threshold"] <= 15 * 60 * 1000


def test_a_message_in_either_dead_letter_queue_alarms(dev: Synth) -> None:
    alarms = _alarms(dev)
    data, api = dev.deployment.data, dev.deployment.api
    for name, queue_id in (
        ("uploads-dlq-messages", logical_id(data, data.uploads_dlq)),
        ("stream-failures-messages", logical_id(api, api.stream_failures_queue)),
    ):
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", 1)
        assert queue_id in json.dumps(_dimensions(alarm)["QueueName"])


def test_the_rest_api_alarms_on_5xx_and_latency_by_its_own_name_and_stage(dev: Synth) -> None:
    alarms = _alarms(dev)
    for name, metric in (("api-5xx", "5XXError"), ("api-latency", "Latency")):
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", metric)
        # Keyed as API Gateway reports them: the REST API's name (set per stage above) and its stage.
        assert _dimensions(alarm) == {"ApiName": _rest_api(dev)["Name"], "Stage": _rest_api(dev)["StageName"]}
    assert alarms["api-latency"]["ExtendedStatistic"] == "p99" and alarms["api-latency"]["Threshold"] < 29_000


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_search_domain_alarms_when_red_blocked_full_or_out_of_memory(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(stage)
    alarms = _alarms(synth)
    search = synth.deployment.search
    for name, metric in (
        ("search-red", "ClusterStatus.red"),
        ("search-writes-blocked", "ClusterIndexWritesBlocked"),
        ("search-free-storage", "FreeStorageSpace"),
        ("search-jvm-memory", "JVMMemoryPressure"),
    ):
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ES", metric)
        assert logical_id(search, search.domain) in json.dumps(_dimensions(alarm)["DomainName"])
    # A quarter of one node's volume, in MB as the metric reports it.
    free = alarms["search-free-storage"]
    assert free["ComparisonOperator"] == "LessThanOrEqualToThreshold"
    assert free["Threshold"] == synth.deployment.config.search_volume_gb * 1024 / 4


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_mails_the_configured_address(dev: Synth, prod: Synth) -> None:
    [(topic_id, topic)] = dev.api.find_resources("AWS::SNS::Topic").items()
    [(key_id, key)] = dev.api.find_resources("AWS::KMS::Key").items()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert [(s["Effect"], s["Action"]) for s in cloudwatch] == [("Allow", ["kms:Decrypt", "kms:GenerateDataKey"])]
    # Published to over TLS only.
    dev.api.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})],
            },
        },
    )
    # No address in cdk.json: no subscription; with alarmEmail, one e-mail subscription.
    assert "alarmEmail" not in cdk_json_context() and not dev.api.find_resources("AWS::SNS::Subscription")
    [subscription] = prod.api.find_resources("AWS::SNS::Subscription").values()
    assert (subscription["Properties"]["Protocol"], subscription["Properties"]["Endpoint"]) == ("email", PROD_CONTEXT["alarmEmail"])
