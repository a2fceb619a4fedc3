"""The Ray Data engine: shards flow through CPU decoding tasks, encoder actors and writing tasks.

    shard names -> decode tasks (CPU; pixels) -> ShardTagger actors (GPU or CPU; a Parquet shard)
                -> write tasks (publish the shard) -> one summary row per shard to the driver

A shard is the unit of every stage, so each output file has a deterministic name and is written
whole: Ray's retries (a task on a dead node runs again elsewhere, a dead actor restarts) can only
write the same file twice, never a duplicate row. Stages never raise for bad images (Ray would
drop a whole block): each bad file is an error row.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from lzt.config import DecodeOptions, RayConfig
from lzt.engines.manifest import Shard
from lzt.engines.shards import ShardJob, ShardTagger, decode_shard, parquet_bytes, shard_table, summary_of, write_shard
from lzt.engines.store import Store
from lzt.errors import LztError, UsageError
from lzt.progress import logger
from lzt.tagging.jpeg import JpegInfo, parse_jpeg

if TYPE_CHECKING:
    from lzt.model import PreprocessSpec

def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Ray's carry whole remote tracebacks)."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


@contextmanager
def stage_errors() -> Iterator[None]:
    """A stage that failed for good (an actor that cannot load its model on a node, a task out of
    retries) ends the run with one line; Ray's own error carries the remote traceback."""
    import ray

    try:
        yield
    except ray.exceptions.RayError as exc:
        raise LztError(f"the Ray job failed: {root_cause(exc)} (the shards written so far are kept; run again to resume)") from exc


def root_cause(exc: BaseException) -> str:
    """The line of a Ray error that says what went wrong: the last `SomeError: ...` line of the
    remote traceback it carries (colour codes removed), else its first line."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    causes = [line.strip() for line in text.splitlines() if re.match(r"^\s*[\w.]*(Error|Exception|Unavailable)\b.*:", line)]
    return causes[-1][:300] if causes else first_line(exc)


def require_ray() -> Any:
    """Ray Data, or a one-line UsageError naming the extra."""
    return _ray()


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise UsageError("the Ray engine needs its extra: pip install 'lzt[ray]'") from None
    return ray


def _embedded_resources(config: RayConfig) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 8 * 2**30
    store = config.object_store_memory or max(80 * 2**20, min(memory // 4, 4 * 2**30))
    return {"num_cpus": config.num_cpus or cores + config.actors, "object_store_memory": int(store)}


@contextmanager
def ray_session(config: RayConfig = RayConfig()) -> Iterator[Any]:
    """Ray, initialised for the run and shut down after it (unless the host program had already
    initialised it: then its session is used and left running)."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    address = config.address or os.environ.get("RAY_ADDRESS") or None
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING, "configure_logging": False}
    try:
        if address:
            _check_reachable(address)
            ray.init(address=address, **quiet)
        else:
            with _loopback_only(ray):  # a laptop's run must not open ports to its network; no dashboard
                ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **_embedded_resources(config), **quiet)
    except (ConnectionError, ValueError, RuntimeError, ray.exceptions.RayError) as exc:  # unreachable, malformed, refused
        where = f"the Ray cluster at {address}" if address else "an embedded Ray"
        raise LztError(f"cannot start or join {where}: {first_line(exc)}") from exc
    try:
        with _quiet_data(ray):
            yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """A `HOST:PORT` (or `ray://HOST:PORT`) that accepts no connection ends the run in one line at
    once: ray.init would retry it for minutes. `auto` is left to Ray (it reads its own files)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise LztError(f"cannot join the Ray cluster at {address}: nothing answers there ({exc.strerror or exc})") from exc


@contextmanager
def _loopback_only(ray: Any) -> Iterator[None]:
    """Ray binds every listener (GCS, raylet, workers) to 127.0.0.1 only when the node's IP is
    exactly that, but ray.init replaces 127.0.0.1 with the machine's outward IP unless its
    ENABLE_RAY_CLUSTER constant is off (it is on Linux): the embedded Ray then listens on every
    interface. The constant is switched off for the init call only, and restored; it is private,
    so a Ray without it is left as it is (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 does the same
    for a whole process)."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is None or not hasattr(constants, "ENABLE_RAY_CLUSTER"):
        yield
        return
    saved = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = saved


@contextmanager
def _quiet_data(ray: Any) -> Iterator[None]:
    """For the Ray session lzt started: no progress bars or execution banners (lzt reports its
    own progress), and no Ray Data error logs with remote tracebacks (a failed stage becomes one
    LztError, see stage_errors). Restored afterwards: the host program's settings stay its own."""
    context = ray.data.DataContext.get_current()
    names = ("enable_progress_bars", "print_on_execution_start", "enable_auto_log_stats")
    saved = {name: getattr(context, name) for name in names}
    data_logger = logging.getLogger("ray.data")
    level = data_logger.level
    for name in names:
        setattr(context, name, False)
    data_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(context, name, value)
        data_logger.setLevel(level)


def _actor_placement(ray: Any, actors: int) -> tuple[dict[str, Any], str, int]:
    """Actor resources, device and pool size: one GPU each where the cluster has GPUs (never more
    actors than GPUs: Ray would wait forever for the rest); else half a logical CPU each, so that
    actors never hold every CPU the decoding tasks need (Ray would hang)."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus >= 1:
        if actors > gpus:
            logger.warning(f"{actors} actors asked for, the cluster has {gpus} GPUs: using {gpus}")
        return {"num_gpus": 1, "num_cpus": 1}, "cuda", min(actors, gpus)
    return {"num_cpus": 0.5}, "cpu", actors


def _share_cores(device: str, actors: int) -> None:
    """A CPU actor's torch threads: this node's cores shared by the pool (Ray starts workers with
    one OpenMP thread, which would leave the cores of a CPU-only cluster idle)."""
    if device == "cpu":
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // actors))


# --- the stages (module level: Ray ships them to workers by reference) ----------------------------


def _column(values: list) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _decode_stage(
    batch: dict[str, np.ndarray], store: str, spec: PreprocessSpec, options: DecodeOptions, base: str, batched: bool,
) -> dict:
    out: dict[str, list] = {"shard": [], "paths": [], "errors": [], "pixels": [], "count": [], "jpeg_index": [], "jpeg_bytes": []}
    for index, tar in zip(batch["index"], batch["tar"]):
        decoded = decode_shard(Store(store), Shard(int(index), bool(tar)), spec, options, base, batched)
        out["shard"].append(decoded.shard)
        out["paths"].append(json.dumps(decoded.paths))
        out["errors"].append(json.dumps(decoded.errors))
        out["pixels"].append(decoded.pixels.tobytes())
        out["count"].append(len(decoded.pixels))
        # JPEGs for the actors' batched decoder: their bytes, end to end, and (position, length)
        # pairs; the actor parses the headers again (plain data: nothing is unpickled).
        positions = sorted(decoded.jpegs)
        out["jpeg_index"].append(json.dumps([[p, len(decoded.jpegs[p][0])] for p in positions]))
        out["jpeg_bytes"].append(b"".join(decoded.jpegs[p][0] for p in positions))
    return {name: _column(values) for name, values in out.items()}


class _TagStage:
    """One per actor: the model loads once, then tags shard after shard."""

    def __init__(self, job: ShardJob, device: str, actors: int):
        _share_cores(device, actors)
        self.tagger = ShardTagger(job, device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict:
        from lzt.engines.shards import DecodedShard

        size = self.tagger.tagger.encoder.preprocess.image_size
        dim = self.tagger.tagger.classifier.embed_dim
        out: dict[str, list] = {"shard": [], "parquet": [], "images": [], "errors": [], "samples": []}
        columns = ("shard", "paths", "errors", "pixels", "count", "jpeg_index", "jpeg_bytes")
        for shard, paths, errors, pixels, count, jpeg_index, jpeg_bytes in zip(*(batch[name] for name in columns)):
            array = np.frombuffer(pixels, dtype=np.uint8).reshape(int(count), 3, size, size)
            decoded = DecodedShard(str(shard), json.loads(paths), json.loads(errors), array, _unpack_jpegs(jpeg_index, jpeg_bytes))
            table = shard_table(self.tagger(decoded), dim)
            _add_summary(out, str(shard), table)
            out["parquet"].append(parquet_bytes(table))
        return {name: _column(values) for name, values in out.items()}


def _unpack_jpegs(index: str, data: bytes) -> dict[int, tuple[bytes, JpegInfo]]:
    """The decode task's JPEGs back: position -> (bytes, headers parsed again)."""
    jpegs, start = {}, 0
    for position, length in json.loads(index):
        chunk = bytes(data[start : start + length])
        start += length
        info = parse_jpeg(chunk)
        if info is None:  # the decode task parsed these very bytes: cannot happen unless corrupted in transit
            raise ValueError(f"JPEG of position {position} arrived damaged")
        jpegs[int(position)] = (chunk, info)
    return jpegs


def _add_summary(out: dict[str, list], shard: str, table: Any) -> None:
    summary = summary_of(table)
    out["shard"].append(shard)
    out["images"].append(summary["images"])
    out["errors"].append(summary["errors"])
    out["samples"].append(json.dumps(summary["samples"]))


def _write_stage(batch: dict[str, np.ndarray], store: str) -> dict:
    target = Store(store)
    for shard, parquet in zip(batch["shard"], batch["parquet"]):
        target.write_bytes(Shard(int(shard)).output_file, bytes(parquet))
    return {name: batch[name] for name in ("shard", "images", "errors", "samples")}


def run_wave(
    ray: Any, shards: Sequence[Shard], job: ShardJob, store: str, spec: PreprocessSpec, config: RayConfig,
) -> Iterator[dict]:
    """Tag `shards` on the cluster; yields one summary row per shard as it is written."""
    actor_resources, device, actors = _actor_placement(ray, config.actors)
    batched = job.decoding.batched_on(device)
    items = [{"index": shard.index, "tar": shard.tar} for shard in shards]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    dataset = dataset.map_batches(
        _decode_stage, batch_size=1, num_cpus=1,
        fn_kwargs={"store": store, "spec": spec, "options": job.decoding, "base": job.base, "batched": batched},
    )
    dataset = dataset.map_batches(
        _TagStage, batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(actors, len(items))),
        fn_constructor_kwargs={"job": job, "device": device, "actors": actors},
        **actor_resources,
    )
    dataset = dataset.map_batches(_write_stage, batch_size=1, num_cpus=0.25, fn_kwargs={"store": store})
    yield from _summaries(dataset)


def _summaries(dataset: Any) -> Iterator[dict]:
    """The driver's view of a running job: one small summary row per written shard."""
    with stage_errors():
        for row in dataset.iter_rows():
            yield {"shard": row["shard"], "images": int(row["images"]), "errors": int(row["errors"]), "samples": json.loads(row["samples"])}


class _RescoreStage:
    """One per actor: re-scores stored shards with a new classifier (global branch only)."""

    def __init__(self, model: str, pretrained: str, scoring: Any, selection: Any, source: str, out: str, device: str, actors: int):
        _share_cores(device, actors)
        from lzt.engines.shards import stored_classifier
        from lzt.tagging import Tagger

        classifier = stored_classifier(out)  # the run's own copy: a restarted actor finds it again
        self.tagger = Tagger.load(classifier, model=model, pretrained=pretrained, device=device, scoring=scoring)
        self.classifier_id = classifier.signed_manifest()["sha256"]
        self.selection, self.source, self.out = selection, Store(source), Store(out)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict:
        from lzt.engines.shards import read_shard, rescored_table

        out: dict[str, list] = {"shard": [], "images": [], "errors": [], "samples": []}
        for name in batch["name"]:
            table = rescored_table(self.tagger, read_shard(self.source, str(name)), self.selection, self.classifier_id)
            shard = Shard.name_of(str(name))
            write_shard(self.out, shard, table)
            _add_summary(out, shard, table)
        return {name: _column(values) for name, values in out.items()}


def rescore_wave(ray: Any, names: Sequence[str], tagger: Any, source: str, out: str, selection: Any, config: RayConfig) -> Iterator[dict]:
    """Re-score the shard files `names` of `source` into `out` on the cluster."""
    resources, device, actors = _actor_placement(ray, config.actors)
    dataset = ray.data.from_items([{"name": name} for name in names], override_num_blocks=len(names))
    dataset = dataset.map_batches(
        _RescoreStage, batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(actors, len(names))),
        fn_constructor_kwargs={
            "model": tagger.encoder.name, "pretrained": tagger.encoder.pretrained,
            "scoring": tagger.scoring, "selection": selection, "source": source, "out": out, "device": device,
            "actors": actors,
        },
        **resources,
    )
    yield from _summaries(dataset)
