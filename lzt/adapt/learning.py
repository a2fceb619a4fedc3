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
learning from partial labels, with the down-weighting of Cole et al. 2021): a reviewer who
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
from dataclasses import replace

import torch

from lzt.adapt.evidence import Evidence
from lzt.classifier.artifact import Classifier
from lzt.config import AdaptConfig, Mapping, MappingConfig
from lzt.errors import UsageError
from lzt.tagging.mapping import CorpusIndex, map_features
from lzt.version import __version__


def _pair_hinges(scores: torch.Tensor, anchor: torch.Tensor, weights: torch.Tensor, anchor_above: bool) -> torch.Tensor:
    """Weighted hinges between each row's `anchor` labels (few) and every label of that row:
    anchor above the others when `anchor_above` (max(0, 1 - s_anchor + s_other)), else below
    (max(0, 1 - s_other + s_anchor)). weights (N, C): each other label's weight.

    Pairs are formed as (N, A, C), A the most anchors in a row, not (N, C, C): memory stays
    linear in the vocabulary size (as lzt.classifier.training.ranking_loss)."""
    most = int(anchor.sum(dim=1).max().item()) if anchor.numel() else 0
    if most == 0:
        return scores.sum() * 0.0
    fill = -math.inf if anchor_above else math.inf  # never chosen by topk below, unless a row runs out
    picked = torch.where(anchor, scores, torch.full_like(scores, fill))
    values = picked.topk(most, dim=1, largest=anchor_above).values  # (N, A)
    valid = torch.isfinite(values)
    values = torch.where(valid, values, torch.zeros_like(values))
    if anchor_above:
        hinge = torch.relu(1.0 - values.unsqueeze(2) + scores.unsqueeze(1))
    else:
        hinge = torch.relu(1.0 - scores.unsqueeze(1) + values.unsqueeze(2))
    return (hinge * valid.unsqueeze(2) * weights.unsqueeze(1)).sum()


def evidence_loss(scores: torch.Tensor, targets: torch.Tensor, unknown_weight: float) -> torch.Tensor:
    """The ranking loss of (N, C) scores against (N, C) targets (1 confirmed, -1 rejected, 0
    unannotated), summed over photos (see the module's docstring for the pairs and weights)."""
    confirmed, rejected, unknown = targets > 0, targets < 0, targets == 0
    below_confirmed = rejected.float() + unknown_weight * unknown.float()
    loss = _pair_hinges(scores, confirmed, below_confirmed, anchor_above=True)
    if unknown_weight > 0:
        loss = loss + _pair_hinges(scores, rejected, unknown_weight * unknown.float(), anchor_above=False)
    return loss


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
    """Full-batch Adam from `base`, cosine learning rate: the photos are few, every step sees them all."""
    scale = base.pow(2).sum(dim=1).mean().clamp_min(1e-12)  # mean squared row norm of W0
    # Adam moves each entry by about lr per step: give it in the units of W0's entries.
    step = config.lr * float(scale.sqrt()) / math.sqrt(base.shape[1])
    weight = base.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([weight], lr=step)
    for n in range(config.steps):
        for group in optimiser.param_groups:
            group["lr"] = 0.5 * step * (1.0 + math.cos(math.pi * n / config.steps))
        loss = evidence_loss(features @ weight.T, targets, config.unknown_weight) / targets.shape[1]
        loss = loss + 0.5 * config.strength * (weight - base).pow(2).sum() / scale
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return weight.detach()
