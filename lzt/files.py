"""Small file helpers every layer shares: atomic writes, `name: value` line files, the folders
lzt ships (label sets, prompts) and the user cache folder."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from lzt.errors import LztError

_PACKAGE_DIR = Path(__file__).resolve().parent
CACHE_ENV = "LZT_CACHE_DIR"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over the target:
    an interrupted write never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Line:
    """One meaningful line of a `name: value  # comment` file."""

    number: int  # 1-based
    raw: str  # the line as written, for error messages
    name: str
    value: str | None  # None when the line has no `:`


def read_lines(text: str) -> list[Line]:
    """The syntax of vocabularies, thresholds and renames: `#` starts a comment, blank lines are
    ignored, `name` or `name: value` per line (surrounding spaces stripped)."""
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        name, sep, value = content.partition(":")
        lines.append(Line(number, raw.strip(), name.strip(), value.strip() if sep else None))
    return lines


def read_text(path: Path, what: str) -> str:
    """A UTF-8 text file, or an LztError saying which file could not be read and why."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LztError(f"cannot read {what} {path}: {exc}") from exc


def nonblank_lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file's non-blank lines (JSON Lines readers share it);
    a file that cannot be read is an LztError naming it."""
    for number, line in enumerate(read_text(path, what).splitlines(), start=1):
        if line.strip():
            yield number, line


SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite(path: Path, what: str) -> bool:
    """Whether a file starts as an SQLite database does (a review.db, not JSON Lines)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError as exc:
        raise LztError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


class UnreadableFile(LztError):
    """A file beside a photo (caption, sidecar) that is there but cannot be read or parsed."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{os.fsdecode(path)}: {reason}")
        self.path, self.reason = path, reason


def read_if_present(path: Path) -> bytes | None:
    """A file's bytes; None when there is no such file (or a folder stands there); an
    UnreadableFile when it is there but cannot be read."""
    if path.is_dir():
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc.strerror or exc}") from exc


def read_pairs(path: Path, what: str) -> list[Line]:
    """Lines that must all be `name: value` (thresholds, renames)."""
    lines = read_lines(read_text(path, what))
    for line in lines:
        if not line.name or not line.value:
            raise LztError(f"{path}:{line.number}: expected `label: value`, got {line.raw!r}")
    return lines


def resource_dir(name: str) -> Path:
    """`label_sets` or `prompts`: the repo's top-level folder, else the copy inside the wheel."""
    for candidate in (_PACKAGE_DIR.parent / name, _PACKAGE_DIR / name):
        if candidate.is_dir():
            return candidate
    raise LztError(f"lzt resource folder {name!r} is missing from this installation")


def prompt_file(spec: str | Path) -> Path | None:
    """A prompt file by path, or by name in the shipped `prompts/` folder; None if neither."""
    path = Path(spec)
    if path.is_file():
        return path
    named = resource_dir("prompts") / f"{spec}.txt"
    return named if named.is_file() else None


def user_cache_dir() -> Path:
    """$LZT_CACHE_DIR, else the platform's user cache folder (~/.cache/lzt on Linux)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    from platformdirs import user_cache_dir as platform_cache_dir

    return Path(platform_cache_dir("lzt", appauthor=False))
