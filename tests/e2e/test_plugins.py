"""Plugins join the registries the built-ins use: an installed package's entry point adds an
output format that `lzt tag --format` offers at once; a plugin that fails to load is one
warning, and every command still works."""

from __future__ import annotations

import os
import subprocess
import textwrap

from support import lzt_command

FORMAT_PLUGIN = '''
from lzt.output.base import Format, register_format


class NamesWriter:
    """One line per image: `path: label, label`."""

    def __init__(self, options):
        self.stream = options.output_stream()

    def write(self, record):
        labels = ", ".join(label for label, _ in record.tags or [])
        self.stream.write(f"{record.path}: {labels or record.error}\\n")
        self.stream.flush()

    def close(self):
        pass


register_format(Format("names", "path: labels, one line per image", NamesWriter, stream=True))
'''


def install(site, name: str, group: str, entry: str, module: str) -> None:
    """A package as pip leaves it: its module, and a dist-info folder declaring the entry point."""
    (site / f"{name}.py").write_text(textwrap.dedent(module))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry} = {name}\n")


def run(site, *args):
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(lzt_command(*args), capture_output=True, text=True, env=env, timeout=300)


def test_a_plugin_format_and_a_broken_plugin(tmp_path, small_images, tiny_classifier):
    site = tmp_path / "site"
    site.mkdir()
    install(site, "lzt_names_format", "lzt.formats", "names", FORMAT_PLUGIN)
    install(site, "lzt_broken_backend", "lzt.backends", "broken", "raise ImportError('needs a package that is not installed')\n")

    version = run(site, "--version")
    assert version.returncode == 0 and version.stdout.startswith("lzt ")
    assert version.stderr.startswith("warning: the lzt plugin 'broken' (lzt.backends) failed to load and is left out: needs a package")

    tagged = run(site, "tag", small_images, "-c", tiny_classifier, "--format", "names", "-k", "2", "-w", "0", "-q")
    assert tagged.returncode == 0, tagged.stderr
    lines = tagged.stdout.splitlines()
    assert len(lines) == 12 and all(line.startswith(str(small_images)) and len(line.split(": ")[1].split(", ")) == 2 for line in lines)
    assert "Traceback" not in tagged.stderr

    refused = run(site, "generate", "--labels", "voc", "--llm", "broken", "--out", tmp_path / "c.jsonl")
    assert refused.returncode == 2 and "'broken' is not one of" in refused.stderr
