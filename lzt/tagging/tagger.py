"""The Tagger: a CLIP model and a classifier, ready to tag files, images in memory or
embeddings you already have. `lzt tag`, `lzt eval` and any other client use this one class.

    tagger = Tagger.load("coco.lzt")            # or Tagger.load() for the built-in `everyday`
    for record in tagger.tag(["photos/"]):      # streamed, bounded memory, one record per file
        print(record.path, record.tags)
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from lzt.classifier import Classifier, default_classifier, load_classifier
from lzt.config import DEFAULT_BATCH_SIZE, DecodeOptions, KeywordTree, ScoringConfig, Selection, VideoOptions, keyword_tree
from lzt.errors import InputError, UsageError, warn
from lzt.model import ClipEncoder, InputConfig, load_encoder
from lzt.model.loading import PRETRAINED_ENV
from lzt.progress import Progress, logger, no_progress
from lzt.record import Record, Segment
from lzt.tagging.batches import ImageBatch, default_workers, iter_batches
from lzt.tagging.cache import CachedVideo, EmbeddingCache, FileIdentity, content_hash, failure_reason, open_cache
from lzt.tagging.decoding import DecodeError, DecodeTimeout, check_file, decode_jpeg_rows, describe_error, merge_rows, prepare_image
from lzt.tagging.discovery import PathBatches
from lzt.tagging.overlap import DeviceOverlap
from lzt.tagging.scoring import Scorer
from lzt.tagging.selection import select_tags, tags_from_top, top_scores
from lzt.tagging.video import FrameSampler, VideoDecodeError, VideoSummary, prefetched


@dataclass
class Embeddings:
    """Unit image embeddings: global (B, D) and, with the local branch, per-patch (B, T, D)."""

    global_embeddings: torch.Tensor
    local_embeddings: torch.Tensor | None = None


@dataclass
class _Launched:
    """A batch whose device work is queued: what the host reads once `done` has passed."""

    batch: ImageBatch
    positions: list[int]  # the batch's readable files, in order
    values: torch.Tensor | None = None  # (B, k) top-k scores, host
    indices: torch.Tensor | None = None  # (B, k) their label indices, host
    scores: torch.Tensor | None = None  # (B, C) every score, host, when kept
    # positions, global (N, D) and per-row local embeddings for the cache, host
    to_store: tuple[list[int], torch.Tensor, list[torch.Tensor | None]] | None = None
    done: torch.cuda.Event | None = None


class Tagger:
    """Tags images with a classifier's labels. Create it with `Tagger.load(...)` (or from an
    encoder and a classifier you already hold); use it as a context manager, or call close(),
    to stop decoding processes of unfinished runs and close the embedding cache."""

    def __init__(
        self,
        encoder: ClipEncoder,
        classifier: Classifier,
        scoring: ScoringConfig = ScoringConfig(),
        cache: str | Path | None = None,
    ):
        classifier.check_compatible(encoder.name, encoder.embed_dim)
        _check_activation(classifier, encoder)
        self.encoder = encoder
        self.classifier = classifier
        self.scoring = scoring
        self._scorer = Scorer(encoder, classifier, scoring)
        self._cache: EmbeddingCache | None = open_cache(cache, encoder.identity) if cache is not None else None
        self._runs: weakref.WeakSet[Generator] = weakref.WeakSet()

    @classmethod
    def load(
        cls,
        classifier: str | Path | Classifier | None = None,
        *,
        model: str | None = None,
        pretrained: str | None = None,
        device: str | torch.device = "auto",
        scoring: ScoringConfig = ScoringConfig(),
        input: InputConfig = InputConfig(),
        cache: str | Path | None = None,
        progress: Progress = no_progress,
    ) -> Tagger:
        """A classifier (file or object) and the CLIP model it was built for.

        classifier: None for the built-in `everyday` classifier, built once for `model` (default
            $LZT_MODEL, else ViT-B-16) and cached under the user cache folder.
        model, pretrained: default to the classifier's own (pretrained: $LZT_PRETRAINED first);
            another model is refused, other weights are allowed with a warning.
        device: auto (CUDA, else Apple's MPS, else the CPU), cpu, cuda, cuda:N or mps; a device that is not there is an error.
        scoring: mapping, local branch and calibration (ScoringConfig).
        input: input size and resize mode (InputConfig).
        cache: a folder for the embedding cache (None, the default here: no cache; the `lzt`
            command uses the user cache folder unless --no-cache). A cache that cannot be used
            gives one LztWarning and tagging goes on without it.
        progress: reports building the default classifier (see lzt.progress)."""
        if classifier is None:
            encoder = load_encoder(model, pretrained, device)
            logger.info(encoder.describe())  # before a first build of the default, which takes a while
            loaded = default_classifier(encoder, progress=progress)
        else:
            loaded = classifier if isinstance(classifier, Classifier) else load_classifier(classifier)
            model = model or loaded.model
            loaded.check_compatible(model, loaded.embed_dim)  # refuse before loading a wrong model
            if pretrained is None:  # the weights the classifier was built with, unless told otherwise
                pretrained = os.environ.get(PRETRAINED_ENV) or loaded.pretrained
            encoder = load_encoder(model, pretrained, device)
            if encoder.pretrained_id != loaded.pretrained:
                warn(
                    f"the classifier was trained with {loaded.model}/{loaded.pretrained} text embeddings; "
                    f"images are encoded with {encoder.pretrained_id} weights"
                )
            logger.info(encoder.describe())
        encoder.set_input(input)
        return cls(encoder, loaded, scoring, cache)

    # --- what it is ---------------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        """The classifier's labels: the columns of every score tensor."""
        return self.classifier.labels

    def keyword_tree(self, selection: Selection = Selection(), lang: str | None = None) -> KeywordTree:
        """Where each label sits in the classifier's keyword tree (its vocabulary's `[sections]`),
        in the names `selection` writes, and with `lang` (a built-in vocabulary's language) the
        parents' names in that language: OutputOptions' `tree` for hierarchical XMP keywords."""
        from lzt.vocab.translations import translated_parents

        parents = self.classifier.parents
        return keyword_tree(parents, selection, translated_parents(self.labels, lang) if lang and parents else None)

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self.encoder.device

    @property
    def uses_local_branch(self) -> bool:
        """Whether scores include CoMC's local branch (asked for, and the tower has one)."""
        return self._scorer.local

    @property
    def cache(self) -> EmbeddingCache | None:
        """The embedding cache in use; None without one, or after it failed and was dropped."""
        return self._cache

    # --- files ------------------------------------------------------------------------------

    def tag(
        self,
        paths: str | os.PathLike | Iterable[str | os.PathLike],
        selection: Selection = Selection(),
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
        decoding: DecodeOptions = DecodeOptions(),
        exclude: Sequence[str] = (),
        include_hidden: bool = False,
        keep_scores: bool = False,
        calibrate: bool = True,
        video: VideoOptions = VideoOptions(),
    ) -> Generator[Record, None, None]:
        """One Record per image or video file under `paths` (files and folders, searched
        recursively in a sorted, deterministic order), streamed in that order with bounded
        memory. A file that cannot be read (missing, broken, not an image) gets a record with its
        `error`; the run goes on. RAW files are tagged from their embedded previews, and a RAW
        beside a same-name JPEG (its twin, listed right after it) takes that JPEG's tags
        (Record.tagged_from); videos are tagged as `tag_video` does (`video`: its options).

        workers: decoding processes (None: one per core, at most 16; 0: decode in this process).
        exclude: glob patterns of file or folder names to skip (not labels: see
            Selection.exclude); include_hidden: also search hidden files and folders.
        keep_scores: attach every label's score to each record (Record.scores).
        calibrate: False gives scores before calibration (for calibrating a whole set at once)."""
        batches = PathBatches(_path_list(paths), _checked_batch_size(batch_size), exclude, include_hidden)
        return self._run(batches, selection, workers, decoding, keep_scores, calibrate, video)

    def tag_files(
        self,
        files: Iterable[str | os.PathLike],
        selection: Selection = Selection(),
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
        decoding: DecodeOptions = DecodeOptions(),
        keep_scores: bool = False,
        calibrate: bool = True,
        video: VideoOptions = VideoOptions(),
    ) -> Generator[Record, None, None]:
        """Like `tag`, for a list of files taken as given (a dataset, a manifest): exactly one
        record per entry, in order, nothing searched or skipped (a folder is an error record)."""
        batches = PathBatches(_path_list(files), _checked_batch_size(batch_size), search=False)
        return self._run(batches, selection, workers, decoding, keep_scores, calibrate, video)

    def _run(
        self, path_batches: PathBatches, selection: Selection, workers: int | None, decoding: DecodeOptions,
        keep_scores: bool, calibrate: bool, video: VideoOptions,
    ) -> Generator[Record, None, None]:
        selection.check(self.labels)
        batches = self._batches(path_batches, workers, decoding)
        run = self._records(batches, selection, keep_scores, calibrate, decoding, _VideoRun(video, path_batches.batch_size))
        self._runs.add(run)
        return run

    def _batches(self, path_batches: PathBatches, workers: int | None, decoding: DecodeOptions) -> Generator[ImageBatch, None, None]:
        if workers is not None and workers < 0:
            raise UsageError("`workers` must be 0 or more")
        return iter_batches(
            path_batches, self.encoder.preprocess, default_workers() if workers is None else workers, decoding,
            cache=self._cache, needs_local=self._scorer.local, pin_memory=self.device.type == "cuda",
            batched_jpegs=self.decodes_jpegs_in_batches(decoding),
        )

    def embed_files(
        self,
        files: Iterable[str | os.PathLike],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
        decoding: DecodeOptions = DecodeOptions(),
    ) -> Generator[tuple[Path, torch.Tensor | str], None, None]:
        """Like `tag_files`, without scoring: one (file, result) per entry, in order, where result
        is the file's unit global embedding (D,) on the CPU, as `tag` scores it (rounded as the
        embedding cache stores it), or the one-line reason the file could not be read. Uses and
        fills the embedding cache like `tag`."""
        batches = self._batches(PathBatches(_path_list(files), _checked_batch_size(batch_size), search=False), workers, decoding)
        run = self._embedded(batches, decoding)
        self._runs.add(run)
        return run

    def _embedded(
        self, batches: Generator[ImageBatch, None, None], decoding: DecodeOptions,
    ) -> Generator[tuple[Path, torch.Tensor | str], None, None]:
        overlap = DeviceOverlap(self.device)  # the decoding stream; no batch is kept in flight here
        try:
            for batch in batches:
                self._decode_jpegs(batch, decoding, overlap)
                positions, global_features, _, rows_local = self._batch_embeddings(batch)
                host = global_features.float().cpu()
                rows = dict(zip(positions, host))
                if self._cache is not None:
                    self._store([
                        (*batch.identities[p], host[n], None if (local := rows_local[n]) is None else local.cpu())
                        for n, p in enumerate(positions) if p in batch.identities
                    ])
                for position, path in enumerate(batch.paths):
                    yield path, rows[position] if position in rows else batch.errors.get(position, "not read")
        finally:
            batches.close()

    def decodes_jpegs_in_batches(self, decoding: DecodeOptions = DecodeOptions()) -> bool:
        """Whether `tag` leaves baseline JPEGs to torchvision's batched decoder on this tagger's
        device (`DecodeOptions.decoder` gpu, or auto on CUDA) rather than to Pillow."""
        return decoding.batched_on(self.device.type)

    def _records(
        self, batches: Generator[ImageBatch, None, None], selection: Selection, keep_scores: bool, calibrate: bool,
        decoding: DecodeOptions, videos: _VideoRun,
    ) -> Generator[Record, None, None]:
        # One batch in flight: batch n+1 is decoded and queued on the device before the host
        # waits for batch n's results, so on CUDA the device never idles while the host builds
        # records, writes the cache or reads the next batch. On a CPU the same steps run in turn.
        overlap = DeviceOverlap(self.device)
        pending: _Launched | None = None
        try:
            for batch in batches:
                launched = self._launch(batch, selection, keep_scores, calibrate, decoding, overlap)
                if pending is not None:
                    yield from self._collect(pending, selection, keep_scores, calibrate, decoding, videos)
                pending = launched
            if pending is not None:
                yield from self._collect(pending, selection, keep_scores, calibrate, decoding, videos)
        finally:
            batches.close()

    def _launch(
        self, batch: ImageBatch, selection: Selection, keep_scores: bool, calibrate: bool, decoding: DecodeOptions,
        overlap: DeviceOverlap,
    ) -> _Launched:
        """Queue a batch's decoding, encoding, mapping, scoring and top-k on the device, and the
        copies of what the host needs (top-k, scores if kept, fresh embeddings for the cache)."""
        self._decode_jpegs(batch, decoding, overlap)
        positions, global_features, tokens, rows_local = self._batch_embeddings(batch)
        launched = _Launched(batch, positions)
        if positions:
            scores = self._scorer.score(global_features, tokens, calibrated=calibrate)
            values, indices = top_scores(scores, self.labels, selection)
            launched.values, launched.indices = overlap.to_host(values), overlap.to_host(indices)
            if keep_scores:
                launched.scores = overlap.to_host(scores.float())
            # New files, and known content under a new name, go to the cache.
            to_store = [n for n, position in enumerate(positions) if position in batch.identities]
            if to_store and self._cache is not None:
                rows = torch.tensor(to_store, device=global_features.device)
                launched.to_store = (
                    [positions[n] for n in to_store],
                    overlap.to_host(global_features[rows]),
                    [None if (row := rows_local[n]) is None else overlap.to_host(row) for n in to_store],
                )
        launched.done = overlap.mark()
        return launched

    def _collect(
        self, launched: _Launched, selection: Selection, keep_scores: bool, calibrate: bool, decoding: DecodeOptions,
        videos: _VideoRun,
    ) -> Iterator[Record]:
        """Wait for a launched batch alone, store its new embeddings, and yield its records: a
        RAW twin's from its JPEG's, a video's by tagging it when its turn comes (tag_video), so
        that the records before it are out first."""
        DeviceOverlap.wait(launched.done)
        batch, positions = launched.batch, launched.positions
        tags: dict[int, list[tuple[str, float]]] = {}
        all_scores: dict[int, torch.Tensor] = {}
        if launched.values is not None and launched.indices is not None:
            tags = dict(zip(positions, tags_from_top(launched.values, launched.indices, self.labels, selection)))
            if launched.scores is not None:
                all_scores = dict(zip(positions, launched.scores))
        if launched.to_store is not None:
            store_positions, store_global, store_local = launched.to_store
            self._store([(*batch.identities[p], store_global[n], store_local[n]) for n, p in enumerate(store_positions)])
        for position, path in enumerate(batch.paths):
            if position in batch.errors:
                yield Record(path, error=batch.errors[position])
            elif position in batch.twins:
                yield _twin_record(batch, position, tags, all_scores)
            elif position in batch.videos:  # its frames go through the same encoder now, in batches of its own
                yield self._video_record(
                    path, selection, videos.options, videos.batch_size, decoding, keep_scores=keep_scores, calibrate=calibrate,
                )
            else:
                yield Record(path, tags=tags[position], scores=all_scores.get(position))

    def _decode_jpegs(self, batch: ImageBatch, decoding: DecodeOptions, overlap: DeviceOverlap) -> None:
        """The batch's JPEGs left to the batched decoder, decoded on this tagger's device (on its
        own stream on CUDA) and merged into `batch.pixels` and `batch.ok` in file order (see
        decode_jpeg_rows)."""
        if not batch.jpegs:
            return
        names = {position: batch.paths[position].name for position in batch.jpegs}
        with overlap.decoding():
            decoded, pixels, errors = decode_jpeg_rows(batch.jpegs, names, self.encoder.preprocess, decoding, self.device)
        overlap.hand_over(pixels)
        for position, reason in errors.items():
            batch.errors[position] = reason
            batch.identities.pop(position, None)
        batch.ok, batch.pixels = merge_rows(batch.ok, batch.pixels, decoded, pixels)
        batch.jpegs = {}

    def _batch_embeddings(self, batch: ImageBatch) -> tuple[list[int], torch.Tensor, torch.Tensor | None, list[torch.Tensor | None]]:
        """Embeddings of every readable file of a batch, freshly encoded or from the cache, in
        order: positions, global (N, D), stacked tokens for the local branch, and each row's
        tokens as found (_collect stores the new ones once the device has made them)."""
        positions = sorted([*batch.ok, *batch.cached])
        if not positions:
            return [], torch.empty(0), None, []
        fresh_global, fresh_local = self._scorer.embed(batch.pixels) if batch.ok else (torch.empty(0), None)
        fresh_index = {position: i for i, position in enumerate(batch.ok)}
        rows_global: list[torch.Tensor] = []
        rows_local: list[torch.Tensor | None] = []
        for position in positions:
            if position in fresh_index:
                i = fresh_index[position]
                rows_global.append(fresh_global[i])
                rows_local.append(None if fresh_local is None else fresh_local[i])
            else:
                found = batch.cached[position]
                rows_global.append(found.global_features.to(self.device))
                rows_local.append(None if found.local_features is None else found.local_features.to(self.device))
        tokens = [t for t in rows_local if t is not None]
        local = torch.stack(tokens) if self._scorer.local and len(tokens) == len(rows_local) else None
        return positions, torch.stack(rows_global), local, rows_local

    # --- videos -----------------------------------------------------------------------------

    def tag_video(
        self,
        path: str | os.PathLike,
        selection: Selection = Selection(),
        *,
        video: VideoOptions = VideoOptions(),
        batch_size: int = DEFAULT_BATCH_SIZE,
        decoding: DecodeOptions = DecodeOptions(),
        keep_scores: bool = False,
        calibrate: bool = True,
    ) -> Record:
        """One Record for a video file (mp4, mov, mkv, webm, avi; the `video` extra): frames
        sampled every `video.every` seconds and at scene changes, decoded at reduced size on a
        thread of their own and encoded in batches of `batch_size`; the video's tags aggregate
        the frames' scores (`video.aggregate`), and `segments` (from one scene change to the
        next, at most `video.max_segment` long) carry their own tags and times. Memory stays
        bounded whatever the video's length. With the embedding cache, the sampled frames'
        embeddings are stored, and a re-run (even with other aggregation or segment settings,
        or another classifier) decodes nothing. A video that cannot be read (truncated, no
        video stream, no decoder for its codec, stalled for `decoding.decode_timeout`
        seconds) is a record with its `error`. `keep_scores`: the video's aggregated scores."""
        selection.check(self.labels)
        return self._video_record(
            Path(os.fsdecode(path)), selection, video, _checked_batch_size(batch_size), decoding, keep_scores=keep_scores,
            calibrate=calibrate,
        )

    def _video_record(
        self, path: Path, selection: Selection, video: VideoOptions, batch_size: int, decoding: DecodeOptions, *,
        keep_scores: bool, calibrate: bool,
    ) -> Record:
        try:
            scores, segments = self._video_scores(path, video, batch_size, decoding, calibrate)
        except VideoDecodeError as exc:  # this video's own failure
            return Record(path, error=str(exc))
        except (DecodeError, DecodeTimeout, OSError) as exc:  # not a readable file
            return Record(path, error=describe_error(exc))
        tags = select_tags(scores[None], self.labels, selection)[0]
        segment_tags = select_tags(torch.stack([s for _, _, s in segments]), self.labels, selection)
        return Record(
            path, tags=tags, scores=scores.float().cpu() if keep_scores else None,
            segments=[Segment(start, end, chosen) for (start, end, _), chosen in zip(segments, segment_tags)],
        )

    def _video_scores(
        self, path: Path, video: VideoOptions, batch_size: int, decoding: DecodeOptions, calibrate: bool,
    ) -> tuple[torch.Tensor, list[tuple[float, float, torch.Tensor]]]:
        """The video's aggregated scores (C,) and its segments, from the cache or by decoding."""
        check_file(path)
        summary = VideoSummary(video)
        key = self._video_key(path)
        cached = self._cached_video(key[1], video) if key is not None else None
        if cached is not None:
            for start in range(0, len(cached.times), batch_size):
                frames = cached.frames[start : start + batch_size]
                global_features = torch.stack([f.global_features for f in frames]).to(self.device)
                local = [f.local_features for f in frames if f.local_features is not None]
                tokens = torch.stack(local).to(self.device) if self._scorer.local and len(local) == len(frames) else None
                scores = self._scorer.score(global_features, tokens, calibrated=calibrate)
                summary.add(cached.times[start : start + batch_size], cached.scenes[start : start + batch_size], scores)
            return summary.finish(cached.duration)
        sampler = FrameSampler(path, self.encoder.preprocess, video, decoding, chunk=batch_size)
        times: list[float] = []
        scenes: list[bool] = []
        for chunk in prefetched(sampler, decoding.decode_timeout):
            global_features, tokens = self._scorer.embed(chunk.pixels)
            summary.add(chunk.times, chunk.scenes, self._scorer.score(global_features, tokens, calibrated=calibrate))
            if key is not None and self._cache is not None:
                self._cache_write(self._cache.store_frames, key[1], video.sampling_key, len(times), global_features.cpu(),
                                  None if tokens is None else tokens.cpu())
            times.extend(chunk.times)
            scenes.extend(chunk.scenes)
        duration = sampler.duration or 0.0
        if key is not None and self._cache is not None:
            self._cache_write(self._cache.store_video, key[0], key[1], video.sampling_key, times, scenes, duration)
        return summary.finish(duration)

    def _video_key(self, path: Path) -> tuple[FileIdentity, str] | None:
        """(identity, content hash) of a video when the cache is on (hashed once per version of
        the file; the files table remembers it)."""
        if self._cache is None:
            return None
        try:
            identity = FileIdentity.of(path)
            if identity is None:
                return None
            return identity, self._cache.hash_for(identity) or content_hash(path)
        except (OSError, sqlite3.Error):
            return None  # decoding reports what is wrong with the file; the cache is optional

    def _cached_video(self, sha: str, video: VideoOptions) -> CachedVideo | None:
        if self._cache is None:
            return None
        try:
            return self._cache.video(sha, video.sampling_key, self._scorer.local)
        except sqlite3.Error:
            return None

    def _cache_write(self, write: Callable[..., None], *args: object) -> None:
        try:
            write(*args)
        except (sqlite3.Error, OSError) as exc:  # as _store: the cache is optional
            if self._cache is not None:
                warn(f"the embedding cache {self._cache.path} stopped working ({failure_reason(exc)}); tagging goes on without it")
            self._close_cache()

    def _store(self, rows: list) -> None:
        if self._cache is None or not rows:
            return
        try:
            self._cache.store(rows)
        except (sqlite3.Error, OSError) as exc:  # a full disk, a damaged file: the cache is optional
            warn(f"the embedding cache {self._cache.path} stopped working ({failure_reason(exc)}); tagging goes on without it")
            self._close_cache()

    # --- images and embeddings in memory ----------------------------------------------------

    def embed_pixels(self, pixels: torch.Tensor) -> Embeddings:
        """uint8 (B, 3, S, S) model input (S = the input size) -> Embeddings."""
        global_features, tokens = self._scorer.embed(self.encoder.check_pixels(pixels))
        return Embeddings(global_features, tokens)

    def embed(self, images: object) -> Embeddings:
        """PIL images or uint8 arrays ((H, W, 3) RGB or (H, W) grey), or one of them -> Embeddings."""
        return self.embed_pixels(self._pixels(images))

    def _pixels(self, images: object) -> torch.Tensor:
        if isinstance(images, Image.Image):  # one image
            images = [images]
        elif isinstance(images, (torch.Tensor, np.ndarray)):  # one array holding a batch of images
            batch = images if isinstance(images, torch.Tensor) else torch.from_numpy(images)
            if batch.ndim != 4:
                raise InputError(f"expected a list of images or a (batch, height, width, 3) uint8 array, got shape {tuple(batch.shape)}")
            images = list(batch)
        if not isinstance(images, Sequence):
            raise InputError(f"expected a PIL image, a list of images or a uint8 array, got {type(images).__name__}")
        if len(images) == 0:
            raise InputError("expected at least one image, got an empty batch")
        return torch.stack([prepare_image(image, self.encoder.preprocess) for image in images])

    def score_embeddings(
        self, global_embeddings: torch.Tensor, local_embeddings: torch.Tensor | None = None, *, normalize: bool = True,
    ) -> torch.Tensor:
        """Embeddings you already have (from this model and weights) -> (B, C) scores, mapped,
        fused and calibrated like `tag`'s. Without `local_embeddings` only the global branch
        scores (the local branch needs per-patch embeddings).

        normalize: scale rows to unit length first. False for embeddings as lzt itself returns
        and stores them (`embed`, Parquet shards: unit rows rounded to float16), which `tag`
        scores as they are: the scores then match `tag`'s to the last digit."""
        dim = self.classifier.embed_dim
        if not isinstance(global_embeddings, torch.Tensor) or global_embeddings.ndim != 2 or global_embeddings.shape[1] != dim:
            shape = tuple(global_embeddings.shape) if isinstance(global_embeddings, torch.Tensor) else type(global_embeddings).__name__
            raise InputError(f"expected global embeddings of shape (batch, {dim}), got {shape}")
        if global_embeddings.shape[0] == 0:
            raise InputError(f"expected global embeddings of shape (batch, {dim}), got an empty batch")
        if not global_embeddings.is_floating_point():
            raise InputError(f"expected floating-point embeddings, got {str(global_embeddings.dtype).replace('torch.', '')}")
        if local_embeddings is not None:
            if local_embeddings.ndim != 3 or local_embeddings.shape[0] != global_embeddings.shape[0] or local_embeddings.shape[2] != dim:
                raise InputError(
                    f"expected local embeddings of shape ({global_embeddings.shape[0]}, tokens, {dim}), got {tuple(local_embeddings.shape)}"
                )
            local_embeddings = local_embeddings.float().to(self.device)
            local_embeddings = F.normalize(local_embeddings, dim=-1) if normalize else local_embeddings
        global_embeddings = global_embeddings.float().to(self.device)
        global_embeddings = F.normalize(global_embeddings, dim=-1) if normalize else global_embeddings
        return self._scorer.score(global_embeddings, local_embeddings)

    def tag_images(
        self, images: object, selection: Selection = Selection(), *, batch_size: int = DEFAULT_BATCH_SIZE, keep_scores: bool = False,
    ) -> list[Record]:
        """Records (path None) for PIL images or uint8 arrays already in memory, in order; one
        image alone is a batch of one."""
        _checked_batch_size(batch_size)
        selection.check(self.labels)
        pixels = self._pixels(images)
        records = []
        for start in range(0, len(pixels), batch_size):
            embeddings = self.embed_pixels(pixels[start : start + batch_size])
            scores = self._scorer.score(embeddings.global_embeddings, embeddings.local_embeddings)
            for row, tags in zip(scores, select_tags(scores, self.labels, selection)):
                records.append(Record(None, tags=tags, scores=row.float().cpu() if keep_scores else None))
        return records

    # --- lifetime -----------------------------------------------------------------------------

    def _close_cache(self) -> None:
        cache, self._cache = self._cache, None
        if cache is not None:
            with contextlib.suppress(sqlite3.Error):
                cache.close()

    def close(self) -> None:
        """Stop the decoding processes of unfinished `tag` runs and close the cache."""
        for run in list(self._runs):
            run.close()
        self._close_cache()

    def __enter__(self) -> Tagger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class _VideoRun:
    """How the videos met by a `tag` run are tagged."""

    options: VideoOptions
    batch_size: int


def _twin_record(batch: ImageBatch, position: int, tags: dict[int, list[tuple[str, float]]], scores: dict[int, torch.Tensor]) -> Record:
    """A RAW's record from its JPEG twin's: the same tags (and scores), or why it has none."""
    twin = batch.twins[position]
    path = batch.paths[position]
    if twin in tags:
        return Record(path, tags=list(tags[twin]), scores=scores.get(twin), tagged_from=batch.paths[twin])
    reason = batch.errors.get(twin, "not tagged")
    return Record(path, error=f"its JPEG twin {batch.paths[twin].name} could not be read ({reason})")


def _path_list(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """One path alone, or several: `tag("photos/")` must not iterate the string's characters."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        return [Path(os.fsdecode(paths))]
    return [Path(os.fsdecode(path)) for path in paths]


def _checked_batch_size(batch_size: int) -> int:
    if batch_size < 1:
        raise UsageError("`batch_size` must be at least 1")
    return batch_size


def _check_activation(classifier: Classifier, encoder: ClipEncoder) -> None:
    """Text embeddings of the classifier and image embeddings made with different activations
    do not match: say so (a classifier built by lzt 0.1 with OpenAI's weights is such a case)."""
    if classifier.activation is None and encoder.activation == "quickgelu":
        warn(
            "this classifier was built by lzt 0.1, which encoded OpenAI weights' texts without QuickGELU; "
            "rebuild it for scores that match the images"
        )
    elif classifier.activation is not None and classifier.activation != encoder.activation:
        warn(f"this classifier's text embeddings use {classifier.activation}, the image encoder {encoder.activation}; rebuild it")
