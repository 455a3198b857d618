"""The embedded engine's vectors: a float32 matrix and its ids, kept in one file of the index directory
(or in memory), searched by exact cosine similarity.

Locally one process writes (the event pump's, which also holds the tantivy writer) while the API process
reads. A write replaces the whole file atomically (a temporary file, then ``os.replace``), so a reader never
sees half a file; before each search a reader checks whether the file is another one than it loaded
(inode, modification time, size) and loads it again if so, as the tantivy index is reloaded. Rewriting
the whole matrix costs O(vectors x dimension) per write: a few milliseconds for a local stack, 40 MB for
10,000 consultants at 1,024 dimensions. Production searches OpenSearch, never this.

Vectors are comparable only within one model and dimension (``vector_space``): a file written for another
space is treated as empty, and replaced at the next write.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

FILE_NAME = "vectors.npz"
# The first batch of ids offered to ``keep`` is this many times k; each further one is twice the last.
FIRST_BATCH_FACTOR = 4

Matrix = npt.NDArray[np.float32]


class VectorStore:
    def __init__(self, directory: Path | None, space: str) -> None:
        self._path = directory / FILE_NAME if directory is not None else None
        self._space = space
        self._ids: list[str] = []
        self._matrix: Matrix = np.zeros((0, 0), dtype=np.float32)  # unit rows: cosine is a dot product
        self._loaded: tuple[int, int, int] | None = None  # the identity of the file in memory
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._ids)

    def put(self, changes: Mapping[str, Sequence[float] | None]) -> None:
        """Sets each id's vector, or removes it (None), in one write. Nothing is written when nothing changes."""
        with self._lock:
            self._refresh()
            rows = {user_id: row for row, user_id in enumerate(self._ids)}
            removed = {user_id for user_id, vector in changes.items() if vector is None and user_id in rows}
            added = {user_id: _unit(vector) for user_id, vector in changes.items() if vector is not None}
            if not removed and not added:
                return
            dimensions = {len(v) for v in added.values()} | ({self._matrix.shape[1]} if self._ids else set())
            if len(dimensions) > 1:
                raise ValueError(f"vectors of one space must have one dimension, got {sorted(dimensions)}")
            kept = [row for user_id, row in rows.items() if user_id not in removed and user_id not in added]
            ids = [self._ids[row] for row in kept] + list(added)
            parts = [self._matrix[kept]] if kept else []
            parts += [np.stack(list(added.values()))] if added else []
            matrix = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
            self._save(ids, matrix)

    def replace(self, vectors: Mapping[str, Sequence[float]]) -> None:
        """Exactly these vectors from now on (a rebuild), in one write."""
        with self._lock:
            if not vectors:
                self._save([], np.zeros((0, 0), dtype=np.float32))
                return
            ids = list(vectors)
            self._save(ids, np.stack([_unit(vectors[i]) for i in ids]))

    def nearest(self, vector: Sequence[float], k: int, keep: Callable[[Sequence[str]], Collection[str]]) -> list[tuple[str, float]]:
        """The ``k`` ids most similar to ``vector`` among those ``keep`` lets through, with their cosine
        similarity, best first. ``keep`` is asked about ids in order of similarity, in growing batches: a
        filter that lets few through costs a few rounds, not one question per id."""
        with self._lock:
            self._refresh()
            ids, matrix = self._ids, self._matrix
        if k <= 0 or not ids:
            return []
        query = _unit(vector)
        if query.shape[0] != matrix.shape[1]:
            raise ValueError(f"a query of dimension {query.shape[0]} against vectors of dimension {matrix.shape[1]}")
        similarity = matrix @ query
        # Stable: equal similarities keep the file's order, the same in every process reading it.
        order = np.argsort(-similarity, kind="stable")
        found: list[tuple[str, float]] = []
        start, batch = 0, max(FIRST_BATCH_FACTOR * k, 32)
        while len(found) < k and start < len(order):
            rows = order[start : start + batch]
            allowed = set(keep([ids[row] for row in rows]))
            found += [(ids[row], float(similarity[row])) for row in rows if ids[row] in allowed]
            start, batch = start + batch, batch * 2
        return found[:k]

    def _refresh(self) -> None:
        """Loads the file again when it is another than the one in memory (written by another process)."""
        if self._path is None:
            return
        try:
            handle = self._path.open("rb")
        except FileNotFoundError:
            if self._loaded is not None:
                self._ids, self._matrix, self._loaded = [], np.zeros((0, 0), dtype=np.float32), None
            return
        with handle:
            # The identity of the very file opened, so that a replacement between a stat and the read
            # cannot pair one file's identity with another's content.
            stat = os.fstat(handle.fileno())
            identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if identity == self._loaded:
                return
            with np.load(handle, allow_pickle=False) as data:
                same_space = str(data["space"]) == self._space
                self._ids = [str(i) for i in data["ids"]] if same_space else []
                self._matrix = data["matrix"].astype(np.float32, copy=False) if same_space else np.zeros((0, 0), dtype=np.float32)
        self._loaded = identity

    def _save(self, ids: list[str], matrix: Matrix) -> None:
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=".vectors-", suffix=".tmp")
            try:
                with os.fdopen(descriptor, "wb") as out:
                    np.savez(out, ids=np.array(ids, dtype=str), matrix=matrix, space=np.array(self._space))
                    out.flush()
                    os.fsync(out.fileno())
                # Each file strictly newer than the last: coarse clocks and a reused inode number must not
                # let a reader take a new file for the one it has.
                stamp = max(time.time_ns(), (self._loaded[1] + 1) if self._loaded else 0)
                os.utime(temporary, ns=(stamp, stamp))
                os.replace(temporary, self._path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            stat = self._path.stat()
            self._loaded = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        self._ids, self._matrix = ids, matrix


def _unit(vector: Sequence[float]) -> npt.NDArray[np.float32]:
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("a vector is a non-empty sequence of numbers")
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array  # a zero vector is similar to nothing
