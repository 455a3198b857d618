"""Synthesizes the CDK app once per stage for the whole session (packaging the Chalice app takes seconds)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

INFRA_DIR = Path(__file__).resolve().parent.parent
if str(INFRA_DIR) not in sys.path:
    sys.path.insert(0, str(INFRA_DIR))

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402  (after the path set-up above)
from aws_cdk.assertions import Template  # noqa: E402
from stacks import Deployment, build  # noqa: E402

PROD_CONTEXT = {
    "stage": "prod",
    "webOrigins": ["https://app.customersonly.example"],
    "webBaseUrl": "https://app.customersonly.example",
    "emailSender": "no-reply@customersonly.example",
    "platformLegalName": "Customersonly AB",
    "platformOrgNumber": "559999-9999",
    # A configured API URL (e.g. a custom domain): the webhook URL of every function, the API handler's too.
    "apiBaseUrl": "https://api.customersonly.example/api/",
    "alarmEmail": "ops@customersonly.example",
    # Someone who runs reindex-matching: mapped to the index writers' role in the search domain.
    "searchOperatorRoleArns": ["arn:aws:iam::123456789012:role/customersonly-operator"],
}


def cdk_json_context() -> dict[str, Any]:
    """The context `cdk synth` sees (dev defaults and feature flags), so tests check the same templates."""
    context: dict[str, Any] = json.loads((INFRA_DIR / "cdk.json").read_text())["context"]
    return context


@dataclass(frozen=True)
class Synth:
    deployment: Deployment
    data: Template
    identity: Template
    search: Template
    api: Template

    @property
    def templates(self) -> dict[str, Template]:
        return {"data": self.data, "identity": self.identity, "search": self.search, "api": self.api}


def synthesize(workdir: Path, overrides: dict[str, Any]) -> Synth:
    # chalice.cdk writes its packaging output to ./chalice.out: keep it out of the work tree.
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        app = cdk.App(context={**cdk_json_context(), **overrides}, outdir=str(workdir / "cdk.out"))
        deployment = build(app)
        return Synth(
            deployment=deployment,
            data=Template.from_stack(deployment.data),
            identity=Template.from_stack(deployment.identity),
            search=Template.from_stack(deployment.search),
            api=Template.from_stack(deployment.api),
        )
    finally:
        os.chdir(previous)


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield synthesize(tmp_path_factory.mktemp("dev"), {})


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield synthesize(tmp_path_factory.mktemp("prod"), PROD_CONTEXT)
