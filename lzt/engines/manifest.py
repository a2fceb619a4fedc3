"""A run's inputs, listed once into numbered manifest shards under `OUT/_lzt/manifest/`.

Inputs are files and folders (walked like the local engine, in the same sorted order, `.tar`
webdataset shards included), URIs of folders or files on any filesystem pyarrow reaches, and
manifest files (text, one path or URI per line; or Parquet with a `path` column). The listing is
streamed: each shard of `shard_size` entries is written as soon as it is full, so tagging can
start long before 100 million paths are listed, and memory holds one shard at a time. A tar file
is a shard of its own (its images are read in one pass, as webdataset intends).

Shard names are their positions in the listing (`00000042`), so the same inputs give the same
shards on every run: what a re-run finds already written is not tagged again.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from lzt.engines.store import Store, filesystem, is_uri, uri_of
from lzt.errors import UsageError
from lzt.tagging.discovery import DEFAULT_EXCLUDES, MEDIA_EXTENSIONS, discover

MANIFEST_DIR = "_lzt/manifest"
COMPLETE = f"{MANIFEST_DIR}/_COMPLETE"
TAR_SUFFIX = ".tar"
SHARD_EXTENSIONS = MEDIA_EXTENSIONS | {TAR_SUFFIX}  # videos are listed to get their error rows


@dataclass(frozen=True)
class Shard:
    """One unit of work and of output: a list of images, or one tar file of images."""

    index: int
    tar: bool = False

    @property
    def name(self) -> str:
        return f"{self.index:08d}"

    @property
    def manifest_file(self) -> str:
        return f"{MANIFEST_DIR}/{self.name}{TAR_SUFFIX if self.tar else ''}.jsonl"

    @property
    def output_file(self) -> str:
        return f"part-{self.name}.parquet"

    @staticmethod
    def name_of(output_file: str) -> str:
        """`part-00000042.parquet` -> `00000042`."""
        return output_file.removeprefix("part-").removesuffix(".parquet")

    @classmethod
    def from_manifest_file(cls, name: str) -> Shard | None:
        stem = name.removesuffix(".jsonl")
        tar = stem.endswith(TAR_SUFFIX)
        index = stem.removesuffix(TAR_SUFFIX)
        return cls(int(index), tar) if name.endswith(".jsonl") and index.isdigit() else None


def is_tar(entry: str) -> bool:
    return entry.lower().endswith(TAR_SUFFIX)


def iter_sources(
    paths: Sequence[str | os.PathLike], manifest: str | os.PathLike | None = None, exclude: Sequence[str] = (),
    include_hidden: bool = False,
) -> Iterator[str]:
    """Every input entry (image path or URI, or tar shard), streamed in a deterministic order:
    the given paths first, then the manifest's entries."""
    for given in paths:
        text = os.fspath(given)
        if is_uri(text):
            yield from _list_uri(text, exclude, include_hidden)
        else:
            yield from (os.fsdecode(found) for found in discover([text], exclude, include_hidden, SHARD_EXTENSIONS))
    if manifest is not None:
        yield from read_manifest(os.fspath(manifest))


def _list_uri(location: str, exclude: Sequence[str] = (), include_hidden: bool = False) -> Iterator[str]:
    """Image files and tars under a URI (a bucket prefix, a `file://` folder), sorted; a URI of
    one file is that file. Object stores list without a streaming API in pyarrow, so a prefix is
    listed in one call: give a manifest for buckets of many millions of objects."""
    import pyarrow.fs as pafs

    fs, root = filesystem(location)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise UsageError(f"no such file or folder: {location}")
    if info.type == pafs.FileType.File:
        yield location
        return
    found = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    patterns = (*DEFAULT_EXCLUDES, *exclude)
    for item in sorted((f for f in found if f.type == pafs.FileType.File), key=lambda f: f.path):
        parts = item.path[len(root.rstrip("/")) :].strip("/").split("/")  # like the local walk: any hidden or excluded part
        if any((not include_hidden and part.startswith(".")) or any(fnmatch.fnmatch(part, p) for p in patterns) for part in parts):
            continue
        if Path(item.base_name).suffix.lower() in SHARD_EXTENSIONS:
            yield uri_of(location, item.path)


def read_manifest(location: str) -> Iterator[str]:
    """Entries of a manifest file: Parquet (its `path` column) or text (one per line; blank
    lines and lines starting with `#` skipped), read in a stream."""
    fs, path = filesystem(location)
    try:
        handle = fs.open_input_file(path)
    except (FileNotFoundError, OSError) as exc:
        raise UsageError(f"cannot read the manifest {location}: {exc}") from exc
    with handle:
        head = handle.read(4096)
        handle.seek(0)
        if head.startswith(b"PAR1"):
            yield from _parquet_paths(handle, location)
            return
        if b"\x00" in head or head.startswith(b"\x1f\x8b"):  # binary, or gzip: not one path per line
            raise UsageError(f"the manifest {location} is neither text (one path per line) nor Parquet")
        for raw in _text_lines(handle):
            line = raw.strip()
            if line and not line.startswith("#"):
                yield line


def _text_lines(handle: Any) -> Iterator[str]:
    import io

    yield from io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline=None)


def _parquet_paths(handle: Any, location: str) -> Iterator[str]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(handle)
    columns = parquet.schema_arrow.names
    if "path" not in columns:
        raise UsageError(f"the manifest {location} has no 'path' column (its columns: {', '.join(columns) or 'none'})")
    for batch in parquet.iter_batches(columns=["path"], batch_size=65536):
        yield from (value for value in batch.column(0).to_pylist() if value)


def write_manifest(
    store: Store, sources: Iterable[str], shard_size: int, changed: Callable[[Shard], None] | None = None,
) -> Iterator[Shard]:
    """List `sources` into manifest shards, yielding each shard once it is written; the last
    step marks the manifest complete (a re-run then reads it instead of listing again).

    A listing that an interrupted run left unfinished is redone; where a shard now holds other
    entries than before (files were added or removed meanwhile), `changed(shard)` is called
    before it is yielded, so that its old output can be dropped and the shard done again."""
    if shard_size < 1:
        raise UsageError("`shard_size` must be at least 1")
    index = entries = 0
    chunk: list[str] = []

    def publish(items: list[str], tar: bool) -> Shard:
        nonlocal index
        shard = Shard(index, tar)
        content = "".join(json.dumps(item) + "\n" for item in items).encode()
        other_kind = Shard(index, not tar).manifest_file
        before = store.read_bytes(shard.manifest_file) if store.exists(shard.manifest_file) else None
        if store.exists(other_kind):
            store.delete(other_kind)
            before = b""
        if before != content:
            store.write_bytes(shard.manifest_file, content)
            if before is not None and changed is not None:
                changed(shard)
        index += 1
        return shard

    for entry in sources:
        entries += 1
        if is_tar(entry):
            if chunk:
                yield publish(chunk, False)
                chunk = []
            yield publish([entry], True)
            continue
        chunk.append(entry)
        if len(chunk) == shard_size:
            yield publish(chunk, False)
            chunk = []
    if chunk:
        yield publish(chunk, False)
    _drop_beyond(store, index, changed)
    store.write_bytes(COMPLETE, json.dumps({"shards": index, "entries": entries}).encode())


def _drop_beyond(store: Store, count: int, changed: Callable[[Shard], None] | None) -> None:
    """Shards an earlier, longer listing left past the end of this one hold files listed again
    elsewhere (or gone): their manifest and output go, or export would show rows twice."""
    for name in store.names(MANIFEST_DIR):
        shard = Shard.from_manifest_file(name)
        if shard is not None and shard.index >= count:
            store.delete(f"{MANIFEST_DIR}/{name}")
            if changed is not None:
                changed(shard)


def listed_shards(store: Store) -> list[Shard] | None:
    """The shards of a complete manifest, in order; None when the listing never finished."""
    if not store.exists(COMPLETE):
        return None
    count = json.loads(store.read_bytes(COMPLETE))["shards"]
    shards = sorted((s for s in map(Shard.from_manifest_file, store.names(MANIFEST_DIR)) if s is not None), key=lambda s: s.index)
    if len(shards) != count:
        return None  # a damaged manifest is listed again
    return shards


def shard_entries(store: Store, shard: Shard) -> list[str]:
    """The entries of one manifest shard."""
    return [json.loads(line) for line in store.read_bytes(shard.manifest_file).decode().splitlines() if line]
