"""One shard's journey, in three steps that any engine runs where it likes:

    decode_shard (CPU)  ->  ShardTagger (encoder, mapping, classifier)  ->  write_shard (Parquet)

and reading the shards back. Every step works on plain values (lists, bytes) so that Ray can move
them between processes and machines; a bad image is an error row, never an exception.

The output of a shard is one Parquet file `part-NNNNNNNN.parquet` with these columns:
  path        string, the entry as listed (a path as given, a URI, or `TAR#MEMBER`)
  tags        list<struct<label: string, score: float32>>, best first (null for an error row)
  error       string, why this file could not be tagged (null when tagged)
  embedding   fixed_size_list<float16>[D], the unit global image embedding (null for error rows;
              the column is absent with `embeddings=False`)
  model       string, the image encoder's identity (model|weights|activation|input)
  classifier  string, the SHA-256 of the classifier that scored the row
"""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np

from lzt.config import DecodeOptions, InputConfig, KeywordTree, ScoringConfig, Selection
from lzt.engines.manifest import TAR_SUFFIX, Shard, shard_entries
from lzt.engines.store import Store, filesystem, is_uri
from lzt.errors import UsageError
from lzt.record import Record

if TYPE_CHECKING:
    import pyarrow as pa

    from lzt.classifier import Classifier
    from lzt.model import PreprocessSpec
    from lzt.tagging import Tagger
    from lzt.tagging.jpeg import JpegInfo

TAR_MEMBER_SEPARATOR = "#"
CLASSIFIER_FILE = "_lzt/classifier.lzt"
JOB_FILE = "_lzt/job.json"
TREE_FILE = "_lzt/keyword_tree.json"  # where the run's keywords sit in its vocabulary's tree, for `lzt export`
RESCORE_CHUNK = 65536  # stored embeddings scored at once when re-scoring
ERROR_SAMPLES = 3  # error rows per shard reported back to the driver (all are in the shard)


@dataclass
class ShardJob:
    """What every worker needs to tag shards: sent once to each task and actor. `classifier`
    is the Classifier itself, or the folder of a run that stored it (CLASSIFIER_FILE): Ray then
    sends a few bytes instead of the weights, and a restarted actor finds them again."""

    classifier: Classifier | str
    model: str
    pretrained: str
    scoring: ScoringConfig
    input: InputConfig
    selection: Selection
    decoding: DecodeOptions
    batch_size: int
    embeddings: bool
    base: str = field(default_factory=os.getcwd)  # relative paths are relative to the driver's folder

    def load_tagger(self, device: str = "auto") -> Tagger:
        from lzt.tagging import Tagger

        return Tagger.load(
            stored_classifier(self.classifier), model=self.model, pretrained=self.pretrained, device=device, scoring=self.scoring,
            input=self.input,
        )


def store_keyword_tree(store: Store, tree: KeywordTree) -> None:
    """Keep the run's keyword tree (in the names it wrote) beside its shards, for sidecars
    written from them later (`lzt export --format xmp`)."""
    store.write_bytes(TREE_FILE, json.dumps({k: list(v) for k, v in tree.parents.items()}, ensure_ascii=False, indent=1).encode())


def stored_keyword_tree(location: str | os.PathLike) -> KeywordTree:
    """The keyword tree a run stored (store_keyword_tree); an empty tree for a run from before
    trees were stored, or when the file cannot be read (the keywords are then written flat)."""
    store = Store(location)
    try:
        stored = json.loads(store.read_bytes(TREE_FILE)) if store.exists(TREE_FILE) else {}
    except (OSError, ValueError):
        return KeywordTree()
    if not isinstance(stored, dict):
        return KeywordTree()
    return KeywordTree({str(k): tuple(str(p) for p in v) for k, v in stored.items() if isinstance(v, list)})


def store_classifier(store: Store, classifier: Classifier) -> None:
    """Keep the run's classifier beside its shards (`_lzt/classifier.lzt`)."""
    import tempfile

    from lzt.classifier import save_classifier

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "classifier.lzt")
        save_classifier(classifier, path)
        store.write_bytes(CLASSIFIER_FILE, path.read_bytes())


def stored_classifier(classifier: Classifier | str) -> Classifier:
    """A Classifier, or the one stored under a run's folder (checked like any classifier file)."""
    if not isinstance(classifier, str):
        return classifier
    import tempfile

    from lzt.classifier import load_classifier

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "classifier.lzt")
        path.write_bytes(Store(classifier).read_bytes(CLASSIFIER_FILE))
        return load_classifier(path)


@dataclass
class DecodedShard:
    """A shard's entries, the pixels of those that decoded (rows in `decoded` order), the JPEGs
    left to the batched decoder and the errors."""

    shard: str
    paths: list[str]
    errors: list[str | None]
    pixels: np.ndarray  # (len(decoded), 3, S, S) uint8
    jpegs: dict[int, tuple[bytes, JpegInfo]] = field(default_factory=dict)  # position -> bytes, headers

    @property
    def ok(self) -> list[int]:
        """Positions without an error (decoded, or left to the batched decoder)."""
        return [i for i, error in enumerate(self.errors) if error is None]

    @property
    def decoded(self) -> list[int]:
        """Positions of the rows of `pixels`."""
        return [i for i in self.ok if i not in self.jpegs]


@dataclass
class TaggedShard:
    shard: str
    paths: list[str]
    errors: list[str | None]
    tags: list[list[tuple[str, float]] | None]
    embeddings: np.ndarray | None  # (n_ok, D) float16, rows in `ok` order
    model: str
    classifier: str


# --- decode ---------------------------------------------------------------------------------------


def decode_shard(
    store: Store, shard: Shard, spec: PreprocessSpec, options: DecodeOptions, base: str, batched_jpegs: bool = False,
) -> DecodedShard:
    """Decode every image of a shard with the local engine's safe decoder; never raises for a
    bad image, an unreadable path or a broken tar (each is an error row). With `batched_jpegs`
    the JPEGs the batched decoder takes are only read (DecodedShard.jpegs), for the encoder's
    device to decode (lzt.tagging.jpeg)."""
    images: list[np.ndarray] = []
    paths: list[str] = []
    errors: list[str | None] = []
    jpegs: dict[int, tuple[bytes, JpegInfo]] = {}

    def add(path: str, decode: Any) -> None:
        from lzt.tagging.decoding import DecodeTimeout, describe_error

        paths.append(path)
        try:
            result = decode()
            if isinstance(result, tuple):  # (bytes, headers): left to the batched decoder
                jpegs[len(paths) - 1] = result
            else:
                images.append(result.numpy())
            errors.append(None)
        except (Exception, DecodeTimeout) as exc:  # any failure is this file's only
            errors.append(describe_error(exc))

    entries = shard_entries(store, shard)
    for entry in entries:
        if shard.tar:
            _decode_tar(entry, spec, options, base, batched_jpegs, paths, errors, add)
        else:
            add(entry, lambda entry=entry: _decode_entry(entry, spec, options, base, batched_jpegs))
    size = spec.image_size
    pixels = np.stack(images) if images else np.empty((0, 3, size, size), np.uint8)
    return DecodedShard(shard.name, paths, errors, pixels, jpegs)


def _decode_entry(entry: str, spec: PreprocessSpec, options: DecodeOptions, base: str, batched: bool) -> Any:
    from lzt.tagging.decoding import decode_image, read_batch_jpeg

    if is_uri(entry):
        return _decode_bytes(_read_uri(entry), entry.rsplit("/", 1)[-1], spec, options, batched)
    path = Path(base, entry)  # an absolute entry stays itself
    read = read_batch_jpeg(path, options) if batched else None
    return read if read is not None else decode_image(path, spec, options)


def _decode_bytes(data: bytes, name: str, spec: PreprocessSpec, options: DecodeOptions, batched: bool) -> Any:
    """Pixels, or (bytes, headers) for the batched decoder."""
    from lzt.tagging.decoding import batch_jpeg_of, decode_image_bytes

    found = batch_jpeg_of(data, options) if batched else None
    return found if found is not None else decode_image_bytes(data, spec, options, name)


def _read_uri(uri: str) -> bytes:
    fs, path = filesystem(uri)
    with fs.open_input_file(path) as handle:
        return handle.read()


def _decode_tar(
    entry: str, spec: PreprocessSpec, options: DecodeOptions, base: str, batched: bool, paths: list, errors: list, add: Any,
) -> None:
    """Every image member of a tar, read in one pass; a tar that cannot be read (or that breaks
    part-way) adds one error row under the tar's own name."""
    from lzt.tagging.discovery import IMAGE_EXTENSIONS

    try:
        if is_uri(entry):
            fs, path = filesystem(entry)
            stream = fs.open_input_stream(path)
        else:
            stream = open(Path(base, entry), "rb")  # noqa: SIM115 (closed below, also on errors)
        with stream, tarfile.open(fileobj=stream, mode="r|*") as archive:
            for member in archive:
                if not member.isfile() or Path(member.name).suffix.lower() not in IMAGE_EXTENSIONS:
                    continue  # webdataset's .json/.txt/.cls companions are not images
                handle = archive.extractfile(member)
                data = handle.read() if handle is not None else b""
                name = f"{entry}{TAR_MEMBER_SEPARATOR}{member.name}"
                add(name, lambda data=data, member=member: _decode_bytes(data, member.name, spec, options, batched))
    except (OSError, tarfile.TarError, EOFError) as exc:
        paths.append(entry)
        errors.append(f"cannot read the tar shard: {exc}"[:200])


# --- tag --------------------------------------------------------------------------------------------


class ShardTagger:
    """A Tagger applied to decoded shards: encode in `batch_size` batches, map, score, select.
    Ray keeps one per actor (its model loaded once)."""

    def __init__(self, job: ShardJob, device: str = "auto", tagger: Tagger | None = None):
        """`tagger`: one already loaded for `job` (the local engine's); else loaded on `device`."""
        self.job = job
        self.tagger = tagger if tagger is not None else job.load_tagger(device)
        self.model = self.tagger.encoder.identity
        self.classifier = self.tagger.classifier.signed_manifest()["sha256"]

    def __call__(self, decoded: DecodedShard) -> TaggedShard:
        import torch

        from lzt.tagging import select_tags

        tags: list[list[tuple[str, float]] | None] = [None] * len(decoded.paths)
        ok, pixels = decoded.decoded, torch.from_numpy(decoded.pixels)
        if decoded.jpegs:  # decoded here, on the encoder's device (nvJPEG on CUDA)
            from lzt.tagging.decoding import decode_jpeg_rows, merge_rows

            names = {position: decoded.paths[position].rsplit("/", 1)[-1] for position in decoded.jpegs}
            spec, device = self.tagger.encoder.preprocess, self.tagger.device
            rows, batch, failures = decode_jpeg_rows(decoded.jpegs, names, spec, self.job.decoding, device)
            for position, reason in failures.items():
                decoded.errors[position] = reason
            ok, pixels = merge_rows(ok, pixels, rows, batch)
        kept: list[torch.Tensor] = []
        step = self.job.batch_size
        for start in range(0, len(ok), step):
            embeddings = self.tagger.embed_pixels(pixels[start : start + step])
            scores = self.tagger.score_embeddings(embeddings.global_embeddings, embeddings.local_embeddings, normalize=False)
            for position, row in zip(ok[start : start + step], select_tags(scores, self.tagger.labels, self.job.selection)):
                tags[position] = row
            if self.job.embeddings:
                kept.append(embeddings.global_embeddings.half().cpu())
        dim = self.tagger.classifier.embed_dim
        stored = (torch.cat(kept).numpy() if kept else np.empty((0, dim), np.float16)) if self.job.embeddings else None
        return TaggedShard(decoded.shard, decoded.paths, decoded.errors, tags, stored, self.model, self.classifier)


# --- write and read ---------------------------------------------------------------------------------


def shard_schema(dim: int, embeddings: bool) -> pa.Schema:
    import pyarrow as pa

    fields = [
        pa.field("path", pa.string()),
        pa.field("tags", pa.list_(pa.struct([pa.field("label", pa.string()), pa.field("score", pa.float32())]))),
        pa.field("error", pa.string()),
    ]
    if embeddings:
        fields.append(pa.field("embedding", pa.list_(pa.float16(), dim)))
    fields += [pa.field("model", pa.string()), pa.field("classifier", pa.string())]
    return pa.schema(fields)


def shard_table(tagged: TaggedShard, dim: int) -> pa.Table:
    import pyarrow as pa

    rows = len(tagged.paths)
    columns: dict[str, Any] = {
        "path": [_storable(p) for p in tagged.paths],
        "tags": [None if t is None else [{"label": label, "score": score} for label, score in t] for t in tagged.tags],
        "error": tagged.errors,
    }
    if tagged.embeddings is not None:
        full = np.zeros((rows, dim), np.float16)
        ok = [i for i, error in enumerate(tagged.errors) if error is None]
        full[ok] = tagged.embeddings
        mask = np.array([error is not None for error in tagged.errors], dtype=bool)
        values = pa.array(full.reshape(-1), type=pa.float16())
        columns["embedding"] = pa.FixedSizeListArray.from_arrays(values, dim, mask=pa.array(mask))
    columns["model"] = [tagged.model] * rows
    columns["classifier"] = [tagged.classifier] * rows
    return pa.table(columns, schema=shard_schema(dim, tagged.embeddings is not None))


def _storable(path: str) -> str:
    """File names that are not UTF-8 (surrogate escapes) survive as backslash escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def parquet_bytes(table: pa.Table) -> bytes:
    """A shard table as a Parquet file. Embeddings skip dictionary encoding (float16 values
    rarely repeat, and trying makes reading 5x slower) and use byte-stream-split, which zstd
    then compresses; the constant and repeated strings are dictionary-encoded."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    dictionary = [name for name in ("model", "classifier", "tags.list.element.label") if name.split(".")[0] in table.column_names]
    encoding = {"embedding.list.element": "BYTE_STREAM_SPLIT"} if "embedding" in table.column_names else None
    pq.write_table(table, sink, compression="zstd", use_dictionary=dictionary, column_encoding=encoding)
    return sink.getvalue().to_pybytes()


def write_shard(store: Store, shard_name: str, table: pa.Table) -> None:
    """Publish one shard's table whole (see lzt.engines.store)."""
    store.write_bytes(Shard(int(shard_name)).output_file, parquet_bytes(table))


def output_shards(store: Store) -> list[str]:
    """Names of the finished output shards (`part-*.parquet`), in order."""
    return [name for name in store.names() if name.startswith("part-") and name.endswith(".parquet")]


def read_shard(store: Store, name: str, columns: list[str] | None = None) -> pa.Table:
    import pyarrow.parquet as pq

    with store.fs.open_input_file(store.path(name)) as handle:
        return pq.read_table(handle, columns=columns)


def column_names(store: Store, name: str) -> list[str]:
    """The columns of a shard file, from its footer (no data read)."""
    import pyarrow.parquet as pq

    with store.fs.open_input_file(store.path(name)) as handle:
        return pq.read_schema(handle).names


def records_of(table: pa.Table) -> Iterator[Record]:
    """The Records of a shard table, in order, as `lzt tag` would have produced them."""
    paths = table.column("path").to_pylist()
    tags = table.column("tags").to_pylist()
    errors = table.column("error").to_pylist()
    for path, row_tags, error in zip(paths, tags, errors):
        where: Path | str = path if is_uri(path) or f"{TAR_SUFFIX}{TAR_MEMBER_SEPARATOR}" in path.lower() else Path(path)
        if error is not None:
            yield Record(where, error=error)
        else:
            # float32 storage of 4-decimal scores: rounding gives back the very numbers `tag` printed
            yield Record(where, tags=[(t["label"], round(float(t["score"]), 4)) for t in row_tags or []])


def read_shards(location: str | os.PathLike) -> Iterator[Record]:
    """Every record of a folder of shards written by `tag_shards` (or a re-score), in shard order.
    UsageError for a folder that no sharded run wrote to."""
    store = Store(location)
    names = output_shards(store)
    if not names and not store.exists(JOB_FILE):
        raise UsageError(f"no shards under {store.location}: no sharded run (tag_shards) wrote to it")
    for name in names:
        yield from records_of(read_shard(store, name, ["path", "tags", "error"]))


def sidecar_records(location: str | os.PathLike, records: Iterable[Record] | None = None) -> Iterator[Record]:
    """The records of a shard folder (or `records` read from it, such as re-scored ones) for
    writers of files beside the images (captions, XMP): relative paths are resolved against the
    folder the run started in; an image inside a tar shard or an object store has no folder to
    write beside, so its record carries that reason as its error."""
    store = Store(location)
    base = job_base(store)
    for record in read_shards(location) if records is None else records:
        text = os.fspath(record.path or "")
        if is_uri(text):
            yield Record(record.path, error="in an object store: no caption or sidecar can be written beside it")
        elif isinstance(record.path, str):
            yield Record(record.path, error="inside a tar shard: no caption or sidecar can be written beside it")
        elif record.error is None and not Path(base, text).exists():
            # moved or deleted since, or a name that was not UTF-8 (stored with \\x escapes)
            yield Record(Path(base, text), error="the image is no longer there: no caption or sidecar written")
        else:
            yield Record(Path(base, text), record.tags, record.error)


def job_base(store: Store) -> str:
    """The folder a run's relative paths are relative to (its `_lzt/job.json`)."""
    try:
        return json.loads(store.read_bytes(JOB_FILE)).get("base") or os.getcwd()
    except (OSError, ValueError):
        return os.getcwd()


def embeddings_of(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """A shard table's (rows, D) float16 embeddings and a boolean mask of the rows that have one."""
    column = table.column("embedding").combine_chunks()
    dim = column.type.list_size
    values = column.values.to_numpy(zero_copy_only=False).reshape(-1, dim)[column.offset : column.offset + len(column)]
    return values, ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def rescored_table(tagger: Tagger, table: pa.Table, selection: Selection, classifier_id: str) -> pa.Table:
    """A shard table with new tags (and classifier identity) from its stored embeddings, scored
    as the tagging run scored them (the same float16-rounded embeddings, not normalised again):
    with the same classifier the tags are the same, except under `image+label` calibration,
    which depends on the batch (here up to RESCORE_CHUNK rows)."""
    import pyarrow as pa
    import torch

    from lzt.tagging import select_tags

    values, has = embeddings_of(table)
    rows = np.flatnonzero(has)
    tags: list[Any] = [None] * len(values)
    for start in range(0, len(rows), RESCORE_CHUNK):
        chunk = rows[start : start + RESCORE_CHUNK]
        scores = tagger.score_embeddings(torch.from_numpy(values[chunk].astype("float32")), normalize=False)  # as `tag` scored them
        for position, row in zip(chunk, select_tags(scores, tagger.labels, selection)):
            tags[position] = [{"label": label, "score": score} for label, score in row]
    schema = shard_schema(tagger.classifier.embed_dim, True)
    return table.set_column(
        schema.get_field_index("tags"), schema.field("tags"), pa.array(tags, type=schema.field("tags").type)
    ).set_column(schema.get_field_index("classifier"), schema.field("classifier"), pa.array([classifier_id] * len(values), pa.string()))


def summary_of(table: pa.Table) -> dict:
    """What a written shard reports to the driver: rows, error rows and a few of them."""
    errors = table.column("error").to_pylist()
    paths = table.column("path").to_pylist()
    failed = [(p, e) for p, e in zip(paths, errors) if e is not None]
    return {"images": len(errors), "errors": len(failed), "samples": failed[:ERROR_SAMPLES]}
