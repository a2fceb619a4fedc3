"""The command line: Typer commands, one module each, over the public library.

Each command parses its options into the library's config objects, calls the library and prints;
`lzt.cli.app` turns library errors into one line and an exit code."""

from __future__ import annotations

from lzt.cli import (  # noqa: F401  (register the commands)
    adapt,
    build,
    calibrate,
    corpus,
    dataset,
    evaluate,
    export,
    generate,
    labels,
    models,
    review,
    search,
    stats,
    tag,
)
from lzt.cli.app import app


def main(argv: list[str] | None = None) -> None:
    """The `lzt` script."""
    app(args=argv, prog_name="lzt")
