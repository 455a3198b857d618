"""The REST API's web ACL (AWS WAF, regional): per-client-IP rate limits in front of API Gateway's stage throttle.

The stage throttle caps the whole API; these rules stop one client from taking it. The public endpoints
that create accounts, mail codes or check passwords get a tight limit (sign-up spam, mail bombing,
password guessing); every path, webhooks included, a loose one. Webhooks are signature-checked and come in
bursts (Stripe sends several events per invoice), so they are not held to the tight limit.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.config import StageConfig

# Path fragments of the public endpoints held to the tight limit: /registrations/{agency,client,consultant,
# verify-email,resend-verification} and /auth/{login,refresh}. "Contains", so that they match under the
# stage prefix (/api/…) and under a custom domain's base path alike.
PUBLIC_PATH_PARTS = ("/registrations/", "/auth/")
RATE_WINDOW_SECONDS = 300
TOO_MANY_REQUESTS = 429


class RestApiFirewall(Construct):
    web_acl: wafv2.CfnWebACL

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, stage_arn: str) -> None:
        super().__init__(scope, construct_id)
        public_paths = [
            wafv2.CfnWebACL.StatementProperty(
                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                    positional_constraint="CONTAINS",
                    search_string=part,
                    # A percent-encoded path reaches the same route: compare the decoded one.
                    text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="URL_DECODE")],
                ),
            )
            for part in PUBLIC_PATH_PARTS
        ]
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=config.name("api"),
            description=f"{config.name('api')}: per-IP rate limits",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(config.name("api-web-acl")),
            rules=[
                _rate_rule(
                    config.name("public-endpoints-rate"),
                    0,
                    config.waf_public_rate_limit,
                    wafv2.CfnWebACL.StatementProperty(or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=public_paths)),
                ),
                _rate_rule(config.name("all-requests-rate"), 1, config.waf_rate_limit),
            ],
        )
        wafv2.CfnWebACLAssociation(self, "Association", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn)


def _rate_rule(
    name: str, priority: int, limit: int, scope_down: wafv2.CfnWebACL.StatementProperty | None = None
) -> wafv2.CfnWebACL.RuleProperty:
    """Block a client IP above ``limit`` requests in 5 minutes (of the requests ``scope_down`` matches), with 429."""
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(response_code=TOO_MANY_REQUESTS)
            ),
        ),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                limit=limit,
                aggregate_key_type="IP",
                evaluation_window_sec=RATE_WINDOW_SECONDS,
                scope_down_statement=scope_down,
            ),
        ),
        visibility_config=_visibility(name),
    )


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def rest_api_stage_arn(rest_api_logical_id: str) -> str:
    """The ARN of the REST API's stage, as WAF names it. ``<id>.Stage`` is SAM's reference to the stage it
    generates for an ``AWS::Serverless::Api``: it resolves to the stage's name and orders the association
    after the stage exists."""
    return cdk.Fn.sub(
        f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/${{{rest_api_logical_id}}}/stages/${{{rest_api_logical_id}.Stage}}"
    )
