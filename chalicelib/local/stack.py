"""``make run``: the whole backend on this machine, no AWS account, Docker or network needed.

One process owns everything it starts:

* local AWS: moto in server mode in this process (``LOCAL_AWS_PORT``, default 4566), its state
  restored from ``.local/aws-state.pickle`` and saved there again on a clean shutdown;
* the resources ``infra/`` would create (``bootstrap.ensure_resources``);
* the API: ``chalice local`` as a child process in its own process group (``LOCAL_API_PORT``,
  default 8000), started with the local environment; it reloads itself when code changes;
* the event pump (a thread) feeding the uploads queue and the main table's stream to the handlers.

SIGINT (Ctrl-C), SIGTERM and SIGHUP stop the pump, the API process group and moto, then save the
state. The environment the app gets is also written to ``.local/app.env`` for other terminals.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from chalicelib.local import aws, bootstrap
from chalicelib.local.pump import EventPump
from chalicelib.settings import Settings

log = logging.getLogger("customersonly.local")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STATE_FILE_NAME = "aws-state.pickle"
OFFLINE_STRIPE_FILE_NAME = "offline-stripe.json"  # the offline Stripe's objects (make run)
ENV_FILE_NAME = "app.env"
_PUMP_CHECKPOINTS_KEY = "pump_checkpoints"
_PROPOSAL_JOBS_SECONDS = 60
_ITERATOR_HOUSEKEEPING_SECONDS = 300.0
_CHILD_STOP_TIMEOUT = 10.0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s [%(name)s] %(levelname)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    for noisy in ("werkzeug", "botocore"):  # a line per moto request / client creation otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(state_dir / "stack.lock") as locked:
        if not locked:
            return _fail(f"another local stack is already running on {state_dir} (see {state_dir / 'stack.lock'})")
        return _run(args, state_dir)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local.stack", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", "4566")))
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("LOCAL_API_PORT", "8000")))
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("LOCAL_STATE_DIR", PROJECT_ROOT / ".local")))
    parser.add_argument("--no-api", action="store_true", help="local AWS and the event pump only (e.g. to debug the API in an IDE)")
    # Off by default: chalice's reloader stats every file under the project (.venv included) each
    # second and restarts on any write there (pytest caches, .local/), which loops while tests run.
    parser.add_argument("--autoreload", action="store_true", help="restart the API when any file in the project changes")
    parser.add_argument("--no-pump", action="store_true", help="do not deliver queue messages and stream records")
    parser.add_argument("--no-persist", action="store_true", help="start empty and save nothing")
    return parser.parse_args(argv)


def _rebuild_search_index() -> None:
    from chalicelib.container import get_container
    from chalicelib.services.matching import reindex_all

    log.info("search index: %d consultant(s) findable", reindex_all(get_container().indexing))


def _run(args: argparse.Namespace, state_dir: Path) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())

    if not args.no_api and not _port_free(args.host, args.api_port):
        return _fail(f"port {args.api_port} on {args.host} is in use: stop what runs there or set LOCAL_API_PORT")

    # Set the local environment for this process first: the bootstrap, the settings model and the
    # event handlers (which run in the pump thread here) all read it.
    for name in set(os.environ) - set(bootstrap.scrubbed_environ()):
        del os.environ[name]

    state_file = state_dir / STATE_FILE_NAME
    loaded = aws.SnapshotLoad("absent", "persistence disabled (--no-persist): starting empty")
    if not args.no_persist:
        loaded = aws.load_snapshot(state_file)
    (log.info if loaded.status in ("restored", "absent") else log.error)("local data: %s", loaded.message)
    if not loaded.restored:
        # The offline Stripe's objects belong with the tables they refer to: they start empty together.
        (state_dir / OFFLINE_STRIPE_FILE_NAME).unlink(missing_ok=True)

    server = aws.LocalAwsServer(args.host, args.aws_port)
    try:
        server.start()
    except OSError as exc:
        return _fail(f"cannot start local AWS on {args.host}:{args.aws_port} ({exc}); set LOCAL_AWS_PORT to a free port")

    api: subprocess.Popen[bytes] | None = None
    pump: EventPump | None = None
    pump_thread: threading.Thread | None = None
    env_file = state_dir / ENV_FILE_NAME
    exit_code = 0
    try:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-north-1"
        os.environ.update(bootstrap.local_aws_environment(server.endpoint_url, region))
        settings = Settings.from_environment()
        resources = bootstrap.ensure_resources(settings)
        app_env = bootstrap.app_environment(settings, resources)
        # The embedded search index, shared by the API (reads) and the event pump (writes); rebuilt from
        # the tables at every start, so it never disagrees with restored (or fresh) data.
        index_dir = state_dir / "match-index"
        shutil.rmtree(index_dir, ignore_errors=True)
        app_env["MATCH_INDEX_DIR"] = str(index_dir)
        # The built-in signature posts its webhooks to this very API, as an external provider would.
        app_env["ESIGN_WEBHOOK_URL"] = f"http://{args.host}:{args.api_port}/webhooks/esign"
        # Offline payments: one Stripe for the API and the event pump, its webhooks posted to this API.
        app_env["OFFLINE_STRIPE_STATE"] = str(state_dir / OFFLINE_STRIPE_FILE_NAME)
        app_env["OFFLINE_STRIPE_WEBHOOK_URL"] = f"http://{args.host}:{args.api_port}/webhooks/stripe"
        os.environ.update(app_env)
        _write_env_file(env_file, app_env)
        _rebuild_search_index()

        if not args.no_pump:
            pump = EventPump(
                region=resources.region,
                uploads_queue_url=resources.uploads_queue_url,
                main_table=resources.main_table,
                checkpoints=loaded.extra.get(_PUMP_CHECKPOINTS_KEY),
            )
            pump_thread = threading.Thread(
                target=pump.run_forever,
                args=(stop,),
                kwargs={"between_polls": _between_polls(pump)},
                name="event-pump",
                daemon=True,
            )
            pump_thread.start()
        if not args.no_api:
            api = _start_api(args, {**os.environ, **app_env})
        _print_banner(args, resources, env_file, persisted=not args.no_persist, loaded=loaded)

        while not stop.wait(0.5):
            if api is not None and api.poll() is not None:
                log.error("chalice local exited with code %s; stopping the local stack", api.returncode)
                exit_code = 1
                break
    except Exception:
        log.exception("the local stack failed")
        exit_code = 1
    finally:
        stop.set()
        _shutdown(api, pump_thread, server)
        with contextlib.suppress(FileNotFoundError):
            env_file.unlink()  # stale endpoints would mislead the CLI in other terminals
        if not args.no_persist:
            # Without a pump (--no-pump) keep the saved positions, or the next run re-delivers everything.
            checkpoints = pump.checkpoints() if pump is not None else loaded.extra.get(_PUMP_CHECKPOINTS_KEY, {})
            exit_code = _save(state_file, {_PUMP_CHECKPOINTS_KEY: checkpoints}) or exit_code
    return exit_code


def _between_polls(pump: EventPump) -> Callable[[], None]:
    """What the pump thread does between drains: iterator housekeeping, and the frequent scheduled jobs that
    EventBridge runs in AWS (the daily ones are `make privacy-jobs`)."""
    housekeeping = _iterator_housekeeping(pump)
    last_jobs = time.monotonic()

    def run() -> None:
        nonlocal last_jobs
        housekeeping()
        if time.monotonic() - last_jobs >= _PROPOSAL_JOBS_SECONDS:
            from chalicelib.events.jobs import run_proposal_jobs

            last_jobs = time.monotonic()
            try:
                run_proposal_jobs()
            except Exception:
                log.exception("the proposal jobs failed; they run again in a minute")

    return run


def _iterator_housekeeping(pump: EventPump) -> Callable[[], None]:
    last = time.monotonic()

    def run() -> None:
        nonlocal last
        if time.monotonic() - last >= _ITERATOR_HOUSEKEEPING_SECONDS:
            # Runs on the pump thread between drains, so no iterator is in use while it is dropped.
            aws.discard_stream_iterators()
            pump.forget_iterators()
            last = time.monotonic()

    return run


def _start_api(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    chalice = Path(sys.executable).parent / "chalice"
    executable = str(chalice) if chalice.exists() else shutil.which("chalice")
    if executable is None:
        raise RuntimeError("the chalice command is not installed in this environment (requirements-dev.txt)")
    # chalice's reloader re-executes sys.argv, so it must be the console script, not `python -c`.
    command = [executable, "--project-dir", str(PROJECT_ROOT), "local", "--host", args.host, "--port", str(args.api_port), "--stage", "dev"]
    if not args.autoreload:
        command.append("--no-autoreload")
    # Own process group: Ctrl-C reaches only this process, which then stops the group (the reloader
    # and its worker) in order, after the pump and before the state is saved.
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True)  # noqa: S603 - fixed argv


def _shutdown(api: subprocess.Popen[bytes] | None, pump_thread: threading.Thread | None, server: aws.LocalAwsServer) -> None:
    if pump_thread is not None:
        pump_thread.join(timeout=30)  # a handler in flight finishes its batch
        if pump_thread.is_alive():
            log.warning("the event pump did not stop within 30 s; saving anyway")
    if api is not None:
        _stop_process_group(api)
    server.stop()


def _stop_process_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=_CHILD_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("chalice local ignored SIGTERM; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _save(state_file: Path, extra: dict[str, object]) -> int:
    try:
        size = aws.save_snapshot(state_file, extra)
    except Exception:
        log.exception("could not save local data to %s; the previous save (if any) is unchanged", state_file)
        return 1
    log.info("local data saved to %s (%.1f MB)", state_file, size / 1e6)
    return 0


def _write_env_file(path: Path, env: dict[str, str]) -> None:
    lines = ["# Written by `make run` while it runs; `. .local/app.env` points this shell at the local stack."]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    path.write_text("\n".join(lines) + "\n")


def _print_banner(
    args: argparse.Namespace,
    resources: bootstrap.LocalResources,
    env_file: Path,
    *,
    persisted: bool,
    loaded: aws.SnapshotLoad,
) -> None:
    api_url = f"http://{args.host}:{args.api_port}"
    try:
        env_hint = env_file.relative_to(Path.cwd())
    except ValueError:
        env_hint = env_file
    login = json.dumps({"email": "you@example.com", "password": "a-long-password"})
    if not persisted:
        persistence = "OFF (--no-persist): everything is lost when this stops"
    elif loaded.status == "restored":
        persistence = f"restored; saved again on Ctrl-C to {args.state_dir / STATE_FILE_NAME}"
    else:
        persistence = f"{loaded.status}; saved on Ctrl-C to {args.state_dir / STATE_FILE_NAME}"
    lines = [
        "",
        "Customersonly local stack",
        f"  API            {api_url if not args.no_api else '(not started: --no-api)'}",
        f"  local AWS      {resources.endpoint_url}   (moto; sent e-mail: {resources.endpoint_url}/moto-api/data.json)",
        f"  region         {resources.region}",
        f"  user pool      {resources.user_pool_id}   app client {resources.client_id}",
        f"  bucket/queue   {resources.documents_bucket} -> {resources.uploads_queue_url}",
        f"  event pump     {'off (--no-pump)' if args.no_pump else 'uploads queue + main table stream'}",
        f"  local data     {persistence}",
        "",
        "Create a staff user (another terminal, repository root; asks for a password of 12+ characters):",
        "  make create-staff EMAIL=you@example.com NAME='Your Name'",
        "Get a token (any registered user; send it as 'Authorization: Bearer <access_token>'):",
        f"  curl -s -X POST {api_url}/auth/login -H 'content-type: application/json' -d '{login}'",
        f"  .venv/bin/python -m chalicelib.cli --env-file {env_hint} token --email you@example.com",
        "",
        "Ctrl-C stops everything and saves the local data.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    # Two stacks on one state directory would overwrite each other's saved data on exit.
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file is closed
        except BlockingIOError:
            yield False
            return
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield True


def _fail(message: str) -> int:
    print(f"make run: {message}", file=sys.stderr, flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
