"""The configuration objects of the public API: plain values, validated when made.

Every option of the command line is a field of one of these (the CLI's flags are the library's
keyword arguments); they hold no tensors and import no model code, so that building them, and
the command line around them, costs nothing. Strings are accepted where an enum is expected.
"""

from __future__ import annotations

import math
import sys
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Iterable, Sequence, TextIO

from lzt.errors import LztError, UsageError
from lzt.files import read_pairs

DEFAULT_MAX_PIXELS = 200_000_000  # decompression-bomb limit: 200 MP
DEFAULT_DECODE_TIMEOUT = 30.0  # seconds per file: generous, a healthy 100 MP photo takes a few
DEFAULT_BATCH_SIZE = 64  # images per encoder batch
DEFAULT_TEXT_BATCH_SIZE = 256  # sentences per text-encoder batch on a CPU
GPU_TEXT_BATCH_SIZE = 1024  # on CUDA: large bf16 batches keep the GPU busy (issue 15)
DEFAULT_TEMPLATES = "imagenet80"  # the single-label prompt ensemble of CoMC


# --- scoring ---------------------------------------------------------------------------------------


class Mapping(str, Enum):
    """What an image embedding is expressed through on the text side."""

    anchors = "anchors"  # CoMC: the class prompt embeddings
    corpus = "corpus"  # the k nearest corpus sentences (faiss)
    none = "none"  # no mapping


@dataclass(frozen=True)
class MappingConfig:
    """method: see Mapping; temperature: of the softmax over keys; mix: weight of the image
    embedding itself in the fused one (1 = no mapping); neighbours: corpus texts per image."""

    method: Mapping = Mapping.anchors
    temperature: float = 100.0
    mix: float = 0.7
    neighbours: int = 64

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "method", Mapping(self.method))
        except ValueError:
            raise UsageError(f"unknown `MappingConfig.method` {self.method!r} (choose from {', '.join(m.value for m in Mapping)})") from None
        if not 0.0 <= self.mix <= 1.0:
            raise UsageError("`MappingConfig.mix` must lie in [0, 1]")
        if self.neighbours < 1:
            raise UsageError("`MappingConfig.neighbours` must be at least 1")


class Calibration(str, Enum):
    """Score standardisation: none; per image across labels; then per label across images."""

    none = "none"
    image = "image"  # per image, z-score across labels
    image_label = "image+label"  # then per label, z-score across the images scored together


@dataclass(frozen=True)
class ScoringConfig:
    """How embeddings become label scores (the scoring options of `lzt tag` and `lzt eval`).

    mapping: the modality-gap mapping (MappingConfig).
    local: add CoMC's local branch (per-patch scores, max over patches) when the tower has one.
    local_weight: final = (1 - w) * global + w * local.
    calibration: none; image (z-score across labels per image); image+label (then across the
        images scored together: a batch when tagging, the whole set in `evaluate`).
    """

    mapping: MappingConfig = field(default_factory=MappingConfig)
    local: bool = True
    local_weight: float = 0.5
    calibration: Calibration = Calibration.none

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "calibration", Calibration(self.calibration))
        except ValueError:
            choices = ", ".join(c.value for c in Calibration)
            raise UsageError(f"unknown `ScoringConfig.calibration` {self.calibration!r} (choose from {choices})") from None
        if not 0.0 <= self.local_weight <= 1.0:
            raise UsageError("`ScoringConfig.local_weight` must lie in [0, 1]")


# --- which tags -----------------------------------------------------------------------------


class TagOrder(str, Enum):
    """The order of the tags a record keeps: best score first, or the vocabulary's order."""

    score = "score"
    vocabulary = "vocabulary"


@dataclass(frozen=True)
class Selection:
    """A label is kept when it is not excluded, scores at least its threshold (its own from
    `per_label`, else `threshold`) and at least `min_score` (a floor for every label); of those,
    the `topk` best (None: all), listed in `order` (TagOrder: best first, or as the vocabulary
    lists them). Output names (`output_name`) change what is written, not what is scored:
    `rename` maps labels to names, `underscores` writes `hot_dog` for `hot dog` (danbooru style)."""

    topk: int | None = 10
    threshold: float | None = None
    per_label: dict[str, float] = field(default_factory=dict)
    min_score: float | None = None
    exclude: frozenset[str] = frozenset()
    rename: dict[str, str] = field(default_factory=dict)
    order: TagOrder = TagOrder.score
    underscores: bool = False

    def __post_init__(self) -> None:
        if self.topk is not None and self.topk < 1:
            raise UsageError("`Selection.topk` must be at least 1 (or None for every label that qualifies)")
        object.__setattr__(self, "exclude", frozenset(self.exclude))
        try:
            object.__setattr__(self, "order", TagOrder(self.order))
        except ValueError:
            raise UsageError(f"`Selection.order` must be score or vocabulary, not {self.order!r}") from None

    def check(self, labels: Sequence[str]) -> None:
        """Every label named in the selection must be one of the classifier's."""
        known = set(labels)
        for what, names in (("per_label", self.per_label), ("exclude", self.exclude), ("rename", self.rename)):
            unknown = sorted(set(names) - known)
            if unknown:
                raise UsageError(f"`Selection.{what}` names labels this classifier lacks: {', '.join(unknown)}")

    def thresholds(self, labels: Sequence[str]) -> list[float]:
        """The score each label must reach: -inf where nothing applies, +inf if excluded."""
        values = []
        for label in labels:
            candidates = [v for v in (self.per_label.get(label, self.threshold), self.min_score) if v is not None]
            values.append(math.inf if label in self.exclude else max(candidates) if candidates else -math.inf)
        return values

    def output_name(self, label: str) -> str:
        """The name a label is written under: its `rename`, then in `underscores` style. Every
        output name is made here, so that other naming rules (languages) join in one place."""
        return style_name(self.rename.get(label, label), self.underscores)


def style_name(name: str, underscores: bool) -> str:
    """`hot dog` -> `hot_dog` with `underscores` (danbooru style: runs of spaces become one
    underscore), else the name as it is."""
    return "_".join(name.split()) if underscores else name


# --- `label: value` files for a Selection -----------------------------------------------------


def _known(path: Path, label: str, line: int, labels: Sequence[str]) -> str:
    if label not in labels:
        raise LztError(f"{path}:{line}: {label!r} is not a label of this classifier")
    return label


def read_thresholds(path: str | Path, labels: Sequence[str]) -> dict[str, float]:
    """`label: 0.25` per line (`#` comments) -> per-label thresholds."""
    path = Path(path)
    thresholds = {}
    for line in read_pairs(path, "thresholds"):
        label = _known(path, line.name, line.number, labels)
        try:
            thresholds[label] = float(str(line.value))
        except ValueError as exc:
            raise LztError(f"{path}:{line.number}: {line.value!r} is not a number") from exc
    return thresholds


def read_renames(path: str | Path, labels: Sequence[str]) -> dict[str, str]:
    """`label: output name` per line (`#` comments) -> output names."""
    path = Path(path)
    return {_known(path, line.name, line.number, labels): str(line.value) for line in read_pairs(path, "renames")}


def parse_label_list(values: Iterable[str]) -> frozenset[str]:
    """`["person,car", "dog"]` -> {person, car, dog} (Selection.check then names any the
    classifier lacks)."""
    return frozenset(name.strip() for value in values for name in value.split(",") if name.strip())


# --- input ----------------------------------------------------------------------------------


class Decoder(str, Enum):
    """Who decodes JPEGs. `cpu`: Pillow in the decoding processes (draft mode), every format.
    `gpu`: baseline JPEGs in batches by torchvision on the model's device (nvJPEG on CUDA; on a
    CPU device the same call runs libjpeg-turbo), the rest as `cpu`. `auto`: `gpu` when the
    model runs on CUDA, else `cpu`."""

    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


@dataclass(frozen=True)
class DecodeOptions:
    """How image files are decoded: `max_pixels` refuses larger images before decoding them
    (decompression bombs); `decode_timeout` gives up on a file whose decoding takes longer
    (seconds; None or 0: never); `decoder` chooses who decodes JPEGs (see Decoder).

    lzt checks `max_pixels` itself and leaves Pillow's process-wide limit alone; a program that
    keeps Pillow's default (PIL.Image.MAX_IMAGE_PIXELS, errors above about 179 MP) and raises
    `max_pixels` beyond it must raise Pillow's too (the `lzt` command sets it to None)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_timeout: float | None = DEFAULT_DECODE_TIMEOUT
    decoder: Decoder = Decoder.auto

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "decoder", Decoder(self.decoder))
        except ValueError:
            raise UsageError(f"`DecodeOptions.decoder` must be auto, cpu or gpu, not {self.decoder!r}") from None
        if self.max_pixels < 1:
            raise UsageError("`DecodeOptions.max_pixels` must be at least 1")
        if self.decode_timeout is not None and self.decode_timeout < 0:
            raise UsageError("`DecodeOptions.decode_timeout` must be 0 or more (None or 0: no deadline)")

    def batched_on(self, device_type: str) -> bool:
        """Whether JPEGs go to the batched decoder for a model on `device_type` (`cuda`, `cpu`...):
        `decoder` gpu, or auto on CUDA."""
        return self.decoder is Decoder.gpu or (self.decoder is Decoder.auto and device_type == "cuda")


class Resize(str, Enum):
    """How an image is fitted to the model's square input."""

    shortest = "shortest"  # CLIP's: resize the short side, centre crop
    letterbox = "letterbox"  # the whole image, padded
    squash = "squash"  # the whole image, stretched


@dataclass(frozen=True)
class InputConfig:
    """The model input: `image_size` (None: the model's own; larger sizes interpolate the
    position embeddings) and how images are fitted to it (`resize`)."""

    image_size: int | None = None
    resize: Resize = Resize.shortest

    def __post_init__(self) -> None:
        object.__setattr__(self, "resize", Resize(self.resize))
        if self.image_size is not None and self.image_size < 32:
            raise UsageError("`InputConfig.image_size` must be at least 32")


# --- video ----------------------------------------------------------------------------------


class VideoAggregate(str, Enum):
    """How a video's (or a segment's) frame scores become one score per label: `max` (the best
    frame: a label seen once counts) or `top-mean` (the mean of the `VideoOptions.top_frames`
    best frames: one odd frame counts less)."""

    max = "max"
    top_mean = "top-mean"


@dataclass(frozen=True)
class VideoOptions:
    """How videos are sampled and summarised.

    every: seconds between sampled frames (a frame at 0, every, 2*every, ...).
    scene_threshold: a frame also counts as a scene change, is sampled and starts a segment,
        when the mean absolute difference of small grey thumbnails (0-1) from the frame probed
        0.1 s before exceeds this; 0 turns scene detection off.
    aggregate, top_frames: frame scores -> video and segment scores (VideoAggregate).
    max_segment: seconds after which a segment ends even without a scene change (0: only
        scene changes end segments)."""

    every: float = 2.0
    scene_threshold: float = 0.1
    aggregate: VideoAggregate = VideoAggregate.top_mean
    top_frames: int = 3
    max_segment: float = 30.0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "aggregate", VideoAggregate(self.aggregate))
        except ValueError:
            raise UsageError(f"`VideoOptions.aggregate` must be max or top-mean, not {self.aggregate!r}") from None
        if not self.every > 0:
            raise UsageError("`VideoOptions.every` must be more than 0 seconds")
        if not 0 <= self.scene_threshold <= 1:
            raise UsageError("`VideoOptions.scene_threshold` must lie in [0, 1] (0: no scene detection)")
        if self.top_frames < 1:
            raise UsageError("`VideoOptions.top_frames` must be at least 1")
        if self.max_segment < 0:
            raise UsageError("`VideoOptions.max_segment` must be 0 (no limit) or more seconds")

    @property
    def sampling_key(self) -> str:
        """What decides which frames are sampled (part of the embedding-cache key of a video's
        frames; the aggregation is not: it re-runs on cached frames)."""
        return f"every={self.every!r};scene={self.scene_threshold!r}"


# --- building classifiers -------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """COMC.md section 2, the reference code's settings."""

    epochs: int = 20
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 5e-4
    noise_std: float = 0.1
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    seed: int = 0


@dataclass(frozen=True)
class AdaptConfig:
    """How `adapt_classifier` learns from confirmed photos (see lzt.adapt).

    strength: the pull toward the text-trained weights, relative to their size: larger keeps
        the classifier closer to what it learned from text (0: none; the evidence alone).
    unknown_weight: the weight of a label nobody annotated on a photo, compared with a confirmed
        one: it is assumed not to apply, weakly (a confirmed label should outrank it, a rejected
        one should rank below it). 0 ignores unannotated labels.
    steps, lr: full-batch Adam steps and their first learning rate (cosine decay to 0), in units
        of the text-trained weights' root-mean-square entry.
    """

    strength: float = 1.0
    unknown_weight: float = 0.1
    steps: int = 500
    lr: float = 0.03

    def __post_init__(self) -> None:
        if self.strength < 0:
            raise UsageError("`AdaptConfig.strength` must be 0 or more")
        if not 0.0 <= self.unknown_weight <= 1.0:
            raise UsageError("`AdaptConfig.unknown_weight` must lie in [0, 1]")
        if self.steps < 0:
            raise UsageError("`AdaptConfig.steps` must be 0 or more")
        if self.lr <= 0:
            raise UsageError("`AdaptConfig.lr` must be more than 0")


@dataclass(frozen=True)
class LLMConfig:
    """Which sentence writer to use and how to reach it.

    kind: a registered backend kind (`template`, `openai`, `local`, or a plugin's).
    model: the model name an OpenAI-compatible server serves; a GGUF file for `local`.
    base_url: the endpoint (default: $OPENAI_BASE_URL, else OpenAI).
    api_key_env: the environment variable that holds the API key (never printed).
    prompt: a prompt name in prompts/ or a file; None picks the kind's default.
    concurrency: requests in flight; None picks the kind's default.
    """

    kind: str = "template"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    prompt: str | None = None
    concurrency: int | None = None

    def __post_init__(self) -> None:
        if self.concurrency is not None and self.concurrency < 1:
            raise UsageError("`LLMConfig.concurrency` must be at least 1")


# --- output ---------------------------------------------------------------------------------


class OnExisting(str, Enum):
    """What a file format does when the caption or sidecar already exists."""

    skip = "skip"  # leave it untouched
    overwrite = "overwrite"  # replace what lzt wrote before (XMP: other keywords stay)
    append = "append"  # merge: add new tags, remove nothing, no duplicates


class XmpNaming(str, Enum):
    """How a sidecar is named beside `photo.jpg`."""

    full = "full"  # photo.jpg.xmp (darktable, digiKam)
    stem = "stem"  # photo.xmp (Lightroom, Capture One)


@dataclass(frozen=True)
class KeywordTree:
    """Where the keywords a run writes sit in a keyword tree: keyword -> its parents, root first
    (`owl`: animals, birds), in the names written out. Keywords it does not list (trigger words,
    folder tags, labels of a flat vocabulary) sit at the top."""

    parents: typing.Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def path(self, keyword: str) -> tuple[str, ...]:
        """(`animals`, `birds`, `owl`) for `owl`; (`dog`,) for a keyword at the top."""
        return (*self.parents.get(keyword, ()), keyword)


def keyword_tree(
    parents: typing.Mapping[str, Sequence[str]], selection: Selection | None = None, parent_names: typing.Mapping[str, str] | None = None
) -> KeywordTree:
    """A classifier's tree (label -> parents, `Classifier.parents`) in the names a run writes:
    labels by `selection.output_name`, parents by `parent_names` (their names in another
    language, lzt.vocab.translations.translated_parents) in the selection's style."""
    selection = selection or Selection()
    names = parent_names or {}
    return KeywordTree({
        selection.output_name(label): tuple(style_name(names.get(p, p), selection.underscores) for p in path)
        for label, path in parents.items()
    })


@dataclass(frozen=True)
class OutputOptions:
    """stream: where stream formats print (default: sys.stdout when the writer is made);
    caption_ext: extension of caption files; on_existing: see OnExisting; xmp_naming: see
    XmpNaming; xmp_parent: a parent above every hierarchical XMP keyword (`lzt` gives
    `lzt|animals|dog`; empty, the default: `animals|dog`); tree: where each keyword sits in the
    vocabulary's keyword tree (KeywordTree); with_parents: XMP dc:subject also lists each
    keyword's parents (`dog`, `animals`: Lightroom's "export containing keywords")."""

    stream: TextIO | None = field(default=None, compare=False)
    caption_ext: str = ".txt"
    on_existing: OnExisting = OnExisting.overwrite
    xmp_naming: XmpNaming = XmpNaming.full
    xmp_parent: str = ""
    tree: KeywordTree = field(default_factory=KeywordTree)
    with_parents: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_existing", OnExisting(self.on_existing))
        object.__setattr__(self, "xmp_naming", XmpNaming(self.xmp_naming))

    def output_stream(self) -> TextIO:
        """Where stream formats print: `stream`, else sys.stdout."""
        return self.stream if self.stream is not None else sys.stdout


@dataclass(frozen=True)
class ExtraTags:
    """What the writers get on top of the classifier's tags, on every record and in every format
    (lzt.output.extra.add_extra_tags): `prepend`, trigger words written first and as given;
    `folders`, the names of this many enclosing folders (1: the image's own folder, 2: also the
    one above it), outermost first, without the `N_` repeat count of kohya's dataset folders
    (`10_ohwx dog`); `underscores`, every other tag in danbooru style (`hot_dog`), folder names
    and classifier tags alike (tags already styled by `Selection.underscores` stay as they are)."""

    prepend: tuple[str, ...] = ()
    folders: int = 0
    underscores: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "prepend", tuple(t.strip() for t in self.prepend if t.strip()))
        if self.folders < 0:
            raise UsageError("`ExtraTags.folders` must be 0 or more")

    @property
    def empty(self) -> bool:
        """True when records pass unchanged."""
        return not self.prepend and self.folders == 0 and not self.underscores


DEFAULT_SHARD_SIZE = 1000


@dataclass(frozen=True)
class RayConfig:
    """Where and how the Ray engine runs.

    address: None for $RAY_ADDRESS, else an embedded local Ray started for the run (loopback
        only, no dashboard, stopped at the end); `auto`, `HOST:PORT` or `ray://HOST:PORT` joins a
        running cluster. A program that already called ray.init() keeps its own session.
    actors: encoder actors (one GPU each where the cluster has GPUs, else CPU actors).
    object_store_memory: bytes of the embedded Ray's object store (None: a quarter of the
        memory, at most 4 GiB; Ray's own default, 30% of memory in /dev/shm, starves the host).
    num_cpus: logical CPUs of the embedded Ray (None: the cores plus one per actor, so that
        actors never starve the decoding tasks)."""

    address: str | None = None
    actors: int = 1
    object_store_memory: int | None = None
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise UsageError("`RayConfig.actors` must be at least 1")
        if self.object_store_memory is not None and self.object_store_memory < 80 * 2**20:
            raise UsageError("`RayConfig.object_store_memory` must be at least 80 MiB (0.08 GiB; Ray's minimum)")


# --- evaluation -----------------------------------------------------------------------------

DEFAULT_MIN_POSITIVES = 3  # positive images a label needs for a threshold of its own


class Convention(str, Enum):
    """Whose AP and mAP: `lzt` (scikit-learn's: tied scores form one threshold, labels without a
    positive are left out of the mean, ignored pairs dropped), `comc` (the code of CoMC and
    TaI-DPT), `mkt` (the code of MKT). lzt.eval.metrics says what each does."""

    lzt = "lzt"
    comc = "comc"
    mkt = "mkt"


class Unannotated(str, Enum):
    """On a dataset line that lists `negatives`, what the labels it lists neither as positive nor
    as negative are: `ignore` (left out, as VOC "difficult" objects and OpenImages' unverified
    labels are) or `negative`. A line without `negatives` lists every positive: the rest are negatives."""

    ignore = "ignore"
    negative = "negative"


class KeywordSource(str, Enum):
    """Where a photo's own keywords are read: `xmp` (dc:subject and lr:hierarchicalSubject of its
    sidecar) or `txt` (its caption file, comma-separated)."""

    xmp = "xmp"
    txt = "txt"


class DatasetFormat(str, Enum):
    """Official annotation formats `import_dataset` reads: `coco` (instances JSON), `voc`
    (Annotations/*.xml), `nuswide` (Concepts81.txt, ImageList, TrainTestLabels), `openimages`
    (human-verified image-label CSV and class descriptions)."""

    coco = "coco"
    voc = "voc"
    nuswide = "nuswide"
    openimages = "openimages"
