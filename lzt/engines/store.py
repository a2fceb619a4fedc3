"""Files of a sharded run on any filesystem pyarrow reaches: a local or NFS folder, `file://`,
`s3://` or `gs://` (pyarrow's own S3 and GCS clients; credentials from the usual environment).

Every file is published whole: on a local filesystem through a temporary file renamed over the
target, on an object store by a single upload (an object appears only once fully written). A
reader therefore never sees half a shard, and writing the same shard twice leaves one file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from lzt.errors import LztError, UsageError

if TYPE_CHECKING:
    import pyarrow.fs


def is_uri(location: str) -> bool:
    """`scheme://...` (s3, gs, file, ...) as opposed to a plain path."""
    return "://" in location


def filesystem(location: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """A URI or a plain path -> (pyarrow filesystem, path inside it)."""
    try:
        import pyarrow as pa
        import pyarrow.fs as pafs
    except ImportError:  # pyarrow comes with the extra (Ray Data depends on it)
        raise UsageError("Parquet shards and manifests need pyarrow: pip install 'lzt[ray]'") from None

    if not is_uri(location):
        return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(location))
    try:
        return pafs.FileSystem.from_uri(location)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise UsageError(f"cannot open {location}: {exc}") from exc


def uri_of(location: str, path: str) -> str:
    """The URI of `path` found by listing `location` (`s3://bucket/x` lists `bucket/x/a.jpg`;
    `file:///data` lists `/data/a.jpg`). Query parameters of `location` (an S3 endpoint, a
    region) are not carried over: give them through the environment."""
    if not is_uri(location):
        return path
    return f"{location.split('://', 1)[0]}://{path}"


class Store:
    """A folder (local path or URI) holding a run's shards and its `_lzt/` bookkeeping."""

    def __init__(self, location: str | os.PathLike):
        given = os.fspath(location)
        self.fs, self.root = filesystem(given)
        import pyarrow.fs as pafs

        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        # Absolute, so that workers elsewhere (other folders, other machines) find the same place.
        self.location = given if is_uri(given) else self.root

    def path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def exists(self, name: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.path(name)).type != pafs.FileType.NotFound

    def names(self, folder: str = "") -> list[str]:
        """Names of the files directly in `folder` (relative to the root), sorted."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.path(folder) if folder else self.root, allow_not_found=True)
        return sorted(info.base_name for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File)

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open_input_file(self.path(name)) as handle:
            return handle.read()

    def write_bytes(self, name: str, data: bytes) -> None:
        """Publish `data` under `name` whole (see the module's note); LztError when it cannot
        be written (a read-only or full disk, missing credentials)."""
        try:
            self._publish(name, data)
        except OSError as exc:
            raise LztError(f"cannot write {self.path(name)}: {exc.strerror or exc}") from exc

    def _publish(self, name: str, data: bytes) -> None:
        target = self.path(name)
        parent = target.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        if not self.local:
            with self.fs.open_output_stream(target) as handle:
                handle.write(data)
            return
        tmp = f"{parent}/.{target.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)  # two writers of one shard (a retried task) both succeed: one file stays
        finally:
            Path(tmp).unlink(missing_ok=True)

    def delete(self, name: str) -> None:
        """Remove a file; one that is already gone is fine."""
        try:
            self.fs.delete_file(self.path(name))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LztError(f"cannot delete {self.path(name)}: {exc.strerror or exc}") from exc
