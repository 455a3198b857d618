#!/usr/bin/env python3
"""CDK entry point (``cdk.json`` runs it from infra/ with infra/.venv). See README.md for the context settings."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from stacks import build
from stacks.config import ConfigError


def main() -> int:
    app = cdk.App()
    try:
        build(app)
    except ConfigError as exc:
        # A settings mistake is the deployer's to fix: say which, without a traceback.
        print(f"infra: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
