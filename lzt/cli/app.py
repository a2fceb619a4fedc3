"""The Typer application: its group class runs every command the same way, whether from the
`lzt` script or in-process (tests): library warnings and information on stderr, library
parameter names translated into flags, expected errors as one line and an exit code."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import traceback
import warnings
from typing import Any, Iterator

import typer
from PIL import Image
from typer.core import TyperGroup

from lzt.cli.ui import State, console
from lzt.errors import LztError, LztWarning, OutputClosed, UsageError
from lzt.version import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3  # the run finished, but some files could not be read and were skipped
EXIT_INTERRUPTED = 130

# Library names whose flag is not simply `--name-with-dashes` of a command parameter.
FLAG_ALIASES = {
    "LLMConfig.kind": "--llm", "LLMConfig.model": "--llm-model", "LLMConfig.base_url": "--base-url",
    "LLMConfig.concurrency": "--concurrency", "LLMConfig.api_key_env": "--api-key-env", "LLMConfig.prompt": "--prompt",
    "MappingConfig.method": "--mapping", "MappingConfig.mix": "--map-mix", "MappingConfig.neighbours": "--neighbours",
    "MappingConfig.temperature": "--map-temperature", "ScoringConfig.calibration": "--calibration",
    "ScoringConfig.local_weight": "--local-weight", "ScoringConfig.local": "--local",
    "Selection.topk": "--topk", "Selection.threshold": "--threshold", "Selection.min_score": "--min-score",
    "Selection.exclude": "--exclude-tags", "Selection.per_label": "--thresholds", "Selection.rename": "--rename",
    "InputConfig.image_size": "--image-size", "InputConfig.resize": "--resize",
    "DecodeOptions.max_pixels": "--max-pixels", "DecodeOptions.decode_timeout": "--decode-timeout",
    "DecodeOptions.decoder": "--decode",
    "TrainConfig.seed": "--seed", "TrainConfig.epochs": "--epochs", "TrainConfig.noise_std": "--noise",
    "AdaptConfig.strength": "--strength", "AdaptConfig.unknown_weight": "--unknown-weight", "AdaptConfig.steps": "--steps",
    "RayConfig.actors": "--actors", "RayConfig.object_store_memory": "--object-store-memory", "RayConfig.address": "--ray-address",
    "cache": "--cache-dir", "out": "--out", "labels": "--labels", "corpus": "--corpus", "format": "--format",
    "Selection.order": "--order", "ExtraTags.folders": "--folder-depth", "text": "QUERY",
    "VideoOptions.every": "--every", "VideoOptions.scene_threshold": "--scene-threshold", "VideoOptions.aggregate": "--aggregate",
    "VideoOptions.top_frames": "--top-frames", "VideoOptions.max_segment": "--max-segment",
}
_LIBRARY_NAME = re.compile(r"`([A-Za-z_][\w.]*)`")


class LztGroup(TyperGroup):
    def main(  # type: ignore[override]  # the same parameters, passed through to Typer's
        self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
        standalone_mode: bool = True, **extra: Any,
    ) -> Any:
        with _session(self):
            code = _run(lambda: super(LztGroup, self).main(args, prog_name, complete_var, standalone_mode=False, **extra))
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    name="lzt",
    cls=LztGroup,
    help="Zero-shot multi-label image tagging with CLIP and a classifier trained on text only (CoMC).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lzt {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors, and every library's log (for bug reports)."),
) -> None:
    State.debug = debug
    if debug:
        logging.basicConfig(level=logging.DEBUG, force=True)


# --- one command's session ---------------------------------------------------------------------


def flag_table(group: Any) -> dict[str, str]:
    """Library parameter name -> command-line flag, from every command's own options."""
    table: dict[str, str] = {}
    for command in getattr(group, "commands", {}).values():
        table.update(flag_table(command))
        for param in getattr(command, "params", []):
            flags = [opt for opt in getattr(param, "opts", []) if opt.startswith("--")]
            if flags and param.name:
                table.setdefault(param.name, max(flags, key=len))
    return {**table, **FLAG_ALIASES}


def translator(table: dict[str, str]) -> Any:
    def translate(message: str) -> str:
        return _LIBRARY_NAME.sub(lambda m: table.get(m.group(1), m.group(0)), message)

    return translate


class _LztLogHandler(logging.Handler):
    """The library's information on stderr, unless --quiet; its warnings always."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            console.print(f"warning: {State.translate(record.getMessage())}", style="bold yellow", markup=False)
        elif not State.quiet:
            console.print(State.translate(record.getMessage()), markup=False)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    if issubclass(category, LztWarning):
        console.print(f"warning: {State.translate(str(message))}", style="bold yellow", markup=False)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def _show_load_warnings() -> None:
    """Warnings of building the CLI itself (a plugin that failed to load), once per process."""
    from lzt.cli.options import LOAD_WARNINGS

    for caught in LOAD_WARNINGS:
        _show_warning(caught.message, caught.category, caught.filename, caught.lineno)
    LOAD_WARNINGS.clear()


@contextlib.contextmanager
def _session(group: Any) -> Iterator[None]:
    """What the CLI configures for its own process, undone afterwards (in-process callers)."""
    State.debug = State.quiet = False
    State.translate = translator(flag_table(group))
    logger = logging.getLogger("lzt")
    handler = _LztLogHandler()
    previous_level, previous_propagate = logger.level, logger.propagate
    root = logging.getLogger()
    root_guard = logging.NullHandler()  # other libraries' logs: lzt reports problems itself
    previous_root = (root.handlers[:], root.level)  # --debug configures the root logger
    previous_pixels = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("always", LztWarning)
        # Pillow's per-file warnings (odd EXIF, palette transparency, its own bomb warning while
        # --max-pixels decides) would add stderr lines per photo; each bad file has its record.
        warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        warnings.showwarning = _show_warning
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        root.addHandler(root_guard)
        # `--max-pixels` is the limit: Pillow's own global one would refuse big photos first.
        Image.MAX_IMAGE_PIXELS = None
        _show_load_warnings()
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous_pixels
            root.handlers[:] = previous_root[0]
            root.setLevel(previous_root[1])
            logger.removeHandler(handler)
            logger.setLevel(previous_level)
            logger.propagate = previous_propagate


# --- errors become one line and an exit code ---------------------------------------------------


def _click_exception_types() -> tuple[type[Exception], ...]:
    """Usage errors come from click, or from the copy of click that newer Typer releases carry."""
    types: list[type[Exception]] = []
    with contextlib.suppress(ImportError):
        from typer._click.exceptions import ClickException as TyperClickException

        types.append(TyperClickException)
    with contextlib.suppress(ImportError):
        import click

        types.append(click.ClickException)
    return tuple(types)


def _exit_types(name: str) -> tuple[type[BaseException], ...]:
    types = {getattr(typer, name)}
    with contextlib.suppress(ImportError):
        import click

        types.add(getattr(click.exceptions, name))
    return tuple(types)


def _quiet_broken_pipe() -> None:
    """The reader of stdout went away (`lzt tag ... | head -3`): stop quietly, like cat does."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _run(invoke: Any) -> int:
    try:
        code = invoke()
    except LztError as exc:
        if State.debug:
            traceback.print_exc()
        console.print(f"error: {State.translate(str(exc))}", style="bold red", markup=False)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR
    except _exit_types("Exit") as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except _exit_types("Abort"):
        console.print("interrupted", markup=False)
        return EXIT_INTERRUPTED
    except _click_exception_types() as exc:
        exc.show()  # type: ignore[attr-defined]
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.print("interrupted", markup=False)
        return EXIT_INTERRUPTED
    except (OutputClosed, BrokenPipeError):
        _quiet_broken_pipe()
        return EXIT_OK
    except Exception:
        # A bug, not a user error: keep the traceback, it is what a bug report needs.
        traceback.print_exc()
        return EXIT_ERROR
    if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into exit status 130 on its own
        console.print("interrupted", markup=False)
    return code if isinstance(code, int) else EXIT_OK
