"""Image-embedding cache in SQLite (WAL), so a re-run over an unchanged library decodes nothing.

Two tables, both per encoder identity (model, weights, input size and resize mode, local branch):
- files: absolute path + size + mtime -> content hash. A stat() finds an unchanged file.
- embeddings: content hash -> global (and local-token) embeddings, float16 bytes. A renamed or
  duplicated file is recognised by its hash and not encoded again.
- videos: content hash + sampling settings -> the sampled frames' times and scene flags; each
  frame's embeddings are rows of `embeddings` under `VIDEO_HASH#frame`. A video is recorded
  last, after all its frames: one interrupted half-way is decoded again.
Embeddings do not depend on the classifier, so changing the vocabulary keeps the cache valid.
Rows are raw float16 arrays checked against their recorded shapes: nothing is unpickled.
One writer (the main process), any number of readers (decode workers); each batch of writes is
one transaction, so a run killed at any moment leaves a consistent cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

import numpy as np
import torch

from lzt.errors import LztError, warn

SCHEMA_VERSION = 1
FILE_NAME = "embeddings.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path BLOB NOT NULL, encoder TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, PRIMARY KEY (path, encoder));
CREATE TABLE IF NOT EXISTS embeddings (
    sha256 TEXT NOT NULL, encoder TEXT NOT NULL, dim INTEGER NOT NULL, tokens INTEGER NOT NULL,
    global BLOB NOT NULL, local BLOB, PRIMARY KEY (sha256, encoder));
CREATE TABLE IF NOT EXISTS videos (
    sha256 TEXT NOT NULL, encoder TEXT NOT NULL, sampling TEXT NOT NULL, frames TEXT NOT NULL,
    duration REAL NOT NULL, PRIMARY KEY (sha256, encoder, sampling));
"""


@dataclass(frozen=True)
class FileIdentity:
    path: bytes  # absolute, as the file system spells it (names need not be valid UTF-8)
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity | None:
        """None for anything but a regular file (folders, FIFOs...: decoding reports those)."""
        stat = os.stat(path)
        if not S_ISREG(stat.st_mode):
            return None
        return cls(os.fsencode(Path(path).absolute()), stat.st_size, stat.st_mtime_ns)


@dataclass
class CachedEmbedding:
    global_features: torch.Tensor  # (D,) float32
    local_features: torch.Tensor | None  # (T, D) float32


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _to_blob(tensor: torch.Tensor) -> bytes:
    return tensor.detach().to(torch.float16).cpu().contiguous().numpy().tobytes()


def _from_blob(blob: bytes, shape: tuple[int, ...]) -> torch.Tensor:
    expected = int(np.prod(shape)) * 2
    if len(blob) != expected:
        raise ValueError("cache row has the wrong size")
    return torch.from_numpy(np.frombuffer(blob, dtype=np.float16).reshape(shape).astype(np.float32))


class EmbeddingCache:
    def __init__(self, folder: Path, encoder_key: str, readonly: bool = False):
        self.path = Path(folder) / FILE_NAME
        self.encoder_key = encoder_key
        self.readonly = readonly
        if readonly:
            uri = f"file:{self.path}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
                self._check_schema()
            except BaseException:
                self.db.close()
                raise

    def _check_schema(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise LztError(
                f"the embedding cache {self.path} was written by a newer lzt (schema {row[0]}, this lzt "
                f"reads {SCHEMA_VERSION}); upgrade lzt, or set `cache` to another folder"
            )

    def close(self) -> None:
        self.db.close()

    # --- reading ----------------------------------------------------------------------------

    def hash_for(self, identity: FileIdentity) -> str | None:
        row = self.db.execute(
            "SELECT sha256 FROM files WHERE path=? AND encoder=? AND size=? AND mtime_ns=?",
            (identity.path, self.encoder_key, identity.size, identity.mtime_ns),
        ).fetchone()
        return row[0] if row else None

    def embedding(self, sha256: str) -> CachedEmbedding | None:
        row = self.db.execute(
            "SELECT dim, tokens, global, local FROM embeddings WHERE sha256=? AND encoder=?",
            (sha256, self.encoder_key),
        ).fetchone()
        if row is None:
            return None
        dim, tokens, global_blob, local_blob = row
        try:
            local = _from_blob(local_blob, (tokens, dim)) if local_blob is not None else None
            return CachedEmbedding(_from_blob(global_blob, (dim,)), local)
        except ValueError:
            return None  # a damaged row is a miss: the file is encoded again and the row replaced

    # --- writing (main process only) ---------------------------------------------------------

    def store(self, rows: list[tuple[FileIdentity, str, torch.Tensor, torch.Tensor | None]]) -> None:
        """(identity, content hash, global (D,), local (T, D) or None) for a batch, in one transaction."""
        if not rows:
            return
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (sha, self.encoder_key, glob.shape[-1], 0 if loc is None else loc.shape[0], _to_blob(glob),
                     None if loc is None else _to_blob(loc))
                    for _, sha, glob, loc in rows
                ],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                [(ident.path, self.encoder_key, ident.size, ident.mtime_ns, sha) for ident, sha, _, _ in rows],
            )


    # --- videos: sampled frames ------------------------------------------------------------------

    def video(self, sha256: str, sampling: str, needs_local: bool) -> CachedVideo | None:
        """A video's sampled frames (times, scene flags, embeddings) for these sampling
        settings, or None when any part is missing (or lacks the per-patch embeddings needed)."""
        row = self.db.execute(
            "SELECT frames, duration FROM videos WHERE sha256=? AND encoder=? AND sampling=?", (sha256, self.encoder_key, sampling),
        ).fetchone()
        if row is None:
            return None
        try:
            frames = json.loads(row[0])
            times = [float(t) for t, _ in frames]
            scenes = [bool(s) for _, s in frames]
        except (ValueError, TypeError):
            return None  # a damaged row is a miss
        embeddings = []
        for index in range(len(times)):
            found = self.embedding(frame_key(sha256, sampling, index))
            if found is None or (needs_local and found.local_features is None):
                return None
            embeddings.append(found)
        return CachedVideo(times, scenes, float(row[1]), embeddings)

    def store_frames(self, sha256: str, sampling: str, first: int, global_features: torch.Tensor, local_features: torch.Tensor | None) -> None:
        """Embeddings of frames `first`, `first + 1`... of a video (one transaction)."""
        rows = [
            (frame_key(sha256, sampling, first + n), self.encoder_key, global_features.shape[-1],
             0 if local_features is None else local_features.shape[1], _to_blob(global_features[n]),
             None if local_features is None else _to_blob(local_features[n]))
            for n in range(global_features.shape[0])
        ]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?)", rows)

    def store_video(self, identity: FileIdentity, sha256: str, sampling: str, times: list[float], scenes: list[bool], duration: float) -> None:
        """Record a video whose frames are all stored, and its file's identity."""
        frames = json.dumps([[round(t, 6), int(s)] for t, s in zip(times, scenes)])
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO videos VALUES (?, ?, ?, ?, ?)", (sha256, self.encoder_key, sampling, frames, duration))
            self.db.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                (identity.path, self.encoder_key, identity.size, identity.mtime_ns, sha256),
            )


@dataclass
class CachedVideo:
    """A video's sampled frames as stored: times (s), scene flags, duration, embeddings."""

    times: list[float]
    scenes: list[bool]
    duration: float
    frames: list[CachedEmbedding]


def frame_key(sha256: str, sampling: str, index: int) -> str:
    """The `embeddings` key of a video's sampled frame: its content hash, a digest of the
    sampling settings, and the frame's index."""
    return f"{sha256}#{hashlib.sha256(sampling.encode()).hexdigest()[:16]}#{index}"


# --- a cache that never sinks a run -----------------------------------------------------------

# What SQLite says about a file that is not (or no longer) a database.
_CORRUPTION = ("file is not a database", "malformed", "not a database")


def _is_corrupt(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and any(text in str(exc).lower() for text in _CORRUPTION)


def _move_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL files) out of the way, keeping it for inspection."""
    target = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(path) + suffix)
        if source.exists():
            os.replace(source, Path(str(target) + suffix))
    return target


def open_cache(folder: str | Path, encoder_key: str) -> EmbeddingCache | None:
    """The writable cache in `folder`, or None with one LztWarning when it cannot be used (a
    read-only or unwritable folder, a full disk, a newer schema). A damaged database is moved
    aside and a fresh one started. The cache is optional: tagging goes on either way."""
    folder = Path(folder)
    try:
        return EmbeddingCache(folder, encoder_key)
    except (sqlite3.Error, OSError, LztError) as exc:
        if not _is_corrupt(exc):
            warn(f"the embedding cache in {folder} cannot be used ({failure_reason(exc)}); tagging without it")
            return None
        try:
            moved = _move_aside(folder / FILE_NAME)
            fresh = EmbeddingCache(folder, encoder_key)
        except (sqlite3.Error, OSError, LztError) as again:
            warn(f"the embedding cache in {folder} is damaged and cannot be replaced ({failure_reason(again)}); tagging without it")
            return None
        warn(f"the embedding cache {folder / FILE_NAME} was damaged ({failure_reason(exc)}); moved it to {moved.name} and started a fresh one")
        return fresh


def failure_reason(exc: BaseException) -> str:
    """One short line about why the cache failed."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
