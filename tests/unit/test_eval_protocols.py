"""The papers' evaluation protocols, each re-computed here independently of lzt.eval.metrics:
lzt's AP against scikit-learn, CoMC/TaI-DPT's and MKT's as their evaluation code computes it
(re-derived step by step in this file, on ternary 1/0/-1 targets where theirs take them), the
relation the README states between them, ignored pairs, several k from one ranking, datasets
with negatives, label matching, and fitted thresholds against a brute-force search."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from lzt import Convention, LztError, Unannotated, fit_thresholds, read_labelled_set
from lzt.eval.metrics import average_precision, compute_metrics, topk_metrics
from lzt.eval.thresholds import best_cut
from lzt.vocab import LabelMatcher, load_vocabulary

# --- the peers' AP, re-derived -------------------------------------------------------------------


def comc_ap(scores: np.ndarray, ternary: np.ndarray) -> float:
    """Dassl's MLClassification evaluator as CoMC and TaI-DPT ship it (ASL's average_precision):
    rank by the reversed numpy argsort, a pair is positive iff its target == 1, sum precision@i at
    the positives, divide by positives + 1e-8. Their logits reach it as a float32 array."""
    indices = scores.astype(np.float32).argsort()[::-1]
    positives_seen, precision_sum = 0, 0.0
    for rank, index in enumerate(indices, start=1):
        if ternary[index] == 1:
            positives_seen += 1
            precision_sum += positives_seen / rank
    return precision_sum / (int((ternary == 1).sum()) + 1e-8)


def mkt_ap(scores: np.ndarray, ternary: np.ndarray) -> float:
    """MKT's compute_AP: keep |target| == 1, AP 0 without positives, torch's descending sort of
    the float32 predictions, (hits * precision).sum() / positives."""
    prediction = torch.tensor(scores, dtype=torch.float32)
    label = torch.tensor(ternary, dtype=torch.float32)
    if (label > 0).sum() == 0:
        return 0.0
    mask = label.abs() == 1
    binary = torch.clamp(label[mask], 0, 1)
    _, order = prediction[mask].sort(descending=True)
    hits = (binary[order] == 1).float()
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
    return float((hits * precision).sum() / binary.sum())


def ternary_targets(seed: int, shape=(80, 10), ignored_share=0.0):
    rng = np.random.default_rng(seed)
    positives = rng.random(shape) < 0.2
    positives[:, 3] = False  # a label without positives
    ternary = np.where(positives, 1, -1)
    ternary[(rng.random(shape) < ignored_share) & ~positives] = 0
    return positives, ternary == 0, ternary, rng


def test_each_convention_matches_its_independent_recomputation_with_ties_and_ignored_pairs():
    positives, ignored, ternary, rng = ternary_targets(1, ignored_share=0.15)
    scores = np.round(positives * 0.5 + rng.normal(scale=0.6, size=positives.shape), 1)  # many ties
    for c in range(positives.shape[1]):
        s, pos, ign = scores[:, c], positives[:, c], ignored[:, c]
        keep = ~ign
        if pos.any():
            expected = average_precision_score(pos[keep], s[keep])
            assert average_precision(s, pos, ign, "lzt") == pytest.approx(expected, abs=1e-12)
        else:
            assert math.isnan(average_precision(s, pos, ign, "lzt"))
        assert average_precision(s, pos, ign, "comc") == pytest.approx(comc_ap(s, ternary[:, c]), abs=1e-12)
        assert average_precision(s, pos, ign, "mkt") == pytest.approx(mkt_ap(s, ternary[:, c]), abs=1e-6)
    result = compute_metrics(scores, positives, [f"l{c}" for c in range(10)], ignored=ignored, convention="mkt")
    assert result.mean_ap == pytest.approx(np.mean([mkt_ap(scores[:, c], ternary[:, c]) for c in range(10)]), abs=1e-6)
    assert result.map_by_convention["comc"] == pytest.approx(np.mean([comc_ap(scores[:, c], ternary[:, c]) for c in range(10)]), abs=1e-12)
    with_positives = [c for c in range(10) if positives[:, c].any()]
    lzt_map = np.mean([average_precision_score(positives[~ignored[:, c], c], scores[~ignored[:, c], c]) for c in with_positives])
    assert result.map_by_convention["lzt"] == pytest.approx(lzt_map, abs=1e-12)
    assert result.convention is Convention.mkt and result.ignored == int(ignored.sum())


def test_on_binary_targets_without_ties_the_peers_map_is_lzts_scaled_by_labels_with_positives():
    positives, _, _, rng = ternary_targets(2)
    scores = positives * 0.4 + rng.normal(size=positives.shape)  # continuous: no ties
    result = compute_metrics(scores, positives, [f"l{c}" for c in range(10)])
    share = result.labels_with_positives / 10
    assert share == 0.9
    assert result.map_by_convention["comc"] == pytest.approx(result.mean_ap * share, abs=1e-9)
    assert result.map_by_convention["mkt"] == pytest.approx(result.mean_ap * share, abs=1e-7)  # float32 scores


def test_a_tie_block_is_one_threshold_for_lzt_and_ranks_for_the_peers():
    scores, positives = np.array([1.0, 1.0, 0.0]), np.array([False, True, False])
    # lzt: at the threshold 1.0, precision 1/2 and recall 1 -> AP 0.5, whatever the order.
    assert average_precision(scores, positives) == 0.5
    # The peers rank the tied pair in their sort's order: the positive first or second.
    assert average_precision(scores, positives, convention="comc") == pytest.approx(comc_ap(scores, np.where(positives, 1, -1)), abs=1e-12)
    assert average_precision(scores, positives, convention="mkt") in (0.5, 1.0)


def test_the_comc_convention_counts_ignored_pairs_as_negatives_and_the_others_drop_them():
    scores = np.array([0.9, 0.8, 0.1])
    positives, ignored = np.array([False, True, False]), np.array([True, False, False])
    assert average_precision(scores, positives, ignored) == 1.0  # the ignored image above is dropped
    assert average_precision(scores, positives, ignored, "mkt") == 1.0
    assert average_precision(scores, positives, ignored, "comc") == pytest.approx(0.5, abs=1e-7)  # counted as a negative


def test_several_k_come_from_one_ranking_and_equal_separate_runs():
    positives, ignored, _, rng = ternary_targets(3, ignored_share=0.1)
    scores = rng.normal(size=positives.shape)
    labels = [f"l{c}" for c in range(10)]
    both = compute_metrics(scores, positives, labels, k=[3, 5], ignored=ignored)
    for k in (3, 5):
        alone = compute_metrics(scores, positives, labels, k=k, ignored=ignored)
        assert both.at(k) == alone.topk[0]
    assert both.k == 3 and both.cp == both.at(3).cp
    assert set(both.as_dict()) >= {"CP@3", "OF1@3", "CP@5", "OF1@5", "mAP", "convention", "mAP_by_convention"}


def test_a_prediction_on_an_ignored_pair_is_neither_right_nor_wrong():
    scores = np.array([[0.9, 0.1], [0.8, 0.7]])
    positives = np.array([[False, True], [True, False]])
    ignored = np.array([[True, False], [False, False]])
    figures = topk_metrics(scores, positives, 1, ignored)
    # Image 0 predicts label 0 (ignored: not counted); image 1 predicts label 0 (right).
    assert figures.op == 1.0 and figures.or_ == 0.5


# --- datasets with negatives ---------------------------------------------------------------------


def write_lines(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_ternary_lines_leave_unlisted_labels_unannotated(tmp_path):
    names = ["cat", "dog", "bird", "car"]
    dataset = write_lines(tmp_path / "set.jsonl", [
        {"file": "a.jpg", "labels": ["cat"], "negatives": ["dog"]},  # bird, car: unannotated
        {"file": "b.jpg", "labels": ["dog"]},  # binary: everything else negative
        {"file": "c.jpg", "labels": ["Birds", "cat"], "negatives": ["cat", "unicorn"]},  # cat both ways
    ])
    labelled = read_labelled_set(dataset, names)
    assert labelled.unknown == {"unicorn": 1} and labelled.conflicts == [(2, "cat")]
    positives, ignored = labelled.targets(names, Unannotated.ignore)
    assert positives.tolist() == [[True, False, False, False], [False, True, False, False], [False, False, True, False]]
    assert ignored.tolist() == [[False, False, True, True], [False, False, False, False], [True, True, False, True]]
    positives, ignored = labelled.targets(names, "negative")
    assert ignored.tolist() == [[False] * 4, [False] * 4, [True, False, False, False]]  # the conflict stays unknown


def test_dataset_labels_match_by_synonym_compact_spelling_and_plural(tmp_path):
    vocabulary = load_vocabulary("voc")
    dataset = write_lines(tmp_path / "voc.jsonl", [{"file": "a.jpg", "labels": ["diningtable", "pottedplant", "TV", "Dogs", "sofa"]}])
    assert read_labelled_set(dataset, vocabulary).labels == [["dining table", "potted plant", "tv monitor", "dog", "sofa"]]
    matcher = LabelMatcher(load_vocabulary(["glass", "wine glass", "mouse: computer mouse"]))
    assert matcher.match("Wine-Glass") == "wine glass" and matcher.match("glasses") == "glass" and matcher.match("mice") == "mouse"
    assert matcher.match("unicorn") is None


def test_a_malformed_dataset_line_is_a_one_line_error_naming_it(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"file": "a.jpg", "labels": ["cat"]}\n{"file": "b.jpg", "labels": "cat"}\n')
    with pytest.raises(LztError, match=r"bad.jsonl:2: expected"):
        read_labelled_set(path, ["cat"])


# --- thresholds ----------------------------------------------------------------------------------


def brute_force_best_f1(scores: np.ndarray, positives: np.ndarray) -> float:
    best = 0.0
    for threshold in np.unique(scores):
        kept = scores >= threshold
        tp = int((kept & positives).sum())
        best = max(best, 2 * tp / (kept.sum() + positives.sum()))
    return best


def test_fitted_thresholds_reach_the_best_f1_a_brute_force_search_finds():
    positives, ignored, _, rng = ternary_targets(4, shape=(120, 10), ignored_share=0.1)
    positives[:2, 7] = True
    positives[2:, 7] = False  # two positives: below min_positives, on the fallback
    scores = np.round(positives * 0.8 + rng.normal(scale=0.7, size=positives.shape), 2).astype(np.float32)
    labels = [f"l{c}" for c in range(10)]
    fitted = fit_thresholds(scores, positives, labels, ignored=ignored, min_positives=3)
    known = ~ignored
    pooled = brute_force_best_f1(scores[known].astype(np.float64), positives[known])
    assert best_cut(scores[known].astype(np.float64), positives[known]).f1 == pytest.approx(pooled, abs=1e-12)
    for c in range(10):
        s, pos = scores[known[:, c], c], positives[known[:, c], c]
        kept = s >= np.float32(fitted.values[c])  # as `lzt tag` compares: float32 scores and thresholds
        tp = int((kept & pos).sum())
        f1 = 2 * tp / (kept.sum() + pos.sum()) if kept.sum() + pos.sum() else 0.0
        assert f1 == pytest.approx(fitted.f1[c], abs=1e-12), c
        if pos.sum() >= 3:
            assert fitted.fitted[c] and f1 == pytest.approx(brute_force_best_f1(s.astype(np.float64), pos), abs=1e-12)
            dropped = s[~kept]
            assert (dropped.size == 0 or fitted.values[c] > dropped.max()) and fitted.values[c] <= s[kept].min()
        else:
            assert not fitted.fitted[c] and fitted.values[c] == fitted.fallback
    assert not fitted.fitted[3] and not fitted.fitted[7]


def test_the_thresholds_file_is_what_lzt_tag_reads(tmp_path):
    from lzt.config import read_thresholds

    positives, _, _, rng = ternary_targets(5)
    scores = positives + rng.normal(size=positives.shape)
    labels = [f"label {c}" for c in range(10)]
    fitted = fit_thresholds(scores, positives, labels)
    fitted.save(tmp_path / "t.txt", comment="fitted in a test\nsecond line")
    text = (tmp_path / "t.txt").read_text()
    assert text.startswith("# fitted in a test\n# second line\n")
    assert read_thresholds(tmp_path / "t.txt", labels) == fitted.as_dict()
    with pytest.raises(LztError, match="no positive"):
        fit_thresholds(scores, np.zeros_like(positives), labels)
