"""Cold start: the API entry point declares every route without importing the services, schemas and most of
the domain behind them (they load on a route's first request; see chalicelib.api.http)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chalicelib.lazy import LazyModule


def _modules_after_importing_the_app(prefix: str) -> set[str]:
    probe = f"import json, sys, app; print(json.dumps([m for m in sys.modules if m.startswith({prefix!r})]))"
    root = Path(__file__).resolve().parents[2]
    printed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root).stdout
    return set(json.loads(printed))


def test_importing_the_app_leaves_the_blueprints_services_unimported() -> None:
    # Only the privacy notice route's; authentication imports the account services (and with them the
    # ports, which import every domain module) on the first authenticated request.
    assert _modules_after_importing_the_app("chalicelib.services.") <= {"chalicelib.services.notices"}


def test_importing_the_app_builds_no_request_or_response_model() -> None:
    # Building the pydantic classes was most of the cold start: routes name their models lazily.
    assert _modules_after_importing_the_app("chalicelib.schemas") == set()


def test_importing_the_app_loads_only_the_small_domain_modules_route_declarations_need() -> None:
    # Route declarations need roles, resume parts and upload limits; a blueprint that imports a domain
    # module for its helpers' annotations or enums should do so under TYPE_CHECKING or on first use.
    small = {"identity", "ids", "resume", "files", "exports", "money", "notifications"}
    assert _modules_after_importing_the_app("chalicelib.domain.") <= {f"chalicelib.domain.{name}" for name in small}


def test_a_lazy_module_imports_on_first_use_and_then_answers_as_the_module() -> None:
    lazy = LazyModule("chalicelib.lazy")
    assert lazy.LazyModule is LazyModule
