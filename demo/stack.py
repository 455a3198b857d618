"""Where the demo plays: its own local stack, or one already running, and that stack's local side.

The demo's own stack is ``make run`` itself (``python -m chalicelib.local.stack``) in a child process, on
free ports and in a temporary state directory, started empty and removed afterwards. The local side is what
a person at a local stack does outside the API: the operator commands of ``make create-staff``, ``make
proposal-jobs``, ``make activate-payouts`` and ``make pay-invoice`` (``python -m chalicelib.cli`` with the
stack's ``app.env``), and the mail in the local outbox (``make outbox``), where verification and invitation
codes and signing links arrive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from chalicelib.cli import read_env_file
from chalicelib.local.mailbox import Mail, addressed_to, fetch_sent_mails
from demo.api import DemoFailure

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_START_SECONDS = 120
_STOP_SECONDS = 30
_LOG_TAIL_LINES = 60


class LocalOnly(DemoFailure):
    """A step needs a local stack's side (its outbox, operator commands, offline payments), which a remote
    deployment does not have."""


@dataclass(frozen=True)
class LocalSide:
    env_file: Path

    @property
    def aws_endpoint(self) -> str:
        return read_env_file(self.env_file)["AWS_ENDPOINT_URL"]

    def mails_to(self, address: str) -> list[Mail]:
        """The mail sent to ``address`` so far, oldest first: the person's inbox."""
        return addressed_to(fetch_sent_mails(self.aws_endpoint), address)

    def command(self, *args: str) -> str:
        """``python -m chalicelib.cli --env-file <app.env> ...``: what the Makefile's operator targets run."""
        command = [sys.executable, "-m", "chalicelib.cli", "--env-file", str(self.env_file), *args]
        done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
        if done.returncode != 0:
            raise DemoFailure(f"`{args[0]}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-1500:]}")
        return done.stdout.strip()


class RemoteSide:
    """A deployment's side, which the demo cannot reach: every use stops the demo with what it would need."""

    def __init__(self, api_url: str) -> None:
        self._api_url = api_url

    def _refuse(self, what: str) -> LocalOnly:
        return LocalOnly(
            f"this step needs {what}, which only a local stack has: {self._api_url} has no local outbox, operator "
            "commands or offline payments here. Run `make demo` (its own local stack), or point --api at a stack "
            "started with `make run` and give its --env-file (default .local/app.env)."
        )

    def mails_to(self, address: str) -> list[Mail]:
        raise self._refuse("the local outbox (verification and invitation codes, signing links)")

    def command(self, *args: str) -> str:
        raise self._refuse(f"the operator command `{args[0]}`")


Side = LocalSide | RemoteSide


def side_for(api_url: str, env_file: Path | None) -> Side:
    """The local side of a running stack: ``env_file`` when given, else ``make run``'s own app.env when it
    belongs to this API (its built-in signature posts to ``<api>/webhooks/esign``)."""
    if env_file is not None:
        if not env_file.exists():
            raise DemoFailure(f"{env_file} does not exist: is the stack running?")
        return LocalSide(env_file)
    default = Path(os.environ.get("LOCAL_STATE_DIR", PROJECT_ROOT / ".local")) / "app.env"
    if default.exists() and read_env_file(default).get("ESIGN_WEBHOOK_URL") == f"{api_url.rstrip('/')}/webhooks/esign":
        return LocalSide(default)
    return RemoteSide(api_url)


@dataclass(frozen=True)
class OwnStack:
    api_url: str
    side: LocalSide
    log: Path

    def log_tail(self) -> str:
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "--- the last lines of the demo stack's log ---\n" + "\n".join(lines[-_LOG_TAIL_LINES:])


@contextlib.contextmanager
def own_stack() -> Iterator[OwnStack]:
    """``make run`` on free ports in a temporary directory, started empty (``--no-persist``); stopped (the
    API, the event pump, local AWS) and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="customersonly-demo-") as directory:
        state = Path(directory)
        api_port, aws_port = _free_port(), _free_port()
        stack = OwnStack(f"http://127.0.0.1:{api_port}", LocalSide(state / "app.env"), state / "stack.log")
        command = [sys.executable, "-m", "chalicelib.local.stack", "--no-persist", "--state-dir", str(state)]
        command += ["--api-port", str(api_port), "--aws-port", str(aws_port)]
        with open(stack.log, "wb") as output:
            # Its own session: the terminal's Ctrl-C reaches the demo, which then stops the stack in order.
            process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
        try:
            try:
                _wait_until_up(process, stack)
            except DemoFailure:
                print(stack.log_tail(), file=sys.stderr)
                raise
            yield stack
        finally:
            _stop(process)


def _wait_until_up(process: subprocess.Popen[bytes], stack: OwnStack) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoFailure(f"the local stack exited with code {process.returncode} while starting")
        with contextlib.suppress(requests.RequestException):
            if stack.side.env_file.exists() and requests.get(f"{stack.api_url}/health", timeout=5).status_code == 200:
                return
        time.sleep(0.3)
    raise DemoFailure(f"the local stack did not answer {stack.api_url}/health within {_START_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the stack stops its event pump, its API's process group and local AWS itself."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
