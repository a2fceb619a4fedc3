"""Option groups, declared once and shared by the commands that take them.

A group is a dataclass whose fields are Typer options (`Annotated[type, typer.Option(...)]`,
defaults taken from the library's own config objects); a command takes the group as one
parameter and `@with_groups` spreads its fields on the command line (under one help panel) and
gathers them back into the dataclass. Each group turns itself into the library's config object:
the CLI's flags are the library's keyword arguments, nothing more.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import typing
import warnings
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, List, Optional

import typer

from lzt.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_SHARD_SIZE,
    Calibration,
    DecodeOptions,
    Decoder,
    ExtraTags,
    InputConfig,
    KeywordTree,
    LLMConfig,
    Mapping,
    MappingConfig,
    OnExisting,
    OutputOptions,
    RayConfig,
    Resize,
    ScoringConfig,
    Selection,
    TagOrder,
    TrainConfig,
    VideoAggregate,
    VideoOptions,
    XmpNaming,
    parse_label_list,
    read_renames,
    read_thresholds,
)
from lzt.errors import LztWarning
from lzt.files import user_cache_dir
from lzt.output import format_names
from lzt.progress import Progress
from lzt.text import backend_names
from lzt.text.generate import DEFAULT_MIN_PER_LABEL, DEFAULT_SENTENCES

if TYPE_CHECKING:
    from lzt.tagging import Tagger

_SCORING, _MAPPING, _INPUT, _DECODING = ScoringConfig(), MappingConfig(), InputConfig(), DecodeOptions()
_LLM, _OUTPUT, _TRAINING, _SELECTION = LLMConfig(), OutputOptions(), TrainConfig(), Selection()
_VIDEO = VideoOptions()

# Choices that plugins can extend are enums made from the registries when the CLI is built. A
# plugin that fails to load warns then, before any command runs: the warnings are kept and shown
# by the command (lzt.cli.app) in its own format.
with warnings.catch_warnings(record=True) as LOAD_WARNINGS:
    warnings.simplefilter("always", LztWarning)
    Format = Enum("Format", {name: name for name in format_names()}, type=str)  # type: ignore[misc]
    LLMKind = Enum("LLMKind", {name: name for name in backend_names()}, type=str)  # type: ignore[misc]
DEFAULT_FORMAT = Format("jsonl")
DEFAULT_LLM = LLMKind(LLMConfig().kind)


def with_groups(command: Callable[..., Any]) -> Callable[..., Any]:
    """Spread every option-group parameter of `command` into its fields for Typer, and call
    `command` with the group objects rebuilt from them."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, tuple[type, list[str]]] = {}
    for parameter in signature.parameters.values():
        group = parameter.annotation
        if not (isinstance(group, type) and dataclasses.is_dataclass(group)):
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        hints = typing.get_type_hints(group, include_extras=True)
        names = []
        for group_field in dataclasses.fields(group):
            parameters.append(inspect.Parameter(
                group_field.name, inspect.Parameter.KEYWORD_ONLY,
                default=_default(group_field), annotation=_in_panel(hints[group_field.name], group.__doc__ or group.__name__),
            ))
            names.append(group_field.name)
        groups[parameter.name] = (group, names)
    duplicates = {p.name for p in parameters if [q.name for q in parameters].count(p.name) > 1}
    if duplicates:
        raise TypeError(f"option groups of {command.__name__} share names: {sorted(duplicates)}")

    @functools.wraps(command)
    def spread(**values: Any) -> Any:
        for name, (group, names) in groups.items():
            values[name] = group(**{n: values.pop(n) for n in names})
        return command(**values)

    spread.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]  # read by Typer
    spread.__annotations__ = {p.name: p.annotation for p in parameters}
    return spread


def _default(group_field: dataclasses.Field) -> Any:
    if group_field.default is not dataclasses.MISSING:
        return group_field.default
    if group_field.default_factory is not dataclasses.MISSING:
        return group_field.default_factory()
    return inspect.Parameter.empty


def _in_panel(annotation: Any, panel: str) -> Any:
    """The same Annotated option, shown under the group's panel in --help."""
    base, *metadata = typing.get_args(annotation)
    placed = []
    for item in metadata:
        if isinstance(item, typer.models.ParameterInfo) and getattr(item, "rich_help_panel", None) is None:
            item = copy.copy(item)
            item.rich_help_panel = panel.strip().splitlines()[0].rstrip(".")
        placed.append(item)
    arguments = (base, *placed)
    return Annotated[arguments]  # built at run time, for Typer


# --- options of one command or several ---------------------------------------------------------

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or information on stderr (warnings and errors still show).")]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA, else an Apple GPU, else the CPU), cpu, cuda, cuda:N or mps. The choice is printed on stderr.")]


@dataclass
class ModelOptions:
    """Model."""

    model: Annotated[Optional[str], typer.Option("--model", help="open_clip model (default: the classifier's; for the built-in classifier $LZT_MODEL, else ViT-B-16).")] = None
    pretrained: Annotated[Optional[str], typer.Option("--pretrained", help="Weights: open_clip tag, checkpoint file, or none (random; testing only). Default: $LZT_PRETRAINED, else the classifier's.")] = None
    device: Device = "auto"


@dataclass
class ScoringOptions:
    """Scoring: how embeddings become scores."""

    mapping: Annotated[Mapping, typer.Option("--mapping", help="Modality-gap mapping: anchors (CoMC: class prompt embeddings), corpus (k nearest corpus sentences, faiss), or none.")] = _MAPPING.method
    map_temperature: Annotated[float, typer.Option("--map-temperature", help="Softmax temperature of the mapping.")] = _MAPPING.temperature
    map_mix: Annotated[float, typer.Option("--map-mix", help="Weight of the image embedding in the fused one (1 = no mapping).")] = _MAPPING.mix
    neighbours: Annotated[int, typer.Option("--neighbours", min=1, help="Corpus texts per image for --mapping corpus.")] = _MAPPING.neighbours
    local: Annotated[bool, typer.Option("--local/--no-local", help="Add CoMC's local branch (per-patch scores, max over patches) when the tower supports it.")] = _SCORING.local
    local_weight: Annotated[float, typer.Option("--local-weight", help="final = (1-w) global + w local.")] = _SCORING.local_weight
    calibration: Annotated[Calibration, typer.Option("--calibration", help="none; image (z-score across labels per image); image+label (then across the images of each batch: needs many images per batch).")] = _SCORING.calibration

    def config(self) -> ScoringConfig:
        mapping = MappingConfig(self.mapping, self.map_temperature, self.map_mix, self.neighbours)
        return ScoringConfig(mapping, self.local, self.local_weight, self.calibration)


@dataclass
class InputOptions:
    """Input: the size the model sees."""

    image_size: Annotated[Optional[int], typer.Option("--image-size", min=32, help="Input resolution (default: the model's); larger sizes interpolate position embeddings.")] = _INPUT.image_size
    resize: Annotated[Resize, typer.Option("--resize", help="shortest (resize short side + centre crop, CLIP's default), letterbox (whole image, padded) or squash (whole image, stretched).")] = _INPUT.resize

    def config(self) -> InputConfig:
        return InputConfig(self.image_size, self.resize)


@dataclass
class CacheOptions:
    """Embedding cache."""

    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Embedding cache folder (default: $LZT_CACHE_DIR, else the user cache folder).")] = None
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the embedding cache.")] = False

    def folder(self) -> Path | None:
        if self.no_cache:
            return None
        return self.cache_dir or user_cache_dir()


@dataclass
class DecodingOptions:
    """Decoding."""

    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per encoder batch.")] = DEFAULT_BATCH_SIZE
    workers: Annotated[Optional[int], typer.Option("--workers", "-w", min=0, help="Decoding processes (default: one per core, at most 16; 0 decodes in the main process).")] = None
    max_pixels: Annotated[int, typer.Option("--max-pixels", min=1, help="Refuse images with more pixels than this (decompression bombs).")] = _DECODING.max_pixels
    decode_timeout: Annotated[float, typer.Option("--decode-timeout", min=0, help="Give up on a file whose decoding takes longer than this many seconds (0: never).")] = _DECODING.decode_timeout or 0.0
    decode: Annotated[Decoder, typer.Option("--decode", help="Who decodes JPEGs: cpu (Pillow in the decoding processes), gpu (baseline JPEGs in batches by torchvision on the model's device: nvJPEG on CUDA), auto (gpu on CUDA, else cpu).")] = _DECODING.decoder

    def config(self) -> DecodeOptions:
        return DecodeOptions(self.max_pixels, self.decode_timeout or None, self.decode)


@dataclass
class VideoSamplingOptions:
    """Videos (mp4, mov, mkv, webm, avi; needs pip install 'lzt[video]')."""

    every: Annotated[float, typer.Option("--every", min=0.001, help="Seconds between sampled frames (plus a frame at each scene change).")] = _VIDEO.every
    scene_threshold: Annotated[float, typer.Option("--scene-threshold", min=0, max=1, help="A scene changes where small grey thumbnails 0.1 s apart differ by more than this on average (0-1); 0: no scene detection.")] = _VIDEO.scene_threshold
    aggregate: Annotated[VideoAggregate, typer.Option("--aggregate", help="Frame scores -> video and segment scores, per label: max (the best frame) or top-mean (mean of the --top-frames best).")] = _VIDEO.aggregate
    top_frames: Annotated[int, typer.Option("--top-frames", min=1, help="Frames averaged per label by --aggregate top-mean.")] = _VIDEO.top_frames
    max_segment: Annotated[float, typer.Option("--max-segment", min=0, help="A segment ends at a scene change or after this many seconds (0: only at scene changes).")] = _VIDEO.max_segment

    def config(self) -> VideoOptions:
        return VideoOptions(self.every, self.scene_threshold, self.aggregate, self.top_frames, self.max_segment)


@dataclass
class DiscoveryOptions:
    """Finding files."""

    exclude: Annotated[List[str], typer.Option("--exclude", help="Glob pattern of file or folder names to skip (repeatable).")] = field(default_factory=list)
    include_hidden: Annotated[bool, typer.Option("--include-hidden", help="Also search hidden folders and files.")] = False


@dataclass
class SelectionOptions:
    """Which tags."""

    topk: Annotated[int, typer.Option("--topk", "-k", min=1, help="Keep at most this many tags per image (best first).")] = _SELECTION.topk or 10
    threshold: Annotated[Optional[float], typer.Option("--threshold", "-t", help="Keep only tags scoring at least this (labels in --thresholds have their own).")] = None
    thresholds: Annotated[Optional[Path], typer.Option("--thresholds", help="File of per-label thresholds, `label: 0.25` per line.")] = None
    min_score: Annotated[Optional[float], typer.Option("--min-score", help="A floor for every label, per-label thresholds included.")] = None
    exclude_tags: Annotated[List[str], typer.Option("--exclude-tags", help="Labels never to output (comma-separated, repeatable).")] = field(default_factory=list)
    rename: Annotated[Optional[Path], typer.Option("--rename", help="File of output names, `label: new name` per line (over --lang's).")] = None
    lang: Annotated[Optional[str], typer.Option("--lang", metavar="de|fr|es|it|pt|nl|ja|zh", help="Write the built-in vocabularies' labels in this language (what is scored stays the same).", show_default=False)] = None
    order: Annotated[TagOrder, typer.Option("--order", help="Order of each image's tags: score (best first) or vocabulary (as the vocabulary lists them).")] = _SELECTION.order
    underscores: Annotated[bool, typer.Option("--underscores", help="Write tags danbooru style: hot_dog for `hot dog` (folder tags too).")] = False

    def config(self, labels: list[str]) -> Selection:
        from lzt.vocab.translations import translated_names

        return Selection(
            self.topk, self.threshold,
            per_label=read_thresholds(self.thresholds, labels) if self.thresholds else {},
            min_score=self.min_score,
            exclude=parse_label_list(self.exclude_tags),
            rename={
                **(translated_names(labels, self.lang) if self.lang else {}),
                **(read_renames(self.rename, labels) if self.rename else {}),
            },
            order=self.order,
            underscores=self.underscores,
        )


@dataclass
class ExtraTagOptions:
    """Caption habits: tags added in every format."""

    prepend: Annotated[List[str], typer.Option("--prepend", help="Tags written first on every image, as given: trigger words (comma-separated, repeatable).")] = field(default_factory=list)
    tags_from_folders: Annotated[bool, typer.Option("--tags-from-folders", help="Add the name of each image's folder as a tag (kohya's `10_` repeat prefix taken off).")] = False
    folder_depth: Annotated[int, typer.Option("--folder-depth", min=1, help="With --tags-from-folders: how many enclosing folders become tags (2: the image's folder and the one above).")] = 1

    def config(self, underscores: bool = False) -> ExtraTags:
        prepend = tuple(word.strip() for value in self.prepend for word in value.split(",") if word.strip())
        return ExtraTags(prepend, self.folder_depth if self.tags_from_folders else 0, underscores)


@dataclass
class OutputFormatOptions:
    """Output."""

    format: Annotated[Format, typer.Option("--format", "-f", help="jsonl or csv (stdout); txt (caption file beside each image); xmp (sidecar); or a plugin's.")] = DEFAULT_FORMAT
    caption_ext: Annotated[str, typer.Option("--caption-ext", help="Extension of caption files (--format txt).")] = _OUTPUT.caption_ext
    on_existing: Annotated[OnExisting, typer.Option("--on-existing", help="When a caption/sidecar exists: skip, overwrite, or append (merge without duplicates).")] = _OUTPUT.on_existing
    xmp_naming: Annotated[XmpNaming, typer.Option("--xmp-naming", help="Sidecar names (--format xmp): full (photo.jpg.xmp: darktable, digiKam) or stem (photo.xmp: Lightroom).")] = _OUTPUT.xmp_naming
    xmp_parent: Annotated[str, typer.Option("--xmp-parent", help="A parent above every hierarchical XMP keyword (lzt: lzt|animals|dog); by default none: the vocabulary's own tree (animals|dog).")] = _OUTPUT.xmp_parent
    with_parents: Annotated[bool, typer.Option("--with-parents", help="XMP dc:subject also lists each keyword's parents in the vocabulary's tree (dog, animals), as Lightroom's `export containing keywords` does.")] = False
    flat: Annotated[bool, typer.Option("--flat", help="XMP keywords without the vocabulary's tree: dog, not animals|dog.")] = False

    def config(self, tree: KeywordTree | None = None) -> OutputOptions:
        """The output options, with the run's keyword tree unless --flat."""
        return OutputOptions(
            None, self.caption_ext, self.on_existing, self.xmp_naming, self.xmp_parent,
            tree=KeywordTree() if self.flat or tree is None else tree, with_parents=self.with_parents,
        )


class Engine(str, Enum):
    local = "local"
    ray = "ray"


@dataclass
class EngineOptions:
    """Sharded runs (Parquet shards under --out; see README "Past one machine")."""

    engine: Annotated[Engine, typer.Option("--engine", help="local (this process; the default) or ray (Ray Data: an embedded local Ray, or the cluster of --ray-address). ray needs --out.")] = Engine.local
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Folder (or s3://, gs://, file:// URI) for Parquet shards instead of stdout/sidecars; a re-run resumes it.")] = None
    manifest: Annotated[Optional[str], typer.Option("--manifest", help="File listing the inputs: text (one path or URI per line) or Parquet (a `path` column). Needs --out.")] = None
    from_embeddings: Annotated[Optional[str], typer.Option("--from-embeddings", help="Re-score the embeddings stored in this shard folder with --classifier (global branch only; no pixels read).")] = None
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", envvar="RAY_ADDRESS", help="auto, HOST:PORT or ray://HOST:PORT of a Ray cluster (default: $RAY_ADDRESS, else an embedded local Ray).")] = None
    actors: Annotated[int, typer.Option("--actors", min=1, help="Encoder actors on Ray (one GPU each where the cluster has GPUs).")] = RayConfig().actors
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Images per shard: the unit of work, output and resume.")] = DEFAULT_SHARD_SIZE
    embeddings: Annotated[bool, typer.Option("--embeddings/--no-embeddings", help="Store each image's global embedding (float16) in the shards, for --from-embeddings.")] = True
    object_store_memory: Annotated[Optional[float], typer.Option("--object-store-memory", min=0.08, help="GiB of object store for the embedded Ray (default: a quarter of the memory, at most 4).")] = None

    @property
    def sharded(self) -> bool:
        return self.out is not None or self.engine is Engine.ray or self.manifest is not None

    def ray(self) -> RayConfig:
        memory = None if self.object_store_memory is None else int(self.object_store_memory * 2**30)
        return RayConfig(self.ray_address, self.actors, memory)


@dataclass
class LLMOptions:
    """Sentence writer."""

    llm: Annotated[LLMKind, typer.Option("--llm", help="template (no LLM), openai (any OpenAI-compatible server), local (bundled offline model), or a plugin's.")] = DEFAULT_LLM
    llm_model: Annotated[Optional[str], typer.Option("--llm-model", help="Model name for --llm openai (e.g. gpt-4o-mini); a GGUF file for --llm local (default: bundled SmolLM2-135M).")] = _LLM.model
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default: $OPENAI_BASE_URL, else OpenAI).")] = _LLM.base_url
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the API key (never printed). Self-hosted servers usually need none.")] = _LLM.api_key_env
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Prompt in prompts/ or a file: sentence (one label set per request; local's default) or sentences-batch (10 per request; openai's default).")] = _LLM.prompt
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", min=1, help="Requests in flight (default: 2 local, 4 openai).")] = _LLM.concurrency

    def config(self) -> LLMConfig:
        return LLMConfig(self.llm.value, self.llm_model, self.base_url, self.api_key_env, self.prompt, self.concurrency)


@dataclass
class SamplingOptions:
    """Label sets."""

    sentences: Annotated[int, typer.Option("--sentences", "-n", min=1, help="Label sets to write sentences for (raised if coverage needs more).")] = DEFAULT_SENTENCES
    min_per_label: Annotated[int, typer.Option("--min-per-label", min=0, help="Every label appears in at least this many label sets; labels with fewer verified sentences get top-up requests.")] = DEFAULT_MIN_PER_LABEL
    seed: Annotated[int, typer.Option("--seed", help="Seed of the label-set sampling (and, when building, of noise and initialisation).")] = _TRAINING.seed


def load_tagger(
    classifier: Path | None, model: ModelOptions, scoring: ScoringOptions, input: InputOptions, cache: CacheOptions,
    progress: Progress,
) -> Tagger:
    """The Tagger of `lzt tag` and `lzt eval`, from their shared option groups."""
    from lzt.tagging import Tagger  # the model side loads when a command needs it

    return Tagger.load(
        classifier, model=model.model, pretrained=model.pretrained, device=model.device, scoring=scoring.config(),
        input=input.config(), cache=cache.folder(), progress=progress,
    )
