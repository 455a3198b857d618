"""The custom resource that writes the app's roles into the search domain's security plugin
(``infra/search_roles/index.py``), against a recording stand-in for the domain and CloudFormation."""

from __future__ import annotations

import importlib.util
import io
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from conftest import INFRA_DIR
from stacks.search import SECURITY_API_PATH

ENDPOINT = "search-customersonly-dev-search-abc.eu-north-1.es.amazonaws.com"
RESPONSE_URL = "https://cloudformation-custom-resource-response-eunorth1.s3.amazonaws.com/presigned"
READER = {
    "Name": "reader",
    "Permissions": {"cluster_permissions": ["cluster_composite_ops_ro"]},
    "BackendRoles": ["arn:aws:iam::1:role/api"],
}
WRITER = {
    "Name": "writer",
    "Permissions": {"cluster_permissions": ["cluster_composite_ops"]},
    "BackendRoles": ["arn:aws:iam::1:role/stream"],
}


@dataclass
class Recorder:
    """Answers every request to the domain with ``statuses[(method, path)]`` (200 when absent) and keeps them."""

    statuses: dict[tuple[str, str], int] = field(default_factory=dict)
    requests: list[urllib.request.Request] = field(default_factory=list)

    def urlopen(self, request: urllib.request.Request, timeout: float) -> io.BytesIO:
        self.requests.append(request)
        path = request.full_url.removeprefix(f"https://{ENDPOINT}/{SECURITY_API_PATH}/")
        status = self.statuses.get((request.get_method(), path), 200)
        if status >= 400:
            raise urllib.error.HTTPError(request.full_url, status, "refused", {}, io.BytesIO(b'{"status":"FORBIDDEN"}'))
        return io.BytesIO(b"{}")

    def to_domain(self) -> list[tuple[str, str, Any]]:
        return [
            (r.get_method(), r.full_url.removeprefix(f"https://{ENDPOINT}/{SECURITY_API_PATH}/"), json.loads(r.data) if r.data else None)
            for r in self.requests
            if r.full_url.startswith(f"https://{ENDPOINT}/")
        ]

    def response(self) -> dict[str, Any]:
        """The last answer to CloudFormation."""
        answer = [r for r in self.requests if r.full_url == RESPONSE_URL][-1]
        assert answer.get_method() == "PUT"
        result: dict[str, Any] = json.loads(answer.data)
        return result


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Recorder]:
    spec = importlib.util.spec_from_file_location("search_roles_index", INFRA_DIR / "search_roles" / "index.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.SECURITY_API == SECURITY_API_PATH  # the path the master user's role may call
    recorder = Recorder()
    monkeypatch.setattr(module.urllib.request, "urlopen", recorder.urlopen)
    for name, value in {"AWS_REGION": "eu-north-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return module, recorder


def _event(request_type: str, roles: list[dict[str, Any]], old_roles: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    event = {
        "RequestType": request_type,
        "ResponseURL": RESPONSE_URL,
        "StackId": "arn:aws:cloudformation:eu-north-1:1:stack/customersonly-dev-api/x",
        "RequestId": "r1",
        "LogicalResourceId": "SearchRoles",
        "ResourceProperties": {"ServiceToken": "arn", "Endpoint": ENDPOINT, "Roles": roles},
    }
    if request_type != "Create":
        event["PhysicalResourceId"] = ENDPOINT
    if old_roles is not None:
        event["OldResourceProperties"] = {"ServiceToken": "arn", "Endpoint": ENDPOINT, "Roles": old_roles}
    return event


CONTEXT = SimpleNamespace(log_stream_name="2026/01/01/[$LATEST]abc")


def test_create_puts_each_role_then_its_mapping_signed_as_the_master_user(handler: tuple[ModuleType, Recorder]) -> None:
    module, recorder = handler
    module.handler(_event("Create", [READER, WRITER]), CONTEXT)
    assert recorder.to_domain() == [
        ("PUT", "roles/reader", READER["Permissions"]),
        ("PUT", "rolesmapping/reader", {"backend_roles": READER["BackendRoles"]}),
        ("PUT", "roles/writer", WRITER["Permissions"]),
        ("PUT", "rolesmapping/writer", {"backend_roles": WRITER["BackendRoles"]}),
    ]
    for request in recorder.requests[:-1]:
        headers = {k.lower(): v for k, v in request.header_items()}
        assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert "/eu-north-1/es/aws4_request" in headers["authorization"]
        assert headers["content-type"] == "application/json"
    response = recorder.response()
    assert response["Status"] == "SUCCESS" and response["PhysicalResourceId"] == ENDPOINT
    assert (response["StackId"], response["RequestId"], response["LogicalResourceId"]) == (
        "arn:aws:cloudformation:eu-north-1:1:stack/customersonly-dev-api/x",
        "r1",
        "SearchRoles",
    )


def test_a_refused_request_fails_the_deployment_with_the_domains_answer(handler: tuple[ModuleType, Recorder]) -> None:
    module, recorder = handler
    recorder.statuses[("PUT", "rolesmapping/reader")] = 403
    module.handler(_event("Create", [READER, WRITER]), CONTEXT)
    response = recorder.response()
    assert response["Status"] == "FAILED"
    assert "rolesmapping/reader: HTTP 403" in response["Reason"] and CONTEXT.log_stream_name in response["Reason"]
    assert ("PUT", "roles/writer", WRITER["Permissions"]) not in recorder.to_domain()


def test_an_update_rewrites_the_roles_and_removes_those_no_longer_declared(handler: tuple[ModuleType, Recorder]) -> None:
    module, recorder = handler
    module.handler(_event("Update", [READER], old_roles=[READER, WRITER]), CONTEXT)
    assert recorder.to_domain() == [
        ("PUT", "roles/reader", READER["Permissions"]),
        ("PUT", "rolesmapping/reader", {"backend_roles": READER["BackendRoles"]}),
        ("DELETE", "rolesmapping/writer", None),
        ("DELETE", "roles/writer", None),
    ]
    assert recorder.response()["Status"] == "SUCCESS"


def test_a_delete_removes_mappings_before_roles_and_never_holds_up_the_stack(handler: tuple[ModuleType, Recorder]) -> None:
    module, recorder = handler
    recorder.statuses[("DELETE", "rolesmapping/reader")] = 404  # already gone: fine
    module.handler(_event("Delete", [READER]), CONTEXT)
    assert recorder.to_domain() == [("DELETE", "rolesmapping/reader", None), ("DELETE", "roles/reader", None)]
    assert recorder.response()["Status"] == "SUCCESS"

    recorder.statuses[("DELETE", "roles/reader")] = 500
    module.handler(_event("Delete", [READER]), CONTEXT)
    assert recorder.response()["Status"] == "SUCCESS"  # a domain being deleted too must not block the stack
