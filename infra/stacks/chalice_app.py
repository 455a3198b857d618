"""``chalice.cdk.Chalice`` with an explicit Chalice stage.

The stock construct takes the stage name from ``str(scope)``, i.e. the CDK path of the enclosing stack
(``customersonly-dev-api``). No such stage exists in ``.chalice/config.json``, and chalice then quietly
packages without the stage's settings (``APP_STAGE``, ``api_gateway_stage`` …). This subclass packages
the stage we name instead, so ``.chalice/config.json`` keeps working as the app's own stage file and the
``stage_config`` given here is merged over it (chalice gives explicit parameters precedence, and merges
``environment_variables`` key by key).

Two more properties of the construct worth knowing:

* settings passed in ``stage_config`` apply to *every* function; chalice reads per-function settings
  only from ``.chalice/config.json``. Per-function differences (role, timeout, name) are therefore made
  as overrides on the included template, see :meth:`StagedChalice.override_function`.
* packaging writes into ``<cwd>/chalice.out/<uuid>/`` and builds the dependency zip with pip; chalice
  caches that zip in ``<project>/.chalice/deployments/`` (git-ignored), so only the first synth after a
  change of requirements.txt needs PyPI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from chalice import api as chalice_api
from chalice.cdk import Chalice
from constructs import Construct


class StagedChalice(Chalice):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_dir: str,
        stage: str,
        stage_config: dict[str, Any],
    ) -> None:
        # Set before the base __init__, which packages the app straight away.
        self._chalice_stage = stage
        super().__init__(scope, construct_id, source_dir=source_dir, stage_config=stage_config)
        self.stage_name = stage

    def _package_app(self) -> None:
        # chalice imports the project's app.py as the top-level module `app`, which the CDK entry point
        # infra/app.py shadows whenever infra/ comes first on sys.path (pytest, `python -m`): put the
        # project first, and hide any other `app` module, while packaging.
        project_app = Path(self.source_dir, "app.py").resolve()
        saved_path = list(sys.path)
        loaded = sys.modules.get("app")
        foreign = loaded if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != project_app else None
        if foreign is not None:
            del sys.modules["app"]
        sys.path.insert(0, self.source_dir)
        try:
            chalice_api.package_app(
                project_dir=self.source_dir,
                output_dir=self._sam_package_dir,
                stage=self._chalice_stage,
                chalice_config=self.stage_config,
            )
        finally:
            sys.path[:] = saved_path
            if foreign is not None:
                sys.modules["app"] = foreign

    def override_function(self, logical_id: str, **properties: Any) -> None:
        """Set properties of one packaged function (``AWS::Serverless::Function``), e.g. ``Role``."""
        resource = self.get_resource(logical_id)
        for key, value in properties.items():
            resource.add_property_override(key, value)
