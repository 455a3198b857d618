"""moto in server mode, in this process, with its state saved to and restored from a file.

moto keeps every service's state in plain Python objects (``moto.backends.get_backend(name)`` →
account → region → backend), and has no persistence of its own. Running the server in-process lets
the local stack pickle those objects on shutdown and put them back before the next start. Measured
with moto 5.2.5: only two kinds of object in the persisted services refuse to pickle — the
``threading.Condition`` guarding each SQS queue and the RSA key each Cognito pool signs tokens with —
so the pickler recreates the former and carries the latter as PEM. Everything else round-trips as is,
which keeps what a replay of API calls could not: Cognito pool/client ids and user ``sub``s (the app's
user ids), passwords, refresh tokens, S3 object bytes and metadata, DynamoDB items and stream records
(same stream ARN and sequence numbers), SQS messages and their receive counts, SES identities and sent
mail. Restoring takes ~0.1 s.

The snapshot is only as compatible as the moto and Python that wrote it; the header records both and
a mismatch is treated like a corrupt file: reported, moved aside, and the stack starts empty.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import moto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.backends import get_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

if TYPE_CHECKING:
    from moto.backends import SERVICE_NAMES

# What the app uses. dynamodbstreams is deliberately absent: it holds only shard iterators, which
# are transient; the stream records themselves live in the dynamodb backend.
PERSISTED_SERVICES: tuple[SERVICE_NAMES, ...] = ("dynamodb", "s3", "sqs", "ses", "sesv2", "cognito-idp")

_MAGIC = b"customersonly-local-aws-snapshot\n"
_FORMAT = 1
_RLOCK_TYPE = type(threading.RLock())
_LOCK_TYPE = type(threading.Lock())


class _QuietRequestHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per API call drowns the API's own log; errors are still logged


_DYNAMODB_WRITES = threading.RLock()


def serialise_dynamodb_writes() -> None:
    """Make moto's DynamoDB writes atomic with respect to each other, as DynamoDB's are.

    moto applies a TransactWriteItems without a lock and rolls a failed one back by restoring a copy of
    the whole table: under concurrent requests two transactions both pass their conditions, or a
    rollback erases another request's write. Measured here: five concurrent registrations of one
    organisation number all "succeeded". One lock around every write restores DynamoDB's guarantee.
    Idempotent; affects this process's moto only.
    """
    from moto.dynamodb.models import DynamoDBBackend

    _undo_transactions_in_place()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_serialised", False):
            continue

        def serialised(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _DYNAMODB_WRITES:
                return _original(self, *args, **kwargs)

        serialised._serialised = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialised)


class _TablesUncopied:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend, where a TransactWriteItems backs up
    every table it touches with a deep copy and puts the copy in place on failure. That copy grows with the
    table, so a long run (the test suite, a day of ``make run``) slows down quadratically, and stream
    readers holding an iterator keep reading the discarded table's shard. Tables are left as they are here;
    ``_undo_transactions_in_place`` undoes a failed transaction's writes instead."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        import copy

        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _undo_transactions_in_place() -> None:
    import copy

    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_undone_in_place", False):
        return
    dynamodb_models.copy = _TablesUncopied  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        """moto's, with a failed transaction undone by restoring the items it may have written (read before
        it ran) and dropping the stream records it added. Runs under the write lock."""
        before = []
        shards = {}
        for operation in transact_items:
            [(_, body)] = operation.items()
            table = self.tables.get(body.get("TableName", ""))
            if table is None:
                continue  # moto reports it
            key = body.get("Item") or body.get("Key") or {}
            if table.hash_key_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr and table.range_key_attr in key else None
            before.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
            if table.stream_shard is not None:
                shards[id(table)] = (table.stream_shard, len(table.stream_shard.items))
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(before):
                if range_value is None:
                    table.items.pop(hash_value, None)
                    if item is not None:
                        table.items[hash_value] = item
                else:
                    table.items[hash_value].pop(range_value, None)
                    if item is not None:
                        table.items[hash_value][range_value] = item
            for shard, length in shards.values():
                del shard.items[length:]
            raise

    transact_write_items._undone_in_place = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class LocalAwsServer:
    """moto's WSGI app on a werkzeug server in a daemon thread of this process.

    Unlike ``moto.server.ThreadedMotoServer`` the socket is bound in :meth:`start`'s caller, so a port
    in use raises ``OSError`` there instead of leaving the caller waiting for a thread that died.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        serialise_dynamodb_writes()
        keep_object_states_still()
        app = DomainDispatcherApplication(create_backend_app)
        try:
            self._server = make_server(self._host, self._port, app, threaded=True, request_handler=_QuietRequestHandler)
        except SystemExit as exc:  # werkzeug prints "Address already in use" and exits instead of raising
            raise OSError(f"{self._host}:{self._port} is in use") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "start() first"
        port = self._server.server_address[1]  # the real one when constructed with port 0
        return f"http://{self._host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None


def keep_object_states_still() -> None:
    """moto advances an S3 object's restore state on every read of it, and for the parts of a multipart
    upload (which name no bucket) that read fails: /moto-api/data.json, where local mail is read, then
    answers 500 once any multipart upload was made. Nothing here restores from Glacier, so the state
    is held still."""
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="s3::keyrestore", transition={"progression": "manual", "times": 2**31})


def discard_stream_iterators() -> None:
    """Free the shard iterators moto keeps forever (one per GetRecords call, ~2 KB each).

    A poller every 0.5 s would otherwise grow the process by tens of MB per hour. Callers must make
    their consumers re-acquire iterators afterwards (``EventPump.forget_iterators``).
    """
    for account_backends in get_backend("dynamodbstreams").values():
        for backend in account_backends.values():
            backend.shard_iterators.clear()


# -- snapshot -------------------------------------------------------------------------------------


@dataclass
class SnapshotLoad:
    status: str  # "restored" | "absent" | "corrupt" | "incompatible"
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    moved_to: Path | None = None

    @property
    def restored(self) -> bool:
        return self.status == "restored"


def save_snapshot(path: Path, extra: dict[str, Any] | None = None) -> int:
    """Write moto's state (and ``extra``, e.g. pump checkpoints) atomically; returns the size in bytes.

    Call it while nothing is serving requests: pickling walks live objects.
    """
    services = {name: list(get_backend(name).iter_backends()) for name in PERSISTED_SERVICES}
    header = {
        "format": _FORMAT,
        "moto": moto.__version__,
        "python": _python_version(),
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "services": list(PERSISTED_SERVICES),
    }
    buffer = io.BytesIO()
    buffer.write(_MAGIC)
    pickle.dump(header, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump({"services": services, "extra": extra or {}})
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)  # a crash mid-write leaves the previous snapshot intact
    return len(data)


def load_snapshot(path: Path) -> SnapshotLoad:
    """Put a saved state back into moto's backends; never raises for a bad file.

    Must run before the server handles requests. A file that cannot be restored is moved aside (kept
    for inspection) and reported, and moto's state is left untouched (empty on a fresh start).
    """
    if not path.exists():
        return SnapshotLoad("absent", f"no saved local data at {path}; starting empty")
    try:
        with open(path, "rb") as fh:
            if fh.read(len(_MAGIC)) != _MAGIC:
                raise ValueError("not a local AWS snapshot")
            # Trusted input: the file is written by this module into the developer's own checkout.
            header = pickle.load(fh)  # noqa: S301
            found = (header.get("format"), header.get("moto"), header.get("python"))
            wanted = (_FORMAT, moto.__version__, _python_version())
            if found != wanted:
                return _move_aside(
                    path,
                    "incompatible",
                    (f"saved by format/moto/python {found[0]}/{found[1]}/{found[2]}, this is {wanted[0]}/{wanted[1]}/{wanted[2]}"),
                )
            payload = pickle.load(fh)  # noqa: S301
        services = payload["services"]
        extra = dict(payload.get("extra") or {})
        for name, entries in services.items():
            for _account, _region, backend in entries:
                if not isinstance(backend, get_backend(name).backend):
                    raise TypeError(f"{name}: unexpected {type(backend).__name__}")
    except Exception as exc:  # any failure to read means "corrupt", reported below
        return _move_aside(path, "corrupt", f"{type(exc).__name__}: {exc}")
    # Only now touch moto, so a file that fails halfway never leaves a half-restored state.
    for name, entries in services.items():
        backends = get_backend(name)
        for account, region, backend in entries:
            backends[account][region] = backend
    return SnapshotLoad("restored", f"restored local data saved at {header.get('saved_at')} from {path}", extra)


def _move_aside(path: Path, status: str, reason: str) -> SnapshotLoad:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{status}-{stamp}")
    try:
        os.replace(path, target)
    except OSError as exc:
        return SnapshotLoad(status, f"{status} snapshot {path} ({reason}); could not move it aside: {exc}")
    return SnapshotLoad(
        status,
        f"{status} snapshot ({reason}); moved to {target}; starting with empty local data",
        moved_to=target,
    )


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


class _StatePickler(pickle.Pickler):
    """Pickles moto's objects, recreating what the standard pickler refuses (see the module doc)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()  # nobody waits on it while the server is stopped
        kind = type(obj)
        if kind is _RLOCK_TYPE:
            return threading.RLock, ()
        if kind is _LOCK_TYPE:
            return threading.Lock, ()
        if isinstance(obj, rsa.RSAPrivateKey):
            pem = obj.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _load_private_key, (pem,)
        return NotImplemented
