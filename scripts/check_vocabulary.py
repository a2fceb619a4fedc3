#!/usr/bin/env python3
"""Check lzt vocabulary files for duplicates and near-duplicates that would split scores.

    python scripts/check_vocabulary.py label_sets/everyday.txt my_labels.txt
    python scripts/check_vocabulary.py --all --style --notes     # every built-in set

Exit status 1 if any file has an error (or a warning, with --strict). The rules, and the
`# allow: a ~ b` syntax that silences a reviewed warning, are documented in lzt/vocab_check.py
and label_sets/README.md. Importable: `check_file`, `check_text`, `Report`, `Finding`, `main`.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import lzt  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lzt.vocab_check import (  # noqa: E402,F401
    ERROR, NOTE, WARNING, Finding, Report, check_file, check_text, main, normalize, stem,
    within_one_edit,
)

if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `check_vocabulary.py ... | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
