"""CloudWatch alarms on what needs a person: messages parked in a dead-letter queue, failing or throttled
functions, a stream falling behind, the REST API answering 5xx or slowly, the search domain in trouble.

Every alarm notifies one SNS topic (on alarm and on recovery), encrypted with a key of its own: CloudWatch
cannot publish to a topic encrypted with the AWS managed key aws/sns. Context ``alarmEmail`` subscribes an
address to it. Missing data is "not breaching": a function that did not run did not fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_opensearchservice as opensearch
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import APP_NAME, StageConfig

PERIOD = cdk.Duration.minutes(5)
# The stream handler mails the outbox: ten minutes behind is mail ten minutes late.
STREAM_ITERATOR_AGE_MS = 10 * 60 * 1000
# A few 5xx in five minutes, not one: a client hanging up mid-request is answered 5xx too.
API_5XX_PER_PERIOD = 5
# The web forms' budget; the API itself gives up at 29 s. Sustained for 15 minutes, not a cold start.
API_LATENCY_P99_MS = 5000
API_LATENCY_PERIODS = 3
# OpenSearch blocks writes at 95 % disk: warn with a quarter left (of one node's volume, in MB as reported).
SEARCH_FREE_STORAGE_FRACTION = 0.25
# AWS's recommended threshold: above it, the domain is close to out-of-memory errors.
SEARCH_JVM_MEMORY_PRESSURE = 95


class Alarms(Construct):
    topic: sns.Topic

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        functions: Mapping[str, str],
        stream_readers: Sequence[str],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        api_name: str,
        api_stage: str,
        search_domain: opensearch.IDomain,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        key = kms.Key(
            self,
            "TopicKey",
            description=f"{config.name('alarms')}: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=config.removal_policy,
        )
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey")
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=config.name("alarms"),
            display_name=f"{APP_NAME} {config.stage} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self._action = cloudwatch_actions.SnsAction(self.topic)

        for label, queue in dead_letter_queues.items():
            self._alarm(
                f"{label}-messages",
                f"Messages parked in {label}: see infra/README.md, 'When an alarm fires'",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                threshold=1,
            )
        for label, function_name in functions.items():
            for metric in ("Errors", "Throttles"):
                self._alarm(
                    f"{label}-{metric.lower()}",
                    f"{function_name}: {metric} (its log group has the details)",
                    _metric("AWS/Lambda", metric, {"FunctionName": function_name}, "Sum"),
                    threshold=1,
                )
        for label in stream_readers:
            self._alarm(
                f"{label}-iterator-age",
                f"{functions[label]} is more than {STREAM_ITERATOR_AGE_MS // 60000} minutes behind the main table's stream",
                _metric("AWS/Lambda", "IteratorAge", {"FunctionName": functions[label]}, "Maximum"),
                threshold=STREAM_ITERATOR_AGE_MS,
            )

        api = {"ApiName": api_name, "Stage": api_stage}
        self._alarm(
            "api-5xx",
            f"The REST API answered 5xx at least {API_5XX_PER_PERIOD} times in 5 minutes",
            _metric("AWS/ApiGateway", "5XXError", api, "Sum"),
            threshold=API_5XX_PER_PERIOD,
        )
        self._alarm(
            "api-latency",
            f"The REST API's p99 latency is above {API_LATENCY_P99_MS} ms for {API_LATENCY_PERIODS * 5} minutes",
            _metric("AWS/ApiGateway", "Latency", api, "p99"),
            threshold=API_LATENCY_P99_MS,
            evaluation_periods=API_LATENCY_PERIODS,
        )

        self._alarm(
            "search-red",
            "The search domain's cluster is red: a primary shard is unassigned, matching may miss consultants",
            search_domain.metric_cluster_status_red(period=cdk.Duration.minutes(1)),
            threshold=1,
        )
        self._alarm(
            "search-writes-blocked",
            "The search domain blocks writes: the index no longer follows the tables (reindex-matching once fixed)",
            search_domain.metric_cluster_index_writes_blocked(period=PERIOD),
            threshold=1,
        )
        self._alarm(
            "search-free-storage",
            f"A search node has less than {SEARCH_FREE_STORAGE_FRACTION:.0%} of its volume free",
            search_domain.metric_free_storage_space(period=PERIOD, statistic="Minimum"),
            threshold=config.search_volume_gb * 1024 * SEARCH_FREE_STORAGE_FRACTION,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        self._alarm(
            "search-jvm-memory",
            f"The search domain's JVM memory pressure is at {SEARCH_JVM_MEMORY_PRESSURE} % or more",
            search_domain.metric_jvm_memory_pressure(period=PERIOD, statistic="Maximum"),
            threshold=SEARCH_JVM_MEMORY_PRESSURE,
            evaluation_periods=3,
        )

    def _alarm(
        self,
        name: str,
        description: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        evaluation_periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_name=self._config.name(name),
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)


def _metric(namespace: str, metric_name: str, dimensions: Mapping[str, str], statistic: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace, metric_name=metric_name, dimensions_map=dict(dimensions), statistic=statistic, period=PERIOD
    )
