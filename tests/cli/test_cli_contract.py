"""The CLI is a thin shell over the library: every parameter a library message names becomes the
command's flag; commands that share option groups share them with the same defaults; the CLI
leaves the process as it found it (in-process callers: notebooks, these tests)."""

from __future__ import annotations

import ast
import logging
import re
import warnings

from PIL import Image
from typer.main import get_command

from lzt.cli.app import app, flag_table, translator
from support import REPO, invoke

LIBRARY_NAME = re.compile(r"`([A-Za-z_][\w.]*)`")
# Parameters that only the library has (no command passes them), named in library messages.
LIBRARY_ONLY = {
    "labels",  # evaluate(scores, labels=...) with scores given; `lzt eval` always tags
    "AdaptConfig.lr",  # `lzt adapt` keeps the default learning rate
}


def message_names() -> dict[str, str]:
    """Backticked names in the library's string constants (docstrings excepted) -> where."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "lzt").rglob("*.py")):
        if "cli" in path.relative_to(REPO / "lzt").parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {
            id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                for name in LIBRARY_NAME.findall(node.value):
                    found.setdefault(name, f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_every_parameter_named_in_a_library_message_has_a_flag():
    table = flag_table(get_command(app))
    names = message_names()
    assert "DecodeOptions.max_pixels" in names and "LLMConfig.model" in names  # the scan sees messages
    missing = {name: where for name, where in names.items() if name not in table and name not in LIBRARY_ONLY}
    assert not missing, missing
    translate = translator(table)
    assert translate("too many pixels (`DecodeOptions.max_pixels`)") == "too many pixels (--max-pixels)"
    assert translate("`MappingConfig.mix` must lie in [0, 1]") == "--map-mix must lie in [0, 1]"
    assert translate("see `lzt models pull` and `unknown.name`") == "see `lzt models pull` and `unknown.name`"


def test_a_library_error_reaches_the_user_as_a_flag(small_images, tiny_classifier):
    result = invoke("tag", small_images, "-c", tiny_classifier, "--map-mix", "2", check=2)
    assert "error: --map-mix must lie in [0, 1]" in result.stderr and "Traceback" not in result.stderr
    result = invoke("tag", small_images, "-c", tiny_classifier, "--exclude-tags", "dog,unicorn", check=2)
    assert "error: --exclude-tags names labels this classifier lacks: unicorn" in result.stderr


def options(command: str) -> dict[str, tuple]:
    group = get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    return {param.name: (tuple(param.opts), param.default) for param in params}


def test_tag_and_eval_share_their_option_groups_with_the_same_defaults():
    tag, evaluate = options("tag"), options("eval")
    shared = ["mapping", "map_temperature", "map_mix", "neighbours", "local", "local_weight", "calibration", "image_size",
              "resize", "cache_dir", "no_cache", "model", "pretrained", "device", "batch_size", "workers", "max_pixels",
              "decode_timeout", "quiet"]
    for name in shared:
        assert tag[name] == evaluate[name], name


def test_generate_and_build_classifier_share_one_llm_group_with_the_same_defaults():
    generate, build = options("generate"), options("build-classifier")
    for name in ("llm", "llm_model", "base_url", "api_key_env", "prompt", "concurrency", "sentences", "min_per_label", "seed"):
        assert generate[name] == build[name], name
    assert generate["llm"][1].value == "template" and generate["sentences"][1] == 2000


def test_an_in_process_run_leaves_the_process_as_it_found_it(small_images, tiny_classifier):
    root = logging.getLogger()
    before = (Image.MAX_IMAGE_PIXELS, root.handlers[:], root.level, list(warnings.filters), warnings.showwarning,
              logging.getLogger("lzt").handlers[:])
    invoke("--debug", "tag", small_images, "-c", tiny_classifier, "-w", "0", "-k", "1", "-q", "--max-pixels", "5000000000")
    after = (Image.MAX_IMAGE_PIXELS, root.handlers[:], root.level, list(warnings.filters), warnings.showwarning,
             logging.getLogger("lzt").handlers[:])
    assert after == before
