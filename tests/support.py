"""What tests share, imported as `support` (pytest puts tests/ on sys.path, see pyproject.toml):
paths, the real CLI in-process and as a subprocess, JSON Lines, and the fakes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
MODEL_CONFIGS = REPO / "tests" / "model_configs"
# $LZT_COCO128 points elsewhere where ../shared is not beside the checkout (the GPU machine).
COCO128 = Path(os.environ.get("LZT_COCO128") or REPO.parent / "shared" / "data" / "coco128").resolve()


@dataclass
class Run:
    """A finished CLI run: what a user sees on stdout and stderr, and the exit status."""

    returncode: int
    stdout: str
    stderr: str


def invoke(*args: object, check: int | None = 0, env: dict | None = None) -> Run:
    """The real CLI in this process (Typer's CliRunner): the same commands, option parsing,
    error handling and exit codes as the `lzt` script, without a new interpreter per run."""
    from typer.testing import CliRunner

    from lzt.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], env=env, prog_name="lzt")
    run = Run(result.exit_code, result.stdout, result.stderr)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if check is not None:
        assert run.returncode == check, f"exit {run.returncode}\nstdout:\n{run.stdout[-2000:]}\nstderr:\n{run.stderr[-4000:]}"
    return run


def lzt_command(*args: object) -> list[str]:
    return [sys.executable, "-c", "from lzt.cli import main; main()", *map(str, args)]


def run_lzt(*args: object, check: int | None = 0, timeout: float = 600, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """The real CLI as a user runs it: a separate process, real stdout/stderr, exit code. For
    what only a process shows: signals, pipes, inherited file limits."""
    result = subprocess.run(lzt_command(*args), capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})}, **kwargs)
    if check is not None:
        assert result.returncode == check, f"exit {result.returncode}\nstdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-4000:]}"
    return result


RAY_TAG = ("--pretrained", "none", "-k", "5", "-q")  # how the Ray tests tag, and their local reference


def exported(folder: Path, check: int = 0) -> list[dict]:
    """The records stored in a shard folder, as `lzt export` prints them (a real process)."""
    return jsonl(run_lzt("export", folder, "-q", check=check).stdout)


def copy_photos(folder: Path, count: int) -> Path:
    """The first `count` coco128 photos (sorted) copied into a new `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((COCO128 / "images").glob("*.jpg"))[:count]:
        shutil.copy(path, folder / path.name)
    return folder


def default_sigint() -> None:
    """preexec_fn: Ctrl-C as a user has it. A test run started in the background (`nohup pytest &`)
    ignores SIGINT, and a child inherits that; lzt must be tested with the signal live."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def permissions_enforced() -> bool:
    """False as root (or with CAP_DAC_OVERRIDE), where chmod 000 does not stop reading."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        return False


def random_classifier(labels: Sequence[str], path: Path | None = None, model: str = "lzt-tiny-vit", dim: int = 32, seed: int = 0):
    """A classifier with seeded random weights for the tiny model: no text encoding, instant."""
    from lzt.classifier import Classifier, save_classifier

    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(len(labels), dim, generator=generator)
    anchors = torch.nn.functional.normalize(torch.randn(len(labels), dim, generator=generator), dim=1)
    classifier = Classifier(list(labels), {}, model, "none", dim, weight, anchors)
    if path is not None:
        save_classifier(classifier, path)
    return classifier


# --- XMP sidecars, read back by ExifTool (CI installs it) -------------------------------------

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed (apt-get install libimage-exiftool-perl)")

# A sidecar as another tool left it: keywords, a rating, a title, a label in a custom namespace,
# an xpacket wrapper, properties split over two rdf:Description elements, and a comment.
EXISTING_SIDECAR = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Image::ExifTool 12.57">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:acme="http://example.com/acme/1.0/"
    xmp:Rating="4" acme:project="Holiday 2023">
   <acme:reviewers><rdf:Seq><rdf:li>Ann</rdf:li><rdf:li>Bo</rdf:li></rdf:Seq></acme:reviewers>
   <!-- written by hand -->
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Beach day</rdf:li></rdf:Alt></dc:title>
   <dc:subject><rdf:Bag><rdf:li>Dog</rdf:li><rdf:li>family</rdf:li><rdf:li>Éte</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>people|family</rdf:li></rdf:Bag></lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>
"""



def exiftool_keywords(*sidecars: Path) -> list[dict]:
    out = subprocess.run(
        [EXIFTOOL, "-j", "-XMP:Subject", "-XMP:HierarchicalSubject", "-XMP-digiKam:TagsList", "-XMP:Rating", "-XMP:Title",
         "-XMP-acme:all", *map(str, sidecars)],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = json.loads(out)
    for row in rows:  # ExifTool gives a single keyword as a string, several as a list
        for key in ("Subject", "HierarchicalSubject", "TagsList"):
            value = row.get(key, [])
            row[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return rows


def exiv2_properties(sidecar: Path) -> dict[str, tuple[str, list[str]]]:
    """Every XMP property of a sidecar as libexiv2 (the library digiKam and darktable read XMP
    with) reads it, through its Python binding: key (`Xmp.lr.hierarchicalSubject`) -> (array
    type, values)."""
    import exiv2

    image = exiv2.ImageFactory.open(str(sidecar))
    image.readMetadata()
    properties = {}
    for datum in image.xmpData():
        value = datum.value()
        properties[datum.key()] = (datum.typeName(), [value.toString(i) for i in range(datum.count())])
    return properties
