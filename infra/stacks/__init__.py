"""The Customersonly CDK app: four stacks per stage, split where their lifecycles differ.

* ``data``: tables, buckets, uploads queue, secrets (stateful; retained in prod),
* ``identity``: Cognito user pool, groups and web client; the SES sender identity,
* ``search``: the OpenSearch domain (slow to create; its index is rebuilt from the tables),
* ``api``: the Chalice app (REST API + event handlers), per-function IAM roles, event source mappings,
  the REST API's throttle and web ACL, the alarms.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from stacks.config import PROJECT_ROOT

# The identity stack reads the role names from the app's own enum (chalicelib.domain.identity), and
# chalice imports app.py from there while packaging.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import aws_cdk as cdk

from stacks.api import ApiStack
from stacks.config import APP_NAME, StageConfig
from stacks.data import DataStack
from stacks.identity import IdentityStack
from stacks.search import SearchStack


@dataclass(frozen=True)
class Deployment:
    config: StageConfig
    data: DataStack
    identity: IdentityStack
    search: SearchStack
    api: ApiStack


def build(app: cdk.App) -> Deployment:
    """Add the stage's stacks to ``app``; the stage and its settings come from ``app``'s context."""
    config = StageConfig.from_context(app.node)
    # `chalice package` needs a region to build its templates, even offline.
    os.environ.setdefault("AWS_DEFAULT_REGION", config.region)
    env = config.env
    data = DataStack(app, config.stack_name("data"), config=config, env=env, description=f"{APP_NAME} {config.stage}: data")
    identity = IdentityStack(
        app,
        config.stack_name("identity"),
        config=config,
        env=env,
        description=f"{APP_NAME} {config.stage}: users and e-mail identity",
    )
    search = SearchStack(app, config.stack_name("search"), config=config, env=env, description=f"{APP_NAME} {config.stage}: search")
    api = ApiStack(
        app,
        config.stack_name("api"),
        config=config,
        data=data,
        identity=identity,
        search=search,
        env=env,
        description=f"{APP_NAME} {config.stage}: API",
    )
    for scope in (data, identity, search, api):
        cdk.Tags.of(scope).add("project", APP_NAME)
        cdk.Tags.of(scope).add("stage", config.stage)
    return Deployment(config=config, data=data, identity=identity, search=search, api=api)
