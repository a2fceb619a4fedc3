"""Loading open_clip models: a hub tag (downloaded, or from the local cache when offline), a
checkpoint file, or random weights; on the device asked for, never a silent fallback.

The library changes no process-wide state here: offline loading resolves the cached file itself
(instead of setting HF_HUB_OFFLINE), random weights are drawn under a forked RNG (the global one
is left as it was), and open_clip's root-logger calls cannot configure logging as a side effect.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import socket
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import torch

from lzt.errors import UsageError, WeightsUnavailable, warn
from lzt.model.encoder import ClipEncoder

# Extra model-config folders (JSON files in open_clip's format), separated by os.pathsep:
# how tests register a tiny architecture, and how users add their own.
MODEL_CONFIG_ENV = "LZT_MODEL_CONFIG_DIRS"
# The weights to use when none are named (a tag or a checkpoint path).
PRETRAINED_ENV = "LZT_PRETRAINED"
# Where hub downloads are kept (default: the Hugging Face cache).
WEIGHTS_DIR_ENV = "LZT_WEIGHTS_DIR"
# The model to use when none is named and no classifier names one.
MODEL_ENV = "LZT_MODEL"

RANDOM_WEIGHTS = "none"
DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
DEFAULT_MODEL = "ViT-B-16"
# Every process that creates a model with random weights gets the same ones, so that a
# classifier built with random weights matches the text tower that tagging recreates.
RANDOM_WEIGHTS_SEED = 0

_registered_folders: set[str] = set()


def choose_device(spec: str, cuda: bool, mps: bool) -> torch.device:
    """The device a `device` setting names, given what this machine has (`cuda`: PyTorch sees a
    CUDA GPU; `mps`: an Apple GPU through Metal). `auto` prefers CUDA, then MPS, then the CPU;
    asking for an accelerator that is not there is an error, never a silent fallback. Pure: the
    tests give it machines this one is not."""
    if spec == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise UsageError(f"unknown `device` {spec!r} (use {DEVICE_CHOICES})") from exc
    if device.type == "cuda" and not cuda:
        raise UsageError(f"`device` {spec} was asked for, but PyTorch sees no CUDA GPU here")
    if device.type == "mps" and not mps:
        raise UsageError(
            f"`device` {spec} was asked for, but PyTorch cannot use an Apple GPU here (MPS needs Apple silicon, "
            "macOS 12.3 or later and a PyTorch built with MPS)"
        )
    if device.type not in {"cpu", "cuda", "mps"}:
        raise UsageError(f"unsupported `device` {spec!r} (use {DEVICE_CHOICES})")
    return device


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """`auto` picks CUDA, else an Apple GPU (MPS), else the CPU; asking for CUDA or MPS without
    it is an error, never a fallback."""
    return choose_device(str(spec), torch.cuda.is_available(), mps_available())


def mps_available() -> bool:
    """Whether PyTorch can run on an Apple GPU (Metal Performance Shaders) here."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def precision_for(device: torch.device) -> str:
    """open_clip's precision for a device: `bf16` on CUDA, `fp16` on MPS (open_clip's mixed
    float16, LayerNorms kept in float32 as OpenAI's CLIP was trained; MPS has bfloat16 only
    from macOS 14), `fp32` on the CPU."""
    return {"cuda": "bf16", "mps": "fp16"}.get(device.type, "fp32")


def register_model_configs() -> None:
    """Make open_clip aware of the config folders named in $LZT_MODEL_CONFIG_DIRS (once each)."""
    import open_clip

    for folder in filter(None, os.environ.get(MODEL_CONFIG_ENV, "").split(os.pathsep)):
        if folder in _registered_folders:
            continue
        if not Path(folder).is_dir():
            raise UsageError(f"${MODEL_CONFIG_ENV} names {folder!r}, which is not a folder")
        open_clip.add_model_config(folder)
        _registered_folders.add(folder)


def _check_model_name(name: str) -> None:
    import open_clip

    if name.startswith(("hf-hub:", "local-dir:")) or name in open_clip.list_models():
        return
    close = difflib.get_close_matches(name, open_clip.list_models(), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else " (`lzt models` lists good ones)"
    raise UsageError(f"unknown open_clip `model` {name!r}{hint}")


def default_model() -> str:
    """$LZT_MODEL if set, else ViT-B-16 (the backbone of TagCLIP's 68.8 COCO mAP)."""
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def default_pretrained(name: str) -> str:
    """$LZT_PRETRAINED if set, else the model's `openai` weights, else its first published tag."""
    import open_clip

    if os.environ.get(PRETRAINED_ENV):
        return os.environ[PRETRAINED_ENV]
    register_model_configs()
    tags = open_clip.list_pretrained_tags_by_model(name)
    if "openai" in tags or not tags:
        return "openai" if tags else RANDOM_WEIGHTS
    return tags[0]


# --- weights on this machine -------------------------------------------------------------------


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection attempt, so an offline machine fails in seconds instead of
    sitting through the hub client's retries (about a minute)."""
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def weight_files(cfg: dict) -> tuple[str, list[str]] | None:
    """(hub repository, candidate file names, safetensors first) of a pretrained config."""
    repo = (cfg.get("hf_hub") or "").strip("/")
    if not repo:
        return None
    if repo.count("/") > 1:
        repo, filename = repo.rsplit("/", 1)
        return repo, [filename]
    return repo, ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]


def cached_weights(model: str, pretrained: str) -> str | None:
    """The local file of a tag's weights when this machine already holds them, else None."""
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(model, pretrained)
    found = weight_files(cfg)
    if found is not None:
        from huggingface_hub import try_to_load_from_cache

        repo, filenames = found
        for filename in filenames:
            path = try_to_load_from_cache(repo, filename, cache_dir=os.environ.get(WEIGHTS_DIR_ENV))
            if isinstance(path, str):
                return path
    if cfg.get("url"):  # open_clip's own download folder for URL-only weights
        folder = os.environ.get(WEIGHTS_DIR_ENV) or os.path.expanduser("~/.cache/clip")
        path = os.path.join(folder, os.path.basename(cfg["url"]))
        if os.path.isfile(path):
            return path
    return None


def offline_message(name: str, pretrained: str, reason: str) -> str:
    return (
        f"could not fetch weights {name}/{pretrained} ({reason}). Fixes: download them on a connected "
        f"machine (lzt.model.pull_weights({name!r}, {pretrained!r}), which `lzt models pull` runs) and "
        f"copy its ~/.cache/huggingface here; or set `pretrained` to a checkpoint file "
        f"(.safetensors/.bin/.pt); or set ${PRETRAINED_ENV}=/path/to/checkpoint"
    )


# --- creating the model ------------------------------------------------------------------------


@contextlib.contextmanager
def _no_logging_side_effects() -> Iterator[None]:
    """open_clip logs through the root logger's module functions (`logging.info(...)`), which
    call logging.basicConfig() when the root logger has no handler: loading a model would
    configure the host program's logging. A NullHandler for the duration makes that a no-op; a
    program that configured logging itself keeps seeing open_clip's messages."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    guard = logging.NullHandler()
    root.addHandler(guard)
    try:
        yield
    finally:
        root.removeHandler(guard)


@contextlib.contextmanager
def _seeded_init(random_weights: bool) -> Iterator[None]:
    """Random weights are drawn from torch's CPU generator (open_clip builds the model on the CPU,
    then moves it) seeded for the duration and restored after, so the caller's RNG is untouched.
    torch.manual_seed would also seed every GPU, lazily, outside any fork_rng."""
    if not random_weights:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(RANDOM_WEIGHTS_SEED)
        yield


def _weights_source(name: str, pretrained: str) -> tuple[str | None, dict[str, Any]]:
    """What to hand open_clip as `pretrained`, and the settings a tag implies."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg
    from open_clip.transform import merge_preprocess_dict

    if pretrained == RANDOM_WEIGHTS:
        return None, {}
    path = Path(pretrained).expanduser()
    if path.is_file():
        return str(path), {}
    if path.exists():
        raise UsageError(f"`pretrained` {pretrained} is not a checkpoint file")
    tags = open_clip.list_pretrained_tags_by_model(name)
    if not name.startswith("hf-hub:") and pretrained not in tags:
        known = ", ".join(tags) or "none published"
        raise UsageError(f"`pretrained` {pretrained!r} is neither a file nor a pretrained tag of {name} (tags: {known})")
    cfg = get_pretrained_cfg(name, pretrained)
    # OpenAI's weights were trained with QuickGELU; open_clip 3 only warns when a plain model
    # name (ViT-B-16) is paired with them, and the embeddings would silently be wrong.
    settings: dict[str, Any] = {"force_quick_gelu": bool(cfg.get("quick_gelu", False))}
    if hub_reachable():
        return pretrained, settings
    cached = cached_weights(name, pretrained)
    if cached is None:
        raise WeightsUnavailable(offline_message(name, pretrained, "no network, and they are not in the local cache"))
    # The tag's preprocessing (mean, std, resize) applies to its cached file as it would to the tag.
    return cached, {**settings, "force_preprocess_cfg": merge_preprocess_dict({}, cfg)}


def create_model(name: str, pretrained: str, device: torch.device) -> tuple[Any, Any]:
    """Build the open_clip model; returns (model, tokenizer). Errors are one readable line."""
    import open_clip

    register_model_configs()
    _check_model_name(name)
    precision = precision_for(device)
    weights, settings = _weights_source(name, pretrained)
    if weights is None:
        warn(
            f"RANDOM WEIGHTS: {name} was created without weights (`pretrained` none). Speed, shapes "
            "and formats are real; tags and scores are meaningless."
        )
    try:
        with _no_logging_side_effects(), _seeded_init(weights is None):
            model = open_clip.create_model(
                name, pretrained=weights, precision=precision, device=device,
                pretrained_text=weights is not None, cache_dir=os.environ.get(WEIGHTS_DIR_ENV), **settings,
            )
    except Exception as exc:  # loaders and network stacks raise many types; all mean the same here
        if weights is None:
            raise
        if Path(weights).is_file():
            raise WeightsUnavailable(f"{weights} is not a usable checkpoint of {name}: {str(exc)[:200]}") from exc
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise WeightsUnavailable(offline_message(name, pretrained, reason)) from exc
    model.eval()
    with _no_logging_side_effects():
        tokenizer = open_clip.get_tokenizer(name)
    return model, tokenizer


def load_encoder(name: str | None = None, pretrained: str | None = None, device: str | torch.device = "auto") -> ClipEncoder:
    """An open_clip model ready to encode. `name`: an open_clip model (None: $LZT_MODEL, else
    ViT-B-16); `pretrained`: a tag, a checkpoint file, or `none` (random weights, with a loud
    LztWarning), None meaning $LZT_PRETRAINED, else the model's `openai` weights; `device`:
    auto (CUDA, else an Apple GPU, else the CPU), cpu, cuda, cuda:N or mps."""
    name = name or default_model()
    resolved = resolve_device(device)
    pretrained = pretrained or default_pretrained(name)
    model, tokenizer = create_model(name, pretrained, resolved)
    return ClipEncoder(model, tokenizer, name, pretrained, resolved)
