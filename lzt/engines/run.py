"""Sharded runs: tag files into Parquet shards (on Ray or in this process), re-score stored
embeddings with another classifier, and resume either after any interruption.

    with Tagger.load("coco.lzt", device="cpu") as tagger:              # the actors load their own
        run = tag_shards(["photos/"], "out/", tagger)                     # an embedded local Ray
        run = tag_shards(..., ray=RayConfig(address="auto", actors=8))    # a cluster, 8 GPU actors
    for record in read_shards("out/"): ...                                 # Records, as `tag` gives
    with Tagger.load("new.lzt") as tagger:
        records = rescore("out/", tagger)                                  # new tags, no pixels

An output folder belongs to one run: `_lzt/job.json` records what produced it (inputs, model,
classifier, selection, scoring), and a re-run with the same settings only does the shards that are
missing; different settings are refused rather than mixed into one output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from lzt.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_SHARD_SIZE,
    DecodeOptions,
    InputConfig,
    KeywordTree,
    RayConfig,
    Resize,
    ScoringConfig,
    Selection,
)
from lzt.engines.manifest import Shard, iter_sources, listed_shards, write_manifest
from lzt.engines.shards import (
    JOB_FILE,
    ShardJob,
    ShardTagger,
    column_names,
    decode_shard,
    job_base,
    output_shards,
    read_shard,
    records_of,
    rescored_table,
    shard_table,
    store_classifier,
    store_keyword_tree,
    summary_of,
    write_shard,
)
from lzt.engines.store import Store, is_uri
from lzt.errors import UsageError
from lzt.progress import Progress, logger, no_progress
from lzt.record import Record

if TYPE_CHECKING:

    from lzt.tagging import Tagger

ENGINES = ("ray", "local")
FIRST_WAVE_WAIT = 2.0  # seconds the first wave waits for the listing to finish (small jobs: one wave)
MAX_WAVE = 4096  # shards per Ray Data execution (a few seconds of planning each)


@dataclass
class ShardRun:
    """What a sharded run did. `shards`: in the output now; `skipped`: already there before
    (a resumed run); `images`/`errors`: rows written by this run; `error_samples`: a few
    (path, reason) pairs of the error rows (all are in the shards' `error` column)."""

    out: str
    shards: int = 0
    skipped: int = 0
    images: int = 0
    errors: int = 0
    seconds: float = 0.0
    error_samples: list[tuple[str, str]] = field(default_factory=list)


# --- tagging --------------------------------------------------------------------------------------


def tag_shards(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    tagger: Tagger,
    *,
    manifest: str | os.PathLike | None = None,
    engine: str = "ray",
    ray: RayConfig = RayConfig(),
    selection: Selection = Selection(),
    decoding: DecodeOptions = DecodeOptions(),
    batch_size: int = DEFAULT_BATCH_SIZE,
    shard_size: int = DEFAULT_SHARD_SIZE,
    embeddings: bool = True,
    exclude: Sequence[str] = (),
    include_hidden: bool = False,
    tree: KeywordTree | None = None,
    progress: Progress = no_progress,
) -> ShardRun:
    """Tag every image under `paths` (files, folders, `.tar` webdataset shards, URIs) and the
    entries of `manifest` into Parquet shards under `out` (see lzt.engines.shards for the columns),
    resuming what an earlier run with the same settings left unfinished.

    tagger: the classifier, model, weights, scoring and input size to use. With engine `ray`
        each actor loads its own copy (on a GPU where the cluster has them), so the driver's
        Tagger can be loaded with `device="cpu"`.
    engine: `ray` (Ray Data: an embedded local Ray, or the cluster of `ray.address`) or `local`
        (this process, decoding one file at a time: small jobs and tests).
    shard_size: images per shard, the unit of work, output and resume.
    embeddings: store each image's global embedding (float16) for `rescore` and search.
    tree: where the written keywords sit in a keyword tree (default: the classifier's, in the
        selection's names; Tagger.keyword_tree), kept beside the shards for `lzt export`.
    The other arguments are those of Tagger.tag."""
    _check_engine(engine)
    if not paths and manifest is None:
        raise UsageError("nothing to tag: no files or folders given, and no `manifest`")
    if not os.fspath(out):
        raise UsageError("`out` is required: the folder of the Parquet shards")
    if batch_size < 1 or shard_size < 1:
        raise UsageError("`batch_size` and `shard_size` must be at least 1")
    if manifest is not None and not is_uri(os.fspath(manifest)) and not os.path.isfile(manifest):
        raise UsageError(f"no manifest file at {os.fspath(manifest)}")
    if engine == "ray":
        from lzt.engines.cluster import require_ray

        require_ray()  # before anything is written
    selection.check(tagger.labels)
    started = time.perf_counter()
    store = Store(out)
    spec = tagger.encoder.preprocess
    job = ShardJob(
        tagger.classifier, tagger.encoder.name, _weights(tagger), tagger.scoring,
        InputConfig(spec.image_size, Resize(spec.resize_mode)), selection, decoding, batch_size, embeddings,
    )
    identity = {
        "kind": "tag", "inputs": [_absolute(p) for p in paths], "manifest": None if manifest is None else _absolute(manifest),
        "base": job.base, "shard_size": shard_size, "exclude": sorted(exclude), "include_hidden": include_hidden,
        "model": tagger.encoder.identity, "classifier": tagger.classifier.signed_manifest()["sha256"],
        "selection": canonical(selection), "scoring": canonical(tagger.scoring), "decoding": canonical(decoding),
        "embeddings": embeddings,
    }
    # Relative entries of the manifest are relative to the folder the run started in, wherever
    # a later run (or export) starts.
    job.base = claim_output(store, identity)["base"]
    store_classifier(store, tagger.classifier)
    store_keyword_tree(store, tree or tagger.keyword_tree(selection))
    run = ShardRun(store.location)
    done = set(output_shards(store))

    def redo(shard: Shard) -> None:  # its entries changed since an interrupted listing: its output is stale
        store.delete(shard.output_file)
        done.discard(shard.output_file)

    listed = listed_shards(store)
    shards: Iterable[Shard] = listed if listed is not None else write_manifest(
        store, iter_sources(paths, manifest, exclude, include_hidden), shard_size, changed=redo
    )
    if engine == "local":
        shard_tagger = ShardTagger(job, tagger=tagger)
        with progress("tagging", None, "images") as advance:
            for shard in shards:
                if shard.output_file in done:
                    run.skipped += 1
                    continue
                decoded = decode_shard(store, shard, spec, job.decoding, job.base, job.decoding.batched_on(tagger.device.type))
                table = shard_table(shard_tagger(decoded), tagger.classifier.embed_dim)
                write_shard(store, shard.name, table)
                _count(run, summary_of(table), advance)
    else:
        job.classifier = store.location  # the actors read it from the run's folder, not from Ray's object store
        _run_on_ray(shards, done, job, store, spec, ray, run, progress)
    run.shards = len(output_shards(store))
    run.seconds = time.perf_counter() - started
    return run


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise UsageError(f"`engine` must be one of {', '.join(ENGINES)}, not {engine!r}")


def _count(run: ShardRun, row: dict, advance: Callable[[int], None]) -> None:
    run.images += row["images"]
    run.errors += row["errors"]
    run.error_samples.extend((str(p), str(e)) for p, e in row["samples"][: max(0, 20 - len(run.error_samples))])
    advance(row["images"])


def _run_on_ray(
    shards: Iterable[Shard], done: set[str], job: ShardJob, store: Store, spec: Any, config: RayConfig, run: ShardRun,
    progress: Progress,
) -> None:
    from lzt.engines.cluster import ray_session, run_wave

    with contextlib.ExitStack() as stack, progress("tagging", None, "images") as advance:
        ray = None  # started at the first shard left to do: a finished run's re-run starts nothing
        for wave in _waves(shards):
            pending = [shard for shard in wave if shard.output_file not in done]
            run.skipped += len(wave) - len(pending)
            if not pending:
                continue
            if ray is None:
                ray = stack.enter_context(ray_session(config))
            logger.info(f"tagging {len(pending)} shards on Ray ({len(wave) - len(pending)} already done)")
            for row in run_wave(ray, pending, job, store.location, spec, config):
                _count(run, row, advance)


def _waves(shards: Iterable[Shard]) -> Iterator[list[Shard]]:
    """Shards in batches for Ray: whatever the listing has produced so far (it runs in a thread,
    so tagging starts before a huge listing ends), at most MAX_WAVE at a time."""
    if isinstance(shards, list):  # a finished manifest
        for start in range(0, len(shards), MAX_WAVE):
            yield shards[start : start + MAX_WAVE]
        return
    found: queue.Queue = queue.Queue(maxsize=2 * MAX_WAVE)  # the listing runs ahead by two waves at most
    end = object()
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                found.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def list_all() -> None:
        try:
            for shard in shards:
                if not put(shard):
                    return  # the run ended (an error, Ctrl-C): stop listing
        except BaseException as exc:  # handed to the main thread, which raises it
            put(exc)
            return
        put(end)

    threading.Thread(target=list_all, name="lzt-listing", daemon=True).start()
    try:
        yield from _collect_waves(found, end)
    finally:
        stop.set()


def _collect_waves(found: queue.Queue, end: object) -> Iterator[list[Shard]]:
    """Waves from the listing thread's queue, until its end marker; its error is raised here."""
    deadline = time.monotonic() + FIRST_WAVE_WAIT
    finished = False
    while not finished:
        wave: list[Shard] = []
        while len(wave) < MAX_WAVE:
            try:
                if not wave:  # a wave starts with whatever comes next, however long the listing takes
                    item = found.get()
                elif deadline:  # the first wave waits a little: a small job runs as one wave
                    item = found.get(timeout=max(0.0, deadline - time.monotonic()))
                else:  # later waves take what is there
                    item = found.get_nowait()
            except queue.Empty:
                break
            if item is end:
                finished = True
                break
            if isinstance(item, BaseException):
                raise item
            wave.append(item)
        deadline = 0.0
        if wave:
            yield wave


def claim_output(store: Store, identity: dict[str, Any]) -> dict[str, Any]:
    """Record what produces this folder, or refuse a folder that another run produced; returns
    what the folder records (the first run's `base`, the folder its relative paths start from)."""
    if store.exists(JOB_FILE):
        recorded = json.loads(store.read_bytes(JOB_FILE))
        keys = (set(recorded) | set(identity)) - {"base"}
        different = sorted(key for key in keys if not _same_setting(key, recorded.get(key), identity.get(key)))
        if different:
            raise UsageError(
                f"{store.location} holds the output of another run (it differs in: {', '.join(different)}); "
                "choose another `out`, or delete that folder to start again"
            )
        return recorded
    store.write_bytes(JOB_FILE, json.dumps(identity, indent=2, sort_keys=True).encode())
    return identity


def _setting_defaults() -> dict[str, Any]:
    """The default of each settings object a run records, as canonical() writes it."""
    return {"selection": canonical(Selection()), "scoring": canonical(ScoringConfig()), "decoding": canonical(DecodeOptions())}


def _same_setting(key: str, recorded: Any, wanted: Any) -> bool:
    """Whether a recorded setting equals this run's. A field a later lzt added to a settings
    object is missing from an older run's record: it counts as its default there, so that a run
    started before an upgrade still resumes when the new field keeps its default."""
    default = _setting_defaults().get(key)
    if default is None:
        return recorded == wanted
    return _filled(recorded, default) == _filled(wanted, default)


def _filled(value: Any, default: Any) -> Any:
    """`value` with the keys it lacks taken from `default`, at every level of nested settings."""
    if not (isinstance(value, dict) and isinstance(default, dict)):
        return value
    return {**value, **{key: _filled(value.get(key, fallback), fallback) for key, fallback in default.items()}}


def canonical(value: Any) -> Any:
    """Settings as plain JSON values in a stable order (sets sorted, enums by value), so that
    the same settings compare equal across runs and processes (a frozenset's repr does not)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(canonical(v) for v in value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def _weights(tagger: Tagger) -> str:
    """The weights for workers to load: a tag, or a checkpoint's absolute path (workers do not
    run in the driver's folder)."""
    weights = tagger.encoder.pretrained
    return os.path.abspath(weights) if os.path.isfile(weights) else weights


def _absolute(path: str | os.PathLike) -> str:
    text = os.fspath(path)
    return text if is_uri(text) else os.path.abspath(text)


# --- re-scoring stored embeddings -----------------------------------------------------------------


def _check_rescoring(source: Store, tagger: Tagger) -> None:
    """The stored embeddings must exist and come from the tagger's model and weights."""
    names = output_shards(source)
    if not names:
        raise UsageError(f"no shards (part-*.parquet) under {source.location}")
    if "embedding" not in column_names(source, names[0]):
        raise UsageError(f"{source.location} was written without embeddings (`embeddings` False): re-scoring needs them")
    models = read_shard(source, names[0], ["model"]).column("model")
    stored = models[0].as_py() if len(models) else tagger.encoder.identity
    model_name, weights = stored.split("|")[:2]
    if (model_name, weights) != tuple(tagger.encoder.identity.split("|")[:2]):
        raise UsageError(
            f"the stored embeddings come from {model_name} ({weights}); this classifier is loaded with "
            f"{tagger.encoder.name} ({tagger.encoder.pretrained_id}): give a classifier of that model"
        )
    if tagger.uses_local_branch:
        logger.info("re-scoring uses the global branch only: shards store no per-patch embeddings")


def rescore(source: str | os.PathLike, tagger: Tagger, selection: Selection = Selection()) -> Iterator[Record]:
    """Records for the embeddings stored under `source` (shards of `tag_shards`), scored by the
    tagger's classifier without decoding or encoding a pixel. Global branch only (no per-patch
    embeddings are stored). The tagger must use the model and weights that made them."""
    store = Store(source)
    _check_rescoring(store, tagger)
    selection.check(tagger.labels)
    classifier_id = tagger.classifier.signed_manifest()["sha256"]
    for name in output_shards(store):
        yield from records_of(rescored_table(tagger, read_shard(store, name), selection, classifier_id))


def rescore_shards(
    source: str | os.PathLike,
    out: str | os.PathLike,
    tagger: Tagger,
    *,
    engine: str = "local",
    ray: RayConfig = RayConfig(),
    selection: Selection = Selection(),
    tree: KeywordTree | None = None,
    progress: Progress = no_progress,
) -> ShardRun:
    """Like `rescore`, writing shards of the same names under `out` (embeddings carried over),
    in this process (`local`) or on Ray; resumable like `tag_shards`. tree: as tag_shards'."""
    _check_engine(engine)
    started = time.perf_counter()
    source_store, target = Store(source), Store(out)
    _check_rescoring(source_store, tagger)
    selection.check(tagger.labels)
    classifier_id = tagger.classifier.signed_manifest()["sha256"]
    claim_output(target, {
        "kind": "rescore", "source": source_store.location, "base": job_base(source_store), "classifier": classifier_id,
        "selection": canonical(selection), "scoring": canonical(tagger.scoring),
    })
    store_classifier(target, tagger.classifier)
    store_keyword_tree(target, tree or tagger.keyword_tree(selection))
    done = set(output_shards(target))
    names = output_shards(source_store)
    pending = [name for name in names if name not in done]
    run = ShardRun(target.location, skipped=len(names) - len(pending))
    with progress("re-scoring", None, "images") as advance:
        if engine == "local":
            for name in pending:
                table = rescored_table(tagger, read_shard(source_store, name), selection, classifier_id)
                write_shard(target, Shard.name_of(name), table)
                _count(run, summary_of(table), advance)
        else:
            from lzt.engines.cluster import ray_session, rescore_wave

            with contextlib.ExitStack() as stack:
                session = stack.enter_context(ray_session(ray)) if pending else None
                for start in range(0, len(pending), MAX_WAVE):
                    wave = pending[start : start + MAX_WAVE]
                    for row in rescore_wave(session, wave, tagger, source_store.location, target.location, selection, ray):
                        _count(run, row, advance)
    run.shards = len(output_shards(target))
    run.seconds = time.perf_counter() - started
    return run
