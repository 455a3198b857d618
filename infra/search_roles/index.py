"""CloudFormation custom resource: the app's roles in the OpenSearch domain's security plugin (fine-grained
access control), each with the IAM roles mapped to it.

It runs as the domain's master user (its execution role is the domain's master user ARN): only that identity
may change the security configuration, and CloudFormation has no resource for it. Requests are SigV4-signed
with botocore, which the Lambda runtime ships, so the function needs no dependencies.

Properties: ``Endpoint`` (the domain's host name) and ``Roles``, a list of ``{"Name", "Permissions",
"BackendRoles"}`` (``Permissions`` is the security plugin's role body, ``BackendRoles`` IAM role ARNs).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

SECURITY_API = "_plugins/_security/api"
TIMEOUT_SECONDS = 30

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> None:
    status, reason = "SUCCESS", ""
    try:
        apply(event)
    except Exception as exc:
        logger.exception("%s of the OpenSearch roles failed", event["RequestType"])
        # A delete that fails (the domain is being replaced or deleted too) must not hold up the stack.
        if event["RequestType"] != "Delete":
            status, reason = "FAILED", f"{exc} (log stream {context.log_stream_name})"[:1000]
    respond(event, status, reason)


def apply(event: dict[str, Any]) -> None:
    props = event["ResourceProperties"]
    endpoint = props["Endpoint"]
    roles = {role["Name"]: role for role in props["Roles"]}
    if event["RequestType"] == "Delete":
        remove(endpoint, roles)
        return
    for name, role in roles.items():
        send("PUT", endpoint, f"roles/{name}", role["Permissions"])
        send("PUT", endpoint, f"rolesmapping/{name}", {"backend_roles": role["BackendRoles"]})
    old = event.get("OldResourceProperties") or {}
    if old.get("Endpoint") == endpoint:
        remove(endpoint, {role["Name"] for role in old.get("Roles", [])} - set(roles))


def remove(endpoint: str, names: Iterable[str]) -> None:
    for name in names:
        for kind in ("rolesmapping", "roles"):  # the mapping names the role: it goes first
            send("DELETE", endpoint, f"{kind}/{name}", missing_ok=True)


def send(method: str, endpoint: str, path: str, body: Any = None, *, missing_ok: bool = False) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.session import Session

    url = f"https://{endpoint}/{SECURITY_API}/{path}"
    data = None if body is None else json.dumps(body).encode()
    signed = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Session().get_credentials(), "es", os.environ["AWS_REGION"]).add_auth(signed)
    request = urllib.request.Request(url, data=data, headers=dict(signed.headers.items()), method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):  # noqa: S310 (an https URL built above)
            logger.info("%s %s: done", method, path)
    except urllib.error.HTTPError as exc:
        if missing_ok and exc.code == 404:
            return
        raise RuntimeError(f"{method} {path}: HTTP {exc.code} {exc.read()[:500]!r}") from exc


def respond(event: dict[str, Any], status: str, reason: str) -> None:
    """Tell CloudFormation the outcome (a PUT to the presigned ResponseURL). The physical id is the domain's
    endpoint: a new domain is a new resource, and CloudFormation then deletes the old one's roles."""
    deleted = event["RequestType"] == "Delete"
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or status,
            "PhysicalResourceId": event["PhysicalResourceId"] if deleted else event["ResourceProperties"]["Endpoint"],
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        },
    ).encode()
    # CloudFormation's presigned https URL.
    request = urllib.request.Request(event["ResponseURL"], data=body, headers={"Content-Type": ""}, method="PUT")  # noqa: S310
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):  # noqa: S310
        pass
