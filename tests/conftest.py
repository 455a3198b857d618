"""Shared fixtures. Unit tests need none of these; integration and functional tests get a moto server.

One moto server and one set of resources per test session (created by the same bootstrap that
``make run`` uses). Tests isolate themselves with unique e-mails and organisation numbers instead of
resetting moto, which keeps the suite fast.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

# Never reach a real AWS account from tests, whatever the developer's shell says.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-north-1",
        "AWS_DEFAULT_REGION": "eu-north-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)


@dataclass
class LocalStack:
    endpoint: str
    resources: object
    container: object


@contextmanager
def local_stack() -> Iterator[LocalStack]:
    """moto in this process with every resource the app uses, and the app's container on it, for as long as
    the block runs (the test session, a benchmark)."""
    from chalicelib.container import Container, set_container
    from chalicelib.local.aws import LocalAwsServer
    from chalicelib.local.bootstrap import app_environment, ensure_resources, local_aws_environment
    from chalicelib.settings import Settings

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call drowns test output
    # The same in-process moto as `make run`, with DynamoDB writes serialised as DynamoDB's are.
    server = LocalAwsServer()
    server.start()
    endpoint = server.endpoint_url
    saved = dict(os.environ)
    os.environ.update(local_aws_environment(endpoint, "eu-north-1"))
    settings = Settings.from_environment()
    resources = ensure_resources(settings)
    os.environ.update(app_environment(settings, resources))
    container = Container(Settings.from_environment())
    set_container(container)
    try:
        yield LocalStack(endpoint, resources, container)
    finally:
        set_container(None)
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalStack]:
    with local_stack() as stack:
        yield stack


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
