"""bench/adapt.py on a small planted-gap world (10 labels, D=32, 2,000 corpus texts: seconds).

Seed 0 is run; the margins asserted held for seeds 0-4 when written (text classifier 41-47 mAP;
1 labelled photo per label +5.8 to +15.3 points, 4 labelled +20 to +29, 1 reviewed +2.6 to +3.4,
1 confirmed-only +0.3 to +0.7), and without the pull toward the text-trained weights (strength 0)
one confirmed-only photo per label cost 3.2 to 5.8 points (seeds 0-2)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from bench.adapt import MODES, choose_evidence, main, make_setup, measure
from bench.simulation import Geometry
from lzt.config import AdaptConfig


@pytest.fixture(scope="module")
def setup():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: a second thread only contends
    try:
        yield make_setup(Geometry(labels=10, dim=32), 0, 2000, 300, 300)
    finally:
        torch.set_num_threads(threads)


def test_evidence_is_drawn_as_described(setup):
    for mode in MODES:
        evidence = choose_evidence(setup, 2, mode, torch.Generator().manual_seed(0))
        truth = torch.stack([setup.pool_targets[(setup.pool_images == row).all(dim=1)][0] for row in evidence.embeddings])
        confirmed, rejected = evidence.targets > 0, evidence.targets < 0
        assert truth[confirmed].all() and not truth[rejected].any()  # nothing confirmed or rejected falsely
        assert (confirmed.sum(dim=0) >= 2).all()  # every label confirmed on at least 2 photos
        assert (mode == "labelled") == bool((evidence.targets != 0).all())
        assert (mode == "confirmed") == (not rejected.any())


def test_confirmed_photos_raise_map_and_one_per_label_does_no_harm(setup):
    result = measure(setup, 0, [0, 1, 4], MODES, AdaptConfig())
    base = result[("labelled", 0)]
    assert all(result[(mode, 0)] == base for mode in MODES)
    assert result[("labelled", 1)] >= base + 0.04 and result[("labelled", 4)] >= result[("labelled", 1)] + 0.05
    assert result[("reviewed", 1)] >= base + 0.01 and result[("reviewed", 4)] > result[("reviewed", 1)]
    assert result[("confirmed", 1)] >= base and result[("confirmed", 4)] > result[("confirmed", 1)]
    # Without the pull toward the text-trained weights, one confirmed label per photo overfits.
    unpulled = measure(setup, 0, [1], ("confirmed",), replace(AdaptConfig(), strength=0.0))
    assert unpulled[("confirmed", 1)] <= base - 0.02


def test_the_bench_prints_its_table(capsys):
    main(["--labels", "8", "--dim", "32", "--corpus", "800", "--images", "100", "--pool", "100", "--seeds", "2",
          "--counts", "0,1", "--steps", "20", "--strengths", "0,1"])
    out = capsys.readouterr().out
    assert "(simulation, not CLIP)" in out and "| evidence | 0 per label | 1 per label |" in out
    rows = [line for line in out.splitlines() if line.startswith(("| labelled", "| reviewed", "| confirmed"))]
    assert len(rows) == 3 and all(row.count(" ± ") == 2 for row in rows)
    assert "| strength | labelled 1 | reviewed 1 | confirmed 1 |" in out
    assert "Regenerate: `python -m bench.adapt --seed 0 --seeds 2 --labels 8" in out
