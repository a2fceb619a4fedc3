"""Command-line entry point: Typer commands, one module each; errors become one line + exit code."""

from __future__ import annotations

import os
import sys
import traceback

import typer

from lzt.cli import build, evaluate, generate, info, models, tag  # noqa: F401  (register the commands)
from lzt.cli.app import State, app
from lzt.cli.ui import console
from lzt.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, LztError, OutputClosed


def _quiet_broken_pipe() -> None:
    """The reader of stdout went away (`lzt tag ... | head -3`): stop quietly, like cat does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _click_exception_types() -> tuple[type[Exception], ...]:
    """Usage errors come from click, or from the copy of click that newer Typer releases carry."""
    types = []
    try:
        from typer._click.exceptions import ClickException as TyperClickException

        types.append(TyperClickException)
    except ImportError:
        pass
    try:
        import click

        types.append(click.ClickException)
    except ImportError:
        pass
    return tuple(types)


def _exit_types(name: str) -> tuple[type[BaseException], ...]:
    types = {getattr(typer, name)}
    try:
        import click

        types.add(getattr(click.exceptions, name))
    except ImportError:
        pass
    return tuple(types)


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="lzt", standalone_mode=False)
    except LztError as exc:
        if State.debug:
            traceback.print_exc()
        console.print(f"error: {exc}", style="bold red", markup=False)
        code = exc.exit_code
    except _exit_types("Exit") as exc:
        code = exc.exit_code
    except _exit_types("Abort"):
        console.print("interrupted", markup=False)
        code = EXIT_INTERRUPTED
    except _click_exception_types() as exc:
        exc.show()
        code = EXIT_USAGE
    except KeyboardInterrupt:
        console.print("interrupted", markup=False)
        code = EXIT_INTERRUPTED
    except (OutputClosed, BrokenPipeError):
        _quiet_broken_pipe()
        code = 0
    except Exception:
        # A bug, not a user error: keep the traceback, it is what a bug report needs.
        traceback.print_exc()
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else 0)
