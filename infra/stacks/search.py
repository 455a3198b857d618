"""The search engine: an Amazon OpenSearch Service domain for the consultants' match index
(``chalicelib/adapters/search/opensearch.py``), and the function that manages its security roles.

Its own stack: a domain takes 15-30 minutes to create, so the code stack (api) stays quick to redeploy, and
the index is derived data (``reindex-matching`` rebuilds it from the tables), so it needs none of the data
stack's care. Access has two gates, both needed for a request to succeed: IAM (the domain's access policy
defers to the account's identity policies, and only the api and stream handler roles have ``es:ESHttp…`` on
this domain) and fine-grained access control, where those roles are mapped to a reader and a writer role
limited to the app's indices (the api stack declares the mapping; ``search_roles/`` carries it out).
"""

from __future__ import annotations

from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch
from constructs import Construct

from stacks.config import APP_NAME, INFRA_DIR, StageConfig

# Hybrid queries with a normalization-processor search pipeline need 2.10+; the adapter is written for 2.19.
ENGINE_VERSION = opensearch.EngineVersion.OPENSEARCH_2_19
# The app's OPENSEARCH_ALIAS: its indices are "<alias>-v…" behind "<alias>" and "<alias>-write", so the
# roles below cover "<alias>*" and nothing else in the domain.
INDEX_ALIAS = "consultants"
INDEX_PATTERN = f"{INDEX_ALIAS}*"
# Fine-grained access control roles (the security plugin's, not IAM's). The reader searches (the api
# handler); the writer keeps the index (the stream handler, and operators running reindex-matching): it
# creates versioned indices, swaps aliases, bulk-writes, deletes by query and deletes old indices, and puts
# the hybrid search pipeline (a cluster-level setting).
READER_ROLE = f"{APP_NAME}_search_reader"
WRITER_ROLE = f"{APP_NAME}_search_writer"
ROLE_PERMISSIONS = {
    READER_ROLE: {
        "cluster_permissions": ["cluster_composite_ops_ro"],
        "index_permissions": [{"index_patterns": [INDEX_PATTERN], "allowed_actions": ["read"]}],
    },
    WRITER_ROLE: {
        "cluster_permissions": ["cluster_composite_ops", "cluster:admin/search/pipeline/put"],
        "index_permissions": [{"index_patterns": [INDEX_PATTERN], "allowed_actions": ["indices_all"]}],
    },
}
# What the app's roles may send (IAM, on this domain's subresources only). A search with a body is a POST.
SEARCH_READ_ACTIONS = ("es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost")
SEARCH_WRITE_ACTIONS = (*SEARCH_READ_ACTIONS, "es:ESHttpPut", "es:ESHttpDelete")
# The security plugin's REST API, the only path the master user's function calls (search_roles/index.py).
SECURITY_API_PATH = "_plugins/_security/api"


class SearchStack(cdk.Stack):
    domain: opensearch.Domain
    admin_role: iam.Role
    roles_function: lambda_.Function

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        domain_name = config.name("search")  # at most 28 characters: "customersonly-prod-search" is 25
        function_name = config.name("search-roles")
        domain_arn = self.format_arn(service="es", resource="domain", resource_name=domain_name)

        # The master user: all permissions inside the domain. Only the roles function runs with it.
        self.admin_role = iam.Role(
            self,
            "SearchAdminRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{APP_NAME} {config.stage}: OpenSearch master user (manages the app's search roles)",
        )
        self.admin_role.add_to_policy(
            iam.PolicyStatement(actions=["es:ESHttpPut", "es:ESHttpDelete"], resources=[f"{domain_arn}/{SECURITY_API_PATH}/*"]),
        )
        log_group = logs.LogGroup(
            self,
            "SearchRolesLogs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        log_group.grant_write(self.admin_role)

        multi_node = config.search_data_nodes > 1
        self.domain = opensearch.Domain(
            self,
            "SearchDomain",
            domain_name=domain_name,
            version=ENGINE_VERSION,
            # 2.19 → 3.x later without a new domain (and without losing the index).
            enable_version_upgrade=True,
            capacity=opensearch.CapacityConfig(
                data_nodes=config.search_data_nodes,
                data_node_instance_type=config.search_instance_type,
                # Multi-AZ with standby needs three zones and bigger instances: more than a few thousand
                # profiles call for. Two zones (below) keep search up through a zone failure.
                multi_az_with_standby_enabled=False,
            ),
            zone_awareness=opensearch.ZoneAwarenessConfig(enabled=True, availability_zone_count=2) if multi_node else None,
            ebs=opensearch.EbsOptions(volume_size=config.search_volume_gb, volume_type=ec2.EbsDeviceVolumeType.GP3),
            # Fine-grained access control requires all three.
            encryption_at_rest=opensearch.EncryptionAtRestOptions(enabled=True),
            node_to_node_encryption=True,
            enforce_https=True,
            tls_security_policy=opensearch.TLSSecurityPolicy.TLS_1_2,
            fine_grained_access_control=opensearch.AdvancedSecurityOptions(master_user_arn=self.admin_role.role_arn),
            # Service software updates in the off-peak window, without anyone clicking.
            enable_auto_software_update=True,
            off_peak_window_enabled=True,
            removal_policy=config.removal_policy,
        )
        # The access policy lets the account's IAM decide (which roles have es:ESHttp… on this domain), and
        # fine-grained access control decides what each may do inside. Set on the domain resource itself:
        # CDK's `access_policies` would add a custom resource and a Node.js function to apply it later, needed
        # only when the policy names the domain's generated ARN; this domain's name, and so its ARN, is fixed.
        cast(opensearch.CfnDomain, self.domain.node.default_child).add_property_override(
            "AccessPolicies",
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:{cdk.Aws.PARTITION}:iam::{cdk.Aws.ACCOUNT_ID}:root"},
                        "Action": "es:ESHttp*",
                        "Resource": f"{domain_arn}/*",
                    },
                ],
            },
        )

        self.roles_function = lambda_.Function(
            self,
            "SearchRolesFunction",
            function_name=function_name,
            description=f"{APP_NAME} {config.stage}: the app's fine-grained access control roles in the search domain",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(INFRA_DIR / "search_roles")),
            role=self.admin_role,
            timeout=cdk.Duration.minutes(2),
            log_group=log_group,
        )
        # CDK makes the function depend on its role explicitly as well as through the Role GetAtt (cfn-lint W3005);
        # the dependency on the role's policy, which it also adds, is the one that matters.
        cast(lambda_.CfnFunction, self.roles_function.node.default_child).add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})

        cdk.CfnOutput(self, "SearchDomainEndpoint", value=self.domain.domain_endpoint)
        cdk.CfnOutput(self, "SearchDomainName", value=domain_name)

    @property
    def endpoint_url(self) -> str:
        """The app's OPENSEARCH_URL."""
        return f"https://{self.domain.domain_endpoint}"
