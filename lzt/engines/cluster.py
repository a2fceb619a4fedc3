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
from lzt.engines.shards import ShardJob, ShardTagger, decode_shard, parquet_bytes, shard_table, write_shard
from lzt.engines.store import Store
from lzt.errors import LztError, UsageError

if TYPE_CHECKING:
    from lzt.model import PreprocessSpec

ERROR_SAMPLES = 3  # error rows per shard reported back to the driver (all are in the shard)


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
            ray.init(address=address, **quiet)
        else:
            with _loopback_only(ray):  # a laptop's run must not open ports to its network; no dashboard
                ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **_embedded_resources(config), **quiet)
    except ConnectionError as exc:
        raise LztError(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]}") from exc
    _quiet_data(ray)
    try:
        yield ray
    finally:
        ray.shutdown()


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


def _quiet_data(ray: Any) -> None:
    """The CLI shows its own progress; Ray Data's bars and execution banners would interleave."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _actor_placement(ray: Any) -> tuple[dict[str, Any], str]:
    """Actor resources and device: one GPU each where the cluster has GPUs; else half a logical
    CPU, so that actors never hold every CPU the decoding tasks need (Ray would hang)."""
    if ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_gpus": 1, "num_cpus": 1}, "cuda"
    return {"num_cpus": 0.5}, "cpu"


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


def _decode_stage(batch: dict[str, np.ndarray], store: str, spec: PreprocessSpec, options: DecodeOptions, base: str) -> dict:
    out: dict[str, list] = {"shard": [], "paths": [], "errors": [], "pixels": [], "count": []}
    for index, tar in zip(batch["index"], batch["tar"]):
        decoded = decode_shard(Store(store), Shard(int(index), bool(tar)), spec, options, base)
        out["shard"].append(decoded.shard)
        out["paths"].append(json.dumps(decoded.paths))
        out["errors"].append(json.dumps(decoded.errors))
        out["pixels"].append(decoded.pixels.tobytes())
        out["count"].append(len(decoded.pixels))
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
        for shard, paths, errors, pixels, count in zip(batch["shard"], batch["paths"], batch["errors"], batch["pixels"], batch["count"]):
            array = np.frombuffer(pixels, dtype=np.uint8).reshape(int(count), 3, size, size)
            decoded = DecodedShard(str(shard), json.loads(paths), json.loads(errors), array)
            table = shard_table(self.tagger(decoded), dim)
            failed = [(p, e) for p, e in zip(decoded.paths, decoded.errors) if e is not None]
            out["shard"].append(str(shard))
            out["parquet"].append(parquet_bytes(table))
            out["images"].append(len(decoded.paths))
            out["errors"].append(len(failed))
            out["samples"].append(json.dumps(failed[:ERROR_SAMPLES]))
        return {name: _column(values) for name, values in out.items()}


def _write_stage(batch: dict[str, np.ndarray], store: str) -> dict:
    target = Store(store)
    for shard, parquet in zip(batch["shard"], batch["parquet"]):
        target.write_bytes(Shard(int(shard)).output_file, bytes(parquet))
    return {name: batch[name] for name in ("shard", "images", "errors", "samples")}


def run_wave(
    ray: Any, shards: Sequence[Shard], job: ShardJob, store: str, spec: PreprocessSpec, config: RayConfig,
) -> Iterator[dict]:
    """Tag `shards` on the cluster; yields one summary row per shard as it is written."""
    actor_resources, device = _actor_placement(ray)
    items = [{"index": shard.index, "tar": shard.tar} for shard in shards]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    dataset = dataset.map_batches(
        _decode_stage, batch_size=1, num_cpus=1,
        fn_kwargs={"store": store, "spec": spec, "options": job.decoding, "base": job.base},
    )
    dataset = dataset.map_batches(
        _TagStage, batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(config.actors, len(items))),
        fn_constructor_kwargs={"job": job, "device": device, "actors": config.actors},
        **actor_resources,
    )
    dataset = dataset.map_batches(_write_stage, batch_size=1, num_cpus=0.25, fn_kwargs={"store": store})
    for row in dataset.iter_rows():
        yield {"shard": row["shard"], "images": int(row["images"]), "errors": int(row["errors"]), "samples": json.loads(row["samples"])}


def write_locally(shard: Shard, tagger: ShardTagger, store: Store, spec: PreprocessSpec, job: ShardJob) -> dict:
    """The same three steps in this process (engine `local`)."""
    decoded = decode_shard(store, shard, spec, job.decoding, job.base)
    write_shard(store, shard.name, shard_table(tagger(decoded), tagger.tagger.classifier.embed_dim))
    failed = [(p, e) for p, e in zip(decoded.paths, decoded.errors) if e is not None]
    return {"shard": shard.name, "images": len(decoded.paths), "errors": len(failed), "samples": failed[:ERROR_SAMPLES]}


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
        from lzt.engines.shards import read_shard, rescored_table, summary_of

        out: dict[str, list] = {"shard": [], "images": [], "errors": [], "samples": []}
        for name in batch["name"]:
            table = rescored_table(self.tagger, read_shard(self.source, str(name)), self.selection, self.classifier_id)
            shard = str(name).removeprefix("part-").removesuffix(".parquet")
            write_shard(self.out, shard, table)
            summary = summary_of(table)
            out["shard"].append(shard)
            out["images"].append(summary["images"])
            out["errors"].append(summary["errors"])
            out["samples"].append(json.dumps(summary["samples"]))
        return {name: _column(values) for name, values in out.items()}


def rescore_wave(ray: Any, names: Sequence[str], tagger: Any, source: str, out: str, selection: Any, config: RayConfig) -> Iterator[dict]:
    """Re-score the shard files `names` of `source` into `out` on the cluster."""
    resources, device = _actor_placement(ray)
    dataset = ray.data.from_items([{"name": name} for name in names], override_num_blocks=len(names))
    dataset = dataset.map_batches(
        _RescoreStage, batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(config.actors, len(names))),
        fn_constructor_kwargs={
            "model": tagger.encoder.name, "pretrained": tagger.encoder.pretrained,
            "scoring": tagger.scoring, "selection": selection, "source": source, "out": out, "device": device,
            "actors": config.actors,
        },
        **resources,
    )
    for row in dataset.iter_rows():
        yield {"shard": row["shard"], "images": int(row["images"]), "errors": int(row["errors"]), "samples": json.loads(row["samples"])}
