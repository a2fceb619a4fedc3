"""The library's formulas against independent re-derivations (COMC.md sections 2, 3 and 5).

Every expected value here is recomputed from the written formula with plain loops / numpy in
float64, never by calling the lzt helper under test, so a shared mistake cannot hide.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_score, recall_score

from lzt.classifier import Classifier, TrainConfig, train_classifier
from lzt.classifier.training import learning_rate, ranking_loss
from lzt.config import MappingConfig, ScoringConfig
from lzt.eval.metrics import average_precision, compute_metrics
from lzt.tagging.calibration import calibrate
from lzt.tagging.mapping import CorpusIndex, map_features, map_through_keys, map_through_neighbours
from lzt.tagging.scoring import Scorer, fuse_scores


def _unit_rows(rows: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def _map_one(f: np.ndarray, keys: np.ndarray, temperature: float, mix: float) -> np.ndarray:
    """COMC.md s.3 for one image, by loops: w = softmax(t f K^T), m = normalise(w K), z = mix f + (1-mix) m."""
    logits = [temperature * sum(f[d] * key[d] for d in range(len(f))) for key in keys]
    weights = _softmax(logits)
    mapped = [sum(weights[i] * keys[i][d] for i in range(len(keys))) for d in range(len(f))]
    norm = math.sqrt(sum(v * v for v in mapped))
    return np.array([mix * f[d] + (1.0 - mix) * mapped[d] / norm for d in range(len(f))])


# --- section 3: the modality-gap mapping ---------------------------------------------------------


def test_mapping_config_defaults_are_the_papers() -> None:
    config = MappingConfig()
    assert (config.method, config.temperature, config.mix) == ("anchors", 100.0, 0.7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_anchor_mapping_matches_loop_derivation(dtype: torch.dtype) -> None:
    features = _unit_rows(5, 16, seed=1)
    anchors = _unit_rows(7, 16, seed=2)
    expected = np.stack([_map_one(f, anchors, 100.0, 0.7) for f in features])

    got = map_through_keys(torch.tensor(features, dtype=dtype), torch.tensor(anchors, dtype=dtype), 100.0, 0.7)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(got.double().numpy(), expected, atol=tol)
    # Same thing through the configured entry point, with the paper's defaults.
    via_config = map_features(
        torch.tensor(features, dtype=dtype), MappingConfig(), torch.tensor(anchors, dtype=dtype), None
    )
    np.testing.assert_allclose(via_config.double().numpy(), expected, atol=tol)


def test_anchor_mapping_is_not_renormalised() -> None:
    # z = 0.7 f + 0.3 m with f, m unit and not parallel has norm < 1: the paper keeps it so.
    features = torch.tensor(_unit_rows(4, 16, seed=3))
    anchors = torch.tensor(_unit_rows(6, 16, seed=4))
    norms = map_through_keys(features, anchors, 100.0, 0.7).norm(dim=1)
    assert bool((norms < 1.0 - 1e-3).all())


def test_no_mapping_returns_features_unchanged() -> None:
    features = torch.tensor(_unit_rows(3, 8, seed=5))
    out = map_features(features, MappingConfig(method="none"), torch.tensor(_unit_rows(4, 8, seed=6)), None)
    assert torch.equal(out, features)


def test_corpus_mapping_matches_brute_force_neighbours() -> None:
    features = _unit_rows(6, 24, seed=7)
    rng = np.random.default_rng(8)
    # Corpus rows of varied length: the index must normalise them (cosine, not raw inner product).
    corpus = _unit_rows(200, 24, seed=9) * rng.uniform(0.5, 3.0, size=(200, 1))
    unit_corpus = corpus / np.linalg.norm(corpus, axis=1, keepdims=True)
    k, temperature, mix = 10, 50.0, 0.7

    expected = []
    for f in features:
        similarity = [float(np.dot(f, key)) for key in unit_corpus]
        nearest = sorted(range(len(similarity)), key=lambda i: -similarity[i])[:k]
        expected.append(_map_one(f, unit_corpus[nearest], temperature, mix))
    expected = np.stack(expected)

    index = CorpusIndex(torch.tensor(corpus, dtype=torch.float32))
    config = MappingConfig(method="corpus", temperature=temperature, mix=mix, neighbours=k)
    got = map_features(torch.tensor(features, dtype=torch.float32), config, torch.zeros(1, 24), index)
    np.testing.assert_allclose(got.double().numpy(), expected, atol=1e-5)

    # The same through map_through_neighbours with the brute-force neighbour sets.
    keys = np.stack([unit_corpus[np.argsort(-(unit_corpus @ f))[:k]] for f in features])
    direct = map_through_neighbours(torch.tensor(features), torch.tensor(keys), temperature, mix)
    np.testing.assert_allclose(direct.numpy(), expected, atol=1e-12)


def test_corpus_mapping_with_more_neighbours_than_texts_uses_them_all() -> None:
    features = _unit_rows(3, 12, seed=10)
    corpus = _unit_rows(5, 12, seed=11)
    index = CorpusIndex(torch.tensor(corpus, dtype=torch.float32))
    config = MappingConfig(method="corpus", temperature=100.0, mix=0.7, neighbours=64)
    got = map_features(torch.tensor(features, dtype=torch.float32), config, torch.zeros(1, 12), index)
    # With every text a neighbour, corpus mapping is anchor mapping with the corpus as keys.
    expected = np.stack([_map_one(f, corpus, 100.0, 0.7) for f in features])
    np.testing.assert_allclose(got.double().numpy(), expected, atol=1e-5)


def test_corpus_mapping_without_corpus_is_an_error() -> None:
    with pytest.raises(ValueError, match="corpus"):
        map_features(torch.zeros(1, 4), MappingConfig(method="corpus"), torch.zeros(1, 4), None)


# --- section 3: the local branch and the final fusion -------------------------------------------


def _fused_by_loops(global_scores: np.ndarray, token_scores: np.ndarray, local_weight: float) -> np.ndarray:
    """final = (1 - w) s_global + w s_local, s_local[c] = max over tokens t of token_scores[t, c]."""
    batch, tokens, classes = token_scores.shape
    out = np.empty((batch, classes))
    for b in range(batch):
        for c in range(classes):
            local = max(token_scores[b, t, c] for t in range(tokens))
            out[b, c] = (1.0 - local_weight) * global_scores[b, c] + local_weight * local
    return out


@pytest.mark.parametrize("local_weight", [0.5, 0.0, 1.0, 0.3])
def test_fuse_scores_matches_loop_derivation(local_weight: float) -> None:
    rng = np.random.default_rng(20)
    global_scores, token_scores = rng.normal(size=(3, 5)), rng.normal(size=(3, 7, 5))
    got = fuse_scores(torch.tensor(global_scores), torch.tensor(token_scores), local_weight)
    np.testing.assert_allclose(got.numpy(), _fused_by_loops(global_scores, token_scores, local_weight), atol=1e-12)


class _NoEncoder:
    """Scorer.score works on embeddings; the encoder only has to say where and what it offers."""

    device = torch.device("cpu")

    def has_local_branch(self) -> bool:
        return True


def test_scorer_maps_every_token_then_fuses_as_the_paper() -> None:
    # COMC.md s.3: the global embedding and every token are mapped (w, m, z as above) and scored
    # by W; s_local = max over tokens; final = 0.5 s_global + 0.5 s_local.
    dim, classes, tokens = 12, 4, 6
    weight = np.random.default_rng(21).normal(size=(classes, dim))
    anchors = _unit_rows(classes, dim, seed=22)
    global_features = _unit_rows(2, dim, seed=23)
    token_features = _unit_rows(2 * tokens, dim, seed=24).reshape(2, tokens, dim)

    def score(f: np.ndarray) -> np.ndarray:
        z = _map_one(f, anchors, 100.0, 0.7)
        return np.array([sum(weight[c, d] * z[d] for d in range(dim)) for c in range(classes)])

    s_global = np.stack([score(f) for f in global_features])
    s_tokens = np.stack([[score(t) for t in image] for image in token_features])
    expected = _fused_by_loops(s_global, s_tokens, 0.5)

    classifier = Classifier(labels=[f"l{c}" for c in range(classes)], synonyms={}, model="m", pretrained="p",
                            embed_dim=dim, weight=torch.tensor(weight), anchors=torch.tensor(anchors))
    scorer = Scorer(_NoEncoder(), classifier, ScoringConfig())
    got = scorer.score(torch.tensor(global_features), torch.tensor(token_features))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-9)


# --- section 2: the loss, the schedule, the training settings ------------------------------------


def _ranking_loss_by_loops(scores: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """sum over (p, n) of max(0, 1 - s_p + s_n), mean over the batch; and its gradient d/ds."""
    batch, classes = scores.shape
    loss = 0.0
    grad = np.zeros_like(scores)
    for b in range(batch):
        for p in range(classes):
            if not targets[b, p]:
                continue
            for n in range(classes):
                if targets[b, n]:
                    continue
                margin = 1.0 - scores[b, p] + scores[b, n]
                if margin > 0:
                    loss += margin
                    grad[b, p] -= 1.0
                    grad[b, n] += 1.0
    return loss / batch, grad / batch


def _varied_targets(classes: int) -> np.ndarray:
    """Positive counts 1, 5, 2, 0 (a sample with nothing to rank) and C-1."""
    targets = np.zeros((5, classes), dtype=np.int64)
    targets[0, [3]] = 1
    targets[1, [0, 2, 4, 6, 8]] = 1
    targets[2, [1, 9]] = 1
    targets[4, 1:] = 1
    return targets


def test_ranking_loss_and_gradient_match_loops() -> None:
    classes = 10
    targets = _varied_targets(classes)
    # Spread of ~1 so that some pairs are inside the margin and some are not.
    scores = np.random.default_rng(12).normal(scale=1.0, size=(5, classes))
    expected_loss, expected_grad = _ranking_loss_by_loops(scores, targets)

    tensor = torch.tensor(scores, requires_grad=True)
    loss = ranking_loss(tensor, torch.tensor(targets))
    loss.backward()
    assert loss.item() == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(tensor.grad.numpy(), expected_grad, atol=1e-12)


def test_ranking_loss_counts_every_pair() -> None:
    # All scores equal: every (p, n) pair costs exactly 1, so loss = mean of P * (C - P).
    classes = 10
    targets = _varied_targets(classes)
    pairs = [int(t.sum()) * (classes - int(t.sum())) for t in targets]
    loss = ranking_loss(torch.zeros(5, classes), torch.tensor(targets))
    assert loss.item() == pytest.approx(sum(pairs) / 5)


def test_ranking_loss_is_zero_beyond_the_margin() -> None:
    targets = torch.tensor(_varied_targets(10)[:4])  # 1, 5, 2 and 0 positives
    scores = targets.double() * 1.5  # positives 1.5 above every negative: past the margin of 1
    scores.requires_grad_(True)
    loss = ranking_loss(scores, targets)
    loss.backward()
    assert loss.item() == 0.0
    assert bool((scores.grad == 0).all())


def test_train_config_defaults_are_the_reference_settings() -> None:
    config = TrainConfig()
    assert (config.epochs, config.batch_size, config.lr, config.weight_decay) == (20, 512, 1e-3, 5e-4)
    assert (config.noise_std, config.warmup_epochs, config.warmup_lr) == (0.1, 1, 1e-5)


def _dassl_lr(epoch: int, epochs: int = 20, lr: float = 1e-3, warmup: int = 1, warmup_lr: float = 1e-5) -> float:
    """The reference schedule (Dassl ConstantWarmupScheduler around CosineAnnealingLR(T_max=epochs)),
    stepped once per epoch. The cosine successor is only stepped once the warm-up is over, so the
    first epoch after warm-up runs at the full lr and epoch e >= warmup uses cos(pi (e - warmup) / T)."""
    if epoch < warmup:
        return warmup_lr
    return 0.5 * lr * (1.0 + math.cos(math.pi * (epoch - warmup) / epochs))


def _dassl_lr_by_torch(epochs: int = 20) -> list[float]:
    """The same schedule replayed with torch's own schedulers and Dassl's warm-up rule: epoch 0 at
    the constant lr; at the end of each later epoch, the cosine scheduler steps."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimiser = torch.optim.Adam([param], lr=1e-3)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    rates = []
    for epoch in range(epochs):
        if epoch == 0:
            for group in optimiser.param_groups:
                group["lr"] = 1e-5
        elif epoch == 1:  # Dassl hands back the successor's last lr, still the base lr
            for group in optimiser.param_groups:
                group["lr"] = cosine.get_last_lr()[0]
        rates.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        if epoch >= 1:
            cosine.step()
    return rates


def test_reference_schedule_closed_form_matches_torch_replay() -> None:
    assert _dassl_lr_by_torch() == pytest.approx([_dassl_lr(e) for e in range(20)], rel=1e-9)


def test_learning_rate_schedule_matches_reference() -> None:
    config = TrainConfig()
    for epoch in range(config.epochs):
        assert learning_rate(epoch, config) == pytest.approx(_dassl_lr(epoch), rel=1e-12), epoch


def test_training_applies_the_schedule_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    original_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    config = TrainConfig(epochs=5, batch_size=8)
    features = torch.tensor(_unit_rows(16, 6, seed=13), dtype=torch.float32)
    targets = torch.zeros(16, 3)
    targets[torch.arange(16), torch.arange(16) % 3] = 1
    train_classifier(features, targets, config)
    expected = [_dassl_lr(e, epochs=5) for e in range(5) for _ in range(2)]  # 2 steps per epoch
    assert seen == pytest.approx(expected, rel=1e-12)


# --- section 5: calibration ------------------------------------------------------------------------


def _zscore_rows(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i, row in enumerate(x):
        mean = sum(row) / len(row)
        std = math.sqrt(sum((v - mean) ** 2 for v in row) / len(row))  # population std
        out[i] = [(v - mean) / std for v in row]
    return out


def test_calibration_matches_loop_derivation() -> None:
    scores = np.random.default_rng(14).normal(loc=2.0, scale=3.0, size=(9, 7))
    per_image = _zscore_rows(scores)
    per_image_then_label = _zscore_rows(per_image.T).T
    tensor = torch.tensor(scores)
    np.testing.assert_allclose(calibrate(tensor, "none").numpy(), scores)
    np.testing.assert_allclose(calibrate(tensor, "image").numpy(), per_image, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(calibrate(tensor, "image+label").numpy(), per_image_then_label, rtol=1e-5, atol=1e-5)


def test_per_label_calibration_leaves_a_single_image_alone() -> None:
    scores = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64)
    np.testing.assert_allclose(calibrate(scores, "image+label").numpy(), _zscore_rows(scores.numpy()), atol=1e-5)


def test_unknown_calibration_is_an_error() -> None:
    with pytest.raises(ValueError):
        calibrate(torch.zeros(2, 2), "label")


# --- metrics against scikit-learn ------------------------------------------------------------------


def _scores_and_targets(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = (rng.random((60, 8)) < 0.25).astype(int)
    targets[:, 5] = 0  # a label without positives: NaN AP, left out of the mean
    targets[0, 6] = 1  # a label with a single positive
    targets[1:, 6] = 0
    # Rounded scores: many ties, which must form one threshold each.
    scores = np.round(targets * 0.6 + rng.normal(scale=0.5, size=targets.shape), 1)
    return scores, targets


def test_average_precision_matches_sklearn() -> None:
    scores, targets = _scores_and_targets(seed=15)
    for c in range(targets.shape[1]):
        if targets[:, c].sum() == 0:
            assert math.isnan(average_precision(scores[:, c], targets[:, c]))
            continue
        expected = average_precision_score(targets[:, c], scores[:, c])
        assert average_precision(scores[:, c], targets[:, c]) == pytest.approx(expected, abs=1e-12), c


def test_mean_ap_averages_labels_with_positives() -> None:
    scores, targets = _scores_and_targets(seed=16)
    labels = [f"l{c}" for c in range(targets.shape[1])]
    with_positives = [c for c in range(targets.shape[1]) if targets[:, c].any()]
    expected = np.mean([average_precision_score(targets[:, c], scores[:, c]) for c in with_positives])
    result = compute_metrics(scores, targets, labels)
    assert result.mean_ap == pytest.approx(expected, abs=1e-12)
    assert math.isnan(result.ap[5])
    assert list(result.positives) == list(targets.sum(axis=0))


def _topk_by_sorting(scores: np.ndarray, k: int) -> np.ndarray:
    predicted = np.zeros_like(scores, dtype=int)
    for i, row in enumerate(scores):
        for c in sorted(range(len(row)), key=lambda j: -row[j])[:k]:
            predicted[i, c] = 1
    return predicted


@pytest.mark.parametrize("k", [1, 3])
def test_topk_metrics_match_sklearn(k: int) -> None:
    rng = np.random.default_rng(17)
    targets = (rng.random((50, 8)) < 0.3).astype(int)
    targets[:, 2] = 0  # no positives: counts in CP (as 0 or its precision), not in CR
    scores = targets * 0.8 + rng.normal(scale=0.6, size=targets.shape)  # continuous: no ties
    scores[:, 4] -= 100.0  # never in anyone's top-k: CP counts it as 0 (zero_division=0)
    labels = [f"l{c}" for c in range(8)]

    predicted = _topk_by_sorting(scores, k)
    has_pos = targets.sum(axis=0) > 0
    cp = precision_score(targets, predicted, average="macro", zero_division=0)
    # lzt's CR averages only the labels that have positives (metrics.py docstring).
    cr = recall_score(targets[:, has_pos], predicted[:, has_pos], average="macro", zero_division=0)
    op = precision_score(targets, predicted, average="micro", zero_division=0)
    or_ = recall_score(targets, predicted, average="micro", zero_division=0)

    result = compute_metrics(scores, targets, labels, k=k)
    assert result.k == k and result.images == 50
    assert result.cp == pytest.approx(cp, abs=1e-12)
    assert result.cr == pytest.approx(cr, abs=1e-12)
    assert result.op == pytest.approx(op, abs=1e-12)
    assert result.or_ == pytest.approx(or_, abs=1e-12)
    assert result.cf1 == pytest.approx(2 * cp * cr / (cp + cr), abs=1e-12)
    assert result.of1 == pytest.approx(2 * op * or_ / (op + or_), abs=1e-12)
