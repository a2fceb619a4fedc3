"""`lzt labels` and `lzt models`: what is built in and what is available locally."""

from __future__ import annotations

import typer

from lzt.cli.app import app
from lzt.errors import EXIT_OK
from lzt.labels import builtin_label_sets, load_vocabulary


@app.command("labels")
def labels_command() -> int:
    """List the built-in vocabularies (usable as `--labels NAME`)."""
    for name, path in builtin_label_sets().items():
        vocabulary = load_vocabulary(path)
        typer.echo(f"{name}\t{len(vocabulary)} labels\t{path}")
    return EXIT_OK
