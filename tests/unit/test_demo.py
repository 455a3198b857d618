"""`make demo` against an API it did not start: a running local stack's side is found through its app.env; a
deployment has none, and the demo stops at the first step that needs one, saying why (the whole flow itself runs
in `make test`, on a stack of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from demo.flow import Demo
from demo.stack import LocalOnly, LocalSide, RemoteSide, side_for


def _env_file(directory: Path, api_url: str) -> Path:
    path = directory / "app.env"
    path.write_text(f"export AWS_ENDPOINT_URL=http://127.0.0.1:4566\nexport ESIGN_WEBHOOK_URL={api_url}/webhooks/esign\n")
    return path


def test_make_runs_env_file_is_the_local_side_of_its_own_api_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = _env_file(tmp_path, "http://127.0.0.1:8000")
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path))
    side = side_for("http://127.0.0.1:8000/", None)
    assert side == LocalSide(env_file) and side.aws_endpoint == "http://127.0.0.1:4566"
    assert isinstance(side_for("https://api.customersonly.example", None), RemoteSide)
    assert side_for("https://api.customersonly.example", env_file) == LocalSide(env_file)  # named: trusted


def test_against_a_deployment_the_demo_stops_at_the_first_step_needing_a_local_side() -> None:
    class Deployment:
        base_url = "https://api.customersonly.example"

        def get(self, path: str, **_: Any) -> dict[str, Any]:
            return {
                "/health": {"status": "ok", "version": "1.0.0"},
                "/openapi.json": {"openapi": "3.1.0", "paths": {"/health": {}}},
                "/privacy-notice": {"version": "2026-11-01"},
            }[path]

    remote = RemoteSide(Deployment.base_url)
    with pytest.raises(LocalOnly, match="outbox"):
        remote.mails_to("anna@nordlys.example")
    lines: list[str] = []
    assert Demo(Deployment(), remote).run(lines.append) == 2  # type: ignore[arg-type]
    assert lines[1].startswith("[ 1/25] the API answers: /health ok")
    assert lines[2].startswith(
        "[ 2/25] staff are created with the operator command: STOPPED: this step needs the operator command `create-staff`"
    )
    assert len(lines) == 3
