"""Adapting a text-trained classifier to photos a user confirmed (`lzt adapt`).

The method: a few hundred full-batch steps of training the classifier's own linear layer W on the
confirmed photos' embeddings, *after the modality-gap mapping* (the features W scores when
tagging), starting from the text-trained weights W0 and pulled back toward them:

    minimise  (1/C) sum over photos i of rank_loss(W z_i)  +  (strength / 2) |W - W0|^2 / r^2

where z_i is photo i mapped as `tag` maps it (MappingConfig), C the number of labels and r^2 the
mean squared row norm of W0 (so that `strength` means the same for every model). The ranking loss is
CoMC's double ranking loss max(0, 1 - s_p + s_n), over the pairs a photo's evidence supports:

    confirmed label p above rejected label n          weight 1
    confirmed label p above an unannotated label n    weight `unknown_weight`
    an unannotated label p above rejected label n     weight `unknown_weight`

An unannotated label is assumed, weakly, not to apply ("assume negative", the usual baseline of
learning from partial labels, down-weighted as in Cole et al. 2021, "weak assume negative"): a reviewer who
accepted `dog` on a photo says little about `cat` there. The loss is summed over photos, not
averaged, so that the evidence outweighs the pull toward W0 in proportion to how much of it there
is: one photo per label moves the weights a little, dozens move them a lot. With no evidence the
minimiser is W0 itself, returned unchanged.

Why this and not a cache of image embeddings (Tip-Adapter): the result is an ordinary classifier,
the same (C, D) weight in the same file format, so every path that scores (`Tagger.tag`,
`score_embeddings`, the sharded engines, re-scoring stored embeddings) uses it unchanged, with no
new tensors to load and nothing to keep in step. The price: the global image embedding alone is
trained on; the local branch (per-patch scores) uses the adapted weights as they come.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from lzt.adapt.evidence import Evidence
from lzt.classifier.artifact import Classifier
from lzt.config import AdaptConfig, Mapping, MappingConfig
from lzt.errors import UsageError
from lzt.tagging.mapping import CorpusIndex, map_features
from lzt.version import __version__

# Pair hinges are formed as (rows, anchors, labels) blocks; rows are split so that a block holds
# at most this many elements (64 MB in float32), whatever the evidence and vocabulary sizes.
_BLOCK_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class _Block:
    """Rows of the evidence and, in each, the few `anchor` labels ranked against every label
    with `weights` (rows, C): above them (`anchor_above`) or below them."""

    rows: torch.Tensor  # indices into the evidence
    anchor: torch.Tensor  # (rows, C) bool
    weights: torch.Tensor  # (rows, C) float
    anchor_above: bool
    most: int  # the most anchors in one of its rows (its last: rows are sorted by anchor count)


def _pair_hinges(scores: torch.Tensor, block: _Block) -> torch.Tensor:
    """Sum of weight * max(0, 1 - s_high + s_low) over a block's pairs: each anchor label above
    (or below) every other label of its row. Pairs are formed as (rows, A, C), A the most anchors
    in a row, never (rows, C, C) (as lzt.classifier.training.ranking_loss)."""
    most = block.most  # known when the block was made: no device sync on every training step
    if most == 0:
        return scores.sum() * 0.0
    fill = -math.inf if block.anchor_above else math.inf  # chosen by topk only where a row runs out
    picked = torch.where(block.anchor, scores, torch.full_like(scores, fill))
    values = picked.topk(most, dim=1, largest=block.anchor_above).values  # (rows, A)
    valid = torch.isfinite(values)
    values = torch.where(valid, values, torch.zeros_like(values))
    if block.anchor_above:
        hinge = torch.relu(1.0 - values.unsqueeze(2) + scores.unsqueeze(1))
    else:
        hinge = torch.relu(1.0 - scores.unsqueeze(1) + values.unsqueeze(2))
    return (hinge * valid.unsqueeze(2) * block.weights.unsqueeze(1)).sum()


def _blocks(targets: torch.Tensor, unknown_weight: float) -> list[_Block]:
    """The pairs of the loss as blocks of bounded size. A confirmed label is ranked above the
    rejected and unannotated ones (few confirmed per photo: they are the anchors); an unannotated
    label above a rejected one, anchored on whichever side is smaller in that photo (a labelled
    photo rejects nearly every label, a reviewed one leaves nearly every label unannotated)."""
    confirmed, rejected, unknown = targets > 0, targets < 0, targets == 0
    below_confirmed = rejected.float() + unknown_weight * unknown.float()
    parts = [(confirmed.any(dim=1), confirmed, below_confirmed, True)]
    if unknown_weight > 0:
        fewer_rejected = rejected.sum(dim=1) <= unknown.sum(dim=1)
        both = rejected.any(dim=1) & unknown.any(dim=1)
        parts += [
            (both & fewer_rejected, rejected, unknown_weight * unknown.float(), False),
            (both & ~fewer_rejected, unknown, unknown_weight * rejected.float(), True),
        ]
    blocks = []
    for use, anchor, weights, above in parts:
        rows = torch.nonzero(use).flatten()
        if not len(rows):
            continue
        sorted_counts, order = anchor[rows].sum(dim=1).sort()  # rows with as many anchors together: little padding
        rows, counts = rows[order], sorted_counts.tolist()
        start = 0
        while start < len(rows):
            stop = start + 1  # a block's widest row is its last
            while stop < len(rows) and (stop + 1 - start) * counts[stop] * targets.shape[1] <= _BLOCK_ELEMENTS:
                stop += 1
            chunk = rows[start:stop]
            blocks.append(_Block(chunk, anchor[chunk], weights[chunk], above, counts[stop - 1]))
            start = stop
    return blocks


def evidence_loss(scores: torch.Tensor, targets: torch.Tensor, unknown_weight: float) -> torch.Tensor:
    """The ranking loss of (N, C) scores against (N, C) targets (1 confirmed, -1 rejected, 0
    unannotated), summed over photos (see the module's docstring for the pairs and weights)."""
    total = scores.sum() * 0.0
    for block in _blocks(targets, unknown_weight):
        total = total + _pair_hinges(scores[block.rows], block)
    return total


def mapped_features(classifier: Classifier, embeddings: torch.Tensor, mapping: MappingConfig) -> torch.Tensor:
    """Unit image embeddings (N, D) -> what the classifier scores for them when tagging with this
    mapping (lzt.tagging.mapping), float32 on the embeddings' device."""
    features = embeddings.float()
    anchors = classifier.anchors.to(features.device)
    corpus = None
    if mapping.method == Mapping.corpus:
        if classifier.corpus_embeddings is None:
            raise UsageError("`MappingConfig.method` corpus needs a classifier built with its corpus embeddings")
        corpus = CorpusIndex(classifier.corpus_embeddings, use_gpu=features.device.type == "cuda")
    return map_features(features, mapping, anchors, corpus)


def adapt_classifier(
    classifier: Classifier,
    evidence: Evidence,
    *,
    mapping: MappingConfig = MappingConfig(),
    config: AdaptConfig = AdaptConfig(),
    device: str | torch.device = "cpu",
) -> Classifier:
    """A copy of `classifier` whose weights also learned from confirmed photos.

    evidence: the photos' unit image embeddings and what was confirmed or rejected on them
        (`collect_evidence` makes it from files and a Tagger; build one yourself from embeddings
        you already have). Its labels must be the classifier's, in order.
    mapping: the modality-gap mapping the adapted classifier will be used with (`tag`'s default
        unless told otherwise): the photos are trained on as they will be scored.
    config: the pull toward the text-trained weights, the weight of unannotated labels, steps.
    device: where to train (a few hundred full-batch steps: the CPU is fine for thousands of photos).

    The text-trained weights are where training starts and what it is pulled back toward (see the
    module's docstring): with no usable pair of labels in the evidence the weights come back
    unchanged. Everything but the weights is kept; the manifest gains a record in `adaptations`
    (the SHA-256 of the classifier adapted, the counts of evidence, the settings)."""
    if list(evidence.labels) != list(classifier.labels):
        raise UsageError("the evidence's labels are not the classifier's (collect it with this classifier)")
    if evidence.embeddings.shape[1] != classifier.embed_dim:
        raise UsageError(
            f"the evidence holds {evidence.embeddings.shape[1]}-wide embeddings, the classifier expects {classifier.embed_dim}"
        )
    device = torch.device(device)
    base = classifier.weight.float().to(device)
    weight = base.clone()
    if len(evidence) and config.steps and (evidence.targets != 0).any():
        weight = _train(base, mapped_features(classifier, evidence.embeddings.to(device), mapping),
                        evidence.targets.to(device), config)
    record = {
        "base_sha256": classifier.signed_manifest()["sha256"],
        **evidence.counts(),
        "sources": list(evidence.sources),
        "mapping": {"method": mapping.method.value, "temperature": mapping.temperature, "mix": mapping.mix,
                    "neighbours": mapping.neighbours},
        "settings": {"strength": config.strength, "unknown_weight": config.unknown_weight, "steps": config.steps,
                     "lr": config.lr},
        "lzt_version": __version__,
    }
    return replace(
        classifier, weight=weight.cpu().contiguous(), adaptations=[*classifier.adaptations, record], report=None,
    )


def _train(base: torch.Tensor, features: torch.Tensor, targets: torch.Tensor, config: AdaptConfig) -> torch.Tensor:
    """Full-batch Adam from `base`, cosine learning rate: the photos are few, every step sees
    them all (block by block, each block's gradient added before the step: bounded memory)."""
    labels = targets.shape[1]
    scale = base.pow(2).sum(dim=1).mean().clamp_min(1e-12)  # mean squared row norm of W0
    # Adam moves each entry by about lr per step: give it in the units of W0's entries.
    step = config.lr * float(scale.sqrt()) / math.sqrt(base.shape[1])
    blocks = [(features[block.rows], block) for block in _blocks(targets, config.unknown_weight)]
    weight = base.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([weight], lr=step)
    for n in range(config.steps):
        for group in optimiser.param_groups:
            group["lr"] = 0.5 * step * (1.0 + math.cos(math.pi * n / config.steps))
        optimiser.zero_grad(set_to_none=True)
        for block_features, block in blocks:
            (_pair_hinges(block_features @ weight.T, block) / labels).backward()
        (0.5 * config.strength * (weight - base).pow(2).sum() / scale).backward()
        optimiser.step()
    return weight.detach()
