"""The search stack: the OpenSearch domain, who may reach it (IAM and fine-grained access control), and the
app's settings for it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import PROD_CONTEXT, Synth
from stacks.api import STREAM_HANDLER
from stacks.search import INDEX_ALIAS, INDEX_PATTERN, READER_ROLE, ROLE_PERMISSIONS, WRITER_ROLE
from test_stack import FUNCTIONS, _as_list, _rendered, _roles, _statements_of, allow_statements, function_properties, logical_id

from chalicelib.settings import Settings


def _domain(synth: Synth) -> dict[str, Any]:
    [domain] = synth.search.find_resources("AWS::OpenSearchService::Domain").values()
    return domain


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_domain_is_2_19_or_newer_encrypted_https_only_with_fine_grained_access(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(stage)
    props = _domain(synth)["Properties"]
    engine, _, version = props["EngineVersion"].partition("_")
    assert engine == "OpenSearch" and tuple(int(v) for v in version.split(".")) >= (2, 19)
    assert props["EncryptionAtRestOptions"] == {"Enabled": True}
    assert props["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert props["DomainEndpointOptions"] == {"EnforceHTTPS": True, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"}
    security = props["AdvancedSecurityOptions"]
    # IAM is the only way in: no internal users (no passwords), the master user is the roles function's role.
    assert security["Enabled"] is True and security["InternalUserDatabaseEnabled"] is False
    search = synth.deployment.search
    assert security["MasterUserOptions"] == {"MasterUserARN": {"Fn::GetAtt": [logical_id(search, search.admin_role), "Arn"]}}
    assert synth.search.find_resources("AWS::Lambda::Function")[logical_id(search, search.roles_function)]["Properties"]["Role"] == {
        "Fn::GetAtt": [logical_id(search, search.admin_role), "Arn"]
    }


def test_the_domain_defers_to_the_accounts_iam_and_never_to_anyone(dev: Synth) -> None:
    [statement] = _domain(dev)["Properties"]["AccessPolicies"]["Statement"]
    assert statement["Effect"] == "Allow" and "Condition" not in statement
    # The account itself, i.e. its identity policies (only the api and stream handler roles name this domain).
    assert statement["Principal"] == {
        "AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}
    }
    assert "customersonly-dev-search/*" in json.dumps(statement["Resource"])
    # No custom resource (and no Node.js function) to apply the policy after the domain exists.
    assert not dev.search.find_resources("Custom::OpenSearchAccessPolicy")


def test_dev_runs_one_small_node_and_prod_two_in_two_zones_and_keeps_it(dev: Synth, prod: Synth) -> None:
    dev_domain, prod_domain = _domain(dev), _domain(prod)
    assert dev_domain["Properties"]["ClusterConfig"] == {
        "DedicatedMasterEnabled": False,
        "InstanceCount": 1,
        "InstanceType": "t3.small.search",
        "MultiAZWithStandbyEnabled": False,
        "ZoneAwarenessEnabled": False,
    }
    cluster = prod_domain["Properties"]["ClusterConfig"]
    assert cluster["InstanceCount"] == 2 and cluster["ZoneAwarenessEnabled"] is True
    assert cluster["ZoneAwarenessConfig"] == {"AvailabilityZoneCount": 2}
    assert prod_domain["Properties"]["EBSOptions"] == {"EBSEnabled": True, "VolumeSize": 20, "VolumeType": "gp3"}
    assert dev_domain["DeletionPolicy"] == "Delete" and prod_domain["DeletionPolicy"] == "Retain"


def _search_actions(synth: Synth) -> dict[str, set[str]]:
    """The es: actions each function role has, checking that each names this domain's paths and nothing else."""
    search = synth.deployment.search
    domain_id = logical_id(search, search.domain)
    granted: dict[str, set[str]] = {}
    for name, role in _roles(synth).items():
        granted[name] = set()
        for statement in _statements_of(synth, role):
            actions = {a for a in _as_list(statement["Action"]) if a.startswith("es:")}
            if actions:
                [resource] = _as_list(statement["Resource"])
                assert domain_id in json.dumps(resource) and _rendered(resource) == "<ref>/*", statement
                granted[name] |= actions
    return granted


def test_the_api_handler_reads_and_the_stream_handler_writes_the_index_and_nobody_else_touches_it(dev: Synth) -> None:
    granted = _search_actions(dev)
    assert granted["api"] == {"es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"}  # a search with a body is a POST
    assert granted["stream"] == granted["api"] | {"es:ESHttpPut", "es:ESHttpDelete"}
    assert not any(granted[name] for name in granted if name not in ("api", "stream")), granted
    # The master user's role may only call the security plugin's API (roles and their mappings).
    [admin] = [s for s in allow_statements(dev.search) if any(a.startswith("es:") for a in _as_list(s["Action"]))]
    assert sorted(admin["Action"]) == ["es:ESHttpDelete", "es:ESHttpPut"]
    assert _rendered(admin["Resource"]) == "arn:aws:es:eu-north-1:<ref>:domain/customersonly-dev-search/_plugins/_security/api/*"


def _search_roles(synth: Synth) -> dict[str, dict[str, Any]]:
    [resource] = synth.api.find_resources("Custom::OpenSearchRoles").values()
    props = resource["Properties"]
    search = synth.deployment.search
    # Applied by the search stack's function, on this domain.
    assert logical_id(search, search.roles_function) in json.dumps(props["ServiceToken"])
    assert logical_id(search, search.domain) in json.dumps(props["Endpoint"])
    return {role["Name"]: role for role in props["Roles"]}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_inside_the_domain_the_api_role_reads_and_the_stream_role_writes_the_apps_indices_only(
    stage: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(stage)
    roles = _search_roles(synth)
    assert set(roles) == {READER_ROLE, WRITER_ROLE}
    api = synth.deployment.api
    role_arn = {name: {"Fn::GetAtt": [logical_id(api, role), "Arn"]} for name, role in _roles(synth).items()}
    assert roles[READER_ROLE]["BackendRoles"] == [role_arn["api"]]
    operators = PROD_CONTEXT["searchOperatorRoleArns"] if stage == "prod" else []
    assert roles[WRITER_ROLE]["BackendRoles"] == [role_arn["stream"], *operators]
    for role in roles.values():
        assert role["Permissions"] == ROLE_PERMISSIONS[role["Name"]]
        # The app's indices, not the domain's own (.opendistro_security, .kibana…) nor anyone else's.
        assert [p for permission in role["Permissions"]["index_permissions"] for p in permission["index_patterns"]] == [INDEX_PATTERN]
        assert not any(c == "*" or c.endswith("/*") for c in role["Permissions"]["cluster_permissions"]), role
    assert roles[READER_ROLE]["Permissions"]["index_permissions"][0]["allowed_actions"] == ["read"]
    # The stream handler must not start before its role is mapped.
    [stream_mapping] = [
        m
        for m in synth.api.find_resources("AWS::Lambda::EventSourceMapping").values()
        if STREAM_HANDLER in json.dumps(m["Properties"]["FunctionName"])
    ]
    assert "SearchRoles" in stream_mapping["DependsOn"]


def test_functions_search_the_domain_under_the_alias_the_roles_cover(dev: Synth) -> None:
    search = dev.deployment.search
    assert f"{INDEX_ALIAS}*" == INDEX_PATTERN
    for function in FUNCTIONS:
        variables = function_properties(dev, function)["Environment"]["Variables"]
        assert variables["SEARCH_ENGINE"] == "opensearch" and variables["OPENSEARCH_ALIAS"] == INDEX_ALIAS, function
        url = variables["OPENSEARCH_URL"]
        assert _rendered(url) == "https://<ref>" and logical_id(search, search.domain) in json.dumps(url), function
        # Signed with the function's own role in its own region: no user, password or region of its own.
        assert not {"OPENSEARCH_USERNAME", "OPENSEARCH_PASSWORD", "OPENSEARCH_REGION"} & set(variables)
        settings = Settings.from_environment({**{k: v for k, v in variables.items() if isinstance(v, str)}, "OPENSEARCH_URL": "https://x"})
        assert settings.search_engine == "opensearch" and settings.opensearch_service == "es"
