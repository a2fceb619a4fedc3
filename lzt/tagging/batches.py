"""Decoded batches in discovery order, from worker processes, with cached embeddings looked up
before anything is decoded.

Each DataLoader worker takes whole batches (batch c goes to worker c mod W), so batches come back
in discovery order and memory holds at most `prefetch` batches per worker, whatever the folder size.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generator, Iterable, Iterator

import torch
from PIL import Image

from lzt.config import DecodeOptions
from lzt.model import PreprocessSpec
from lzt.tagging.cache import CachedEmbedding, EmbeddingCache, FileIdentity, content_hash
from lzt.tagging.decoding import DecodeTimeout, decode_image, describe_error, read_batch_jpeg
from lzt.tagging.jpeg import JpegInfo
from lzt.tagging.raw import twin_position
from lzt.tagging.video import is_video


@dataclass
class ImageBatch:
    paths: list[Path]  # every file of this batch, in order
    pixels: torch.Tensor  # (n_ok, 3, S, S) uint8, for the files that were decoded
    ok: list[int]  # positions in `paths` of the rows of `pixels`
    errors: dict[int, str] = field(default_factory=dict)  # position -> reason
    cached: dict[int, CachedEmbedding] = field(default_factory=dict)  # position -> from the cache
    # position -> (file identity, content hash): what to record in the cache for this file
    identities: dict[int, tuple[FileIdentity, str]] = field(default_factory=dict)
    # position -> (file bytes, headers): JPEGs left to the batched decoder (DecodeOptions.decoder)
    jpegs: dict[int, tuple[bytes, JpegInfo]] = field(default_factory=dict)
    # positions of videos, left to the Tagger (their frames are sampled in the main process)
    videos: list[int] = field(default_factory=list)
    # RAW position -> its JPEG twin's position: the RAW takes the JPEG's tags, nothing is decoded
    twins: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CacheSpec:
    """Where decode workers look embeddings up (read-only; the main process writes)."""

    folder: Path
    encoder_key: str
    needs_local: bool  # an entry without per-patch embeddings does not serve the local branch


@dataclass
class CacheLookup:
    cache: EmbeddingCache
    needs_local: bool

    def find(self, path: Path) -> tuple[CachedEmbedding | None, tuple[FileIdentity, str] | None]:
        """Unchanged file (path, size, mtime) or same content under another name -> its embedding;
        and the identity to record when the file is encoded now."""
        try:
            identity = FileIdentity.of(path)
            if identity is None:
                return None, None
            sha = self.cache.hash_for(identity)
            known_path = sha is not None
            sha = sha or content_hash(path)
            found = self.cache.embedding(sha)
        except (OSError, sqlite3.Error):
            return None, None  # decoding reports what is wrong with the file; the cache is optional
        if found is not None and (found.local_features is not None or not self.needs_local):
            return found, None if known_path else (identity, sha)
        return None, (identity, sha)


def decode_batch(
    paths: list[Path], spec: PreprocessSpec, options: DecodeOptions = DecodeOptions(), lookup: CacheLookup | None = None,
    batched_jpegs: bool = False,
) -> ImageBatch:
    """Decode a batch's files (Pillow; RAWs through LibRaw), or with `batched_jpegs` only read
    the JPEGs that the batched decoder takes (ImageBatch.jpegs), leaving their decoding to the
    model's device. Videos and RAWs whose JPEG twin precedes them (and was readable so far)
    are only marked (ImageBatch.videos, ImageBatch.twins)."""
    tensors, ok, errors, cached, identities, jpegs = [], [], {}, {}, {}, {}
    videos, twins = [], {}
    for position, path in enumerate(paths):
        if is_video(path):
            videos.append(position)
            continue
        twin = twin_position(paths, position)
        if twin is not None and twin not in errors:
            twins[position] = twin
            continue
        if lookup is not None:
            found, identity = lookup.find(path)
            if identity is not None:
                identities[position] = identity
            if found is not None:
                cached[position] = found
                continue
        try:
            read = read_batch_jpeg(path, options) if batched_jpegs else None
            if read is not None:
                jpegs[position] = read
                continue
            tensors.append(decode_image(path, spec, options))
            ok.append(position)
        except (Exception, DecodeTimeout) as exc:  # any failure of any decoder is this file's problem only
            errors[position] = describe_error(exc)
            identities.pop(position, None)
    size = spec.image_size
    pixels = torch.stack(tensors) if tensors else torch.empty(0, 3, size, size, dtype=torch.uint8)
    return ImageBatch(paths, pixels, ok, errors, cached, identities, jpegs, videos, twins)


def _worker_lookup(spec: CacheSpec | None) -> CacheLookup | None:
    """A read-only connection of this worker process, or None: the cache is optional."""
    if spec is None:
        return None
    try:
        return CacheLookup(EmbeddingCache(spec.folder, spec.encoder_key, readonly=True), spec.needs_local)
    except (sqlite3.Error, OSError):
        return None


class _BatchStream(torch.utils.data.IterableDataset):
    def __init__(
        self, path_batches: Iterable[list[Path]], spec: PreprocessSpec, options: DecodeOptions, cache: CacheSpec | None,
        batched_jpegs: bool,
    ):
        self.path_batches = path_batches
        self.spec = spec
        self.options = options
        self.cache = cache
        self.batched_jpegs = batched_jpegs

    def __iter__(self) -> Iterator[ImageBatch]:
        info = torch.utils.data.get_worker_info()
        workers, me = (info.num_workers, info.id) if info else (1, 0)
        lookup = _worker_lookup(self.cache)
        try:
            for index, paths in enumerate(self.path_batches):
                if index % workers == me:
                    yield decode_batch(paths, self.spec, self.options, lookup, self.batched_jpegs)
        finally:
            if lookup is not None:
                lookup.cache.close()


def _whole_batch(batch: Any) -> Any:
    """The DataLoader's collate step: a worker already returns a whole batch (a module-level
    function, so that workers started by spawn can receive it)."""
    return batch


def _set_pillow_limit(limit: int | None, worker_id: int) -> None:
    """In each worker: the Pillow pixel limit of the process that started it."""
    Image.MAX_IMAGE_PIXELS = limit


def default_workers() -> int:
    """One decoding process per core, at most 16."""
    return min(os.cpu_count() or 1, 16)


def iter_batches(
    path_batches: Iterable[list[Path]],
    spec: PreprocessSpec,
    workers: int,
    options: DecodeOptions = DecodeOptions(),
    cache: EmbeddingCache | None = None,
    needs_local: bool = False,
    pin_memory: bool = False,
    batched_jpegs: bool = False,
) -> Generator[ImageBatch, None, None]:
    """Decoded batches, in order. `path_batches` must be re-iterable (each worker walks it).
    With `workers` 0 decoding runs here, looking up `cache` directly; worker processes open
    their own read-only connection to it. `batched_jpegs`: see decode_batch. Closing the iterator
    stops the workers at once."""
    if workers <= 0:
        lookup = CacheLookup(cache, needs_local) if cache is not None else None
        for paths in path_batches:
            yield decode_batch(paths, spec, options, lookup, batched_jpegs)
        return
    cache_spec = CacheSpec(cache.path.parent, cache.encoder_key, needs_local) if cache is not None else None
    loader = torch.utils.data.DataLoader(
        _BatchStream(path_batches, spec, options, cache_spec, batched_jpegs),
        batch_size=None,
        num_workers=workers,
        prefetch_factor=2,
        pin_memory=pin_memory,
        persistent_workers=False,
        collate_fn=_whole_batch,
        # Workers started by spawn (macOS, Windows) do not inherit the host's Pillow limit.
        worker_init_fn=functools.partial(_set_pillow_limit, Image.MAX_IMAGE_PIXELS),
    )
    iterator = iter(loader)
    try:
        yield from iterator
    finally:
        # A caller that stops early (`head`, an exception, Tagger.close) must not leave decode
        # processes behind until garbage collection gets to the iterator.
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
