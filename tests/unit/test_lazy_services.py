"""Cold start: the API entry point declares every route without importing the services behind them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chalicelib.lazy import LazyModule


def test_importing_the_app_leaves_the_blueprints_services_unimported() -> None:
    probe = "import json, sys, app; print(json.dumps([m for m in sys.modules if m.startswith('chalicelib.services.')]))"
    root = Path(__file__).resolve().parents[2]
    printed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root).stdout
    # What the HTTP layer itself needs (authentication records activity; the privacy notice route).
    assert set(json.loads(printed)) <= {"chalicelib.services.accounts", "chalicelib.services.notices", "chalicelib.services.ports"}


def test_a_lazy_module_imports_on_first_use_and_then_answers_as_the_module() -> None:
    lazy = LazyModule("chalicelib.lazy")
    assert lazy.LazyModule is LazyModule
