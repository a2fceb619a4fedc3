"""The Typer application and the options every command shares."""

from __future__ import annotations

import logging

import typer

from lzt import __version__

app = typer.Typer(
    name="lzt",
    help="Zero-shot multi-label image tagging with CLIP and a classifier trained on text only (CoMC).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


class State:
    debug = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lzt {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors (for bug reports)."),
) -> None:
    State.debug = debug
    # open_clip, huggingface_hub and httpx log failures that lzt reports itself in one line.
    logging.basicConfig(level=logging.DEBUG if debug else logging.CRITICAL)
    for name in ("huggingface_hub", "httpx", "open_clip"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.CRITICAL)


DeviceOption = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda or cuda:N. The choice is printed on stderr.")
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress or information on stderr (warnings and errors still show).")
