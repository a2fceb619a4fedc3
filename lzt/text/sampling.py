"""Which labels each corpus sentence should mention: CoMC's label-set sampling with coverage."""

from __future__ import annotations

import random
from typing import Sequence

MAX_LABELS_PER_SET = 5


def sample_label_sets(
    n_labels: int, total: int, seed: int, min_per_label: int, max_k: int = MAX_LABELS_PER_SET
) -> list[list[int]]:
    """CoMC's sampling (k uniform in 1..max_k, k distinct labels) with guaranteed coverage.

    First `min_per_label` rounds each walk a fresh permutation of the whole vocabulary in chunks
    of random size, so every label appears at least that often whatever the vocabulary size;
    then CoMC's uniform sampling fills up to `total`. The list is a prefix-stable function of
    the arguments: asking for more sets later extends it.
    """
    rng = random.Random(seed)
    max_k = max(1, min(max_k, n_labels))
    sets: list[list[int]] = []
    for _ in range(min_per_label):
        order = list(range(n_labels))
        rng.shuffle(order)
        start = 0
        while start < n_labels:
            k = rng.randint(1, max_k)
            sets.append(order[start : start + k])
            start += k
    while len(sets) < total:
        sets.append(rng.sample(range(n_labels), rng.randint(1, max_k)))
    return sets



def topup_label_sets(
    counts: Sequence[int], min_per_label: int, seed: int, round_: int, max_k: int = MAX_LABELS_PER_SET
) -> list[list[int]]:
    """Extra label sets for labels with fewer than `min_per_label` verified sentences: one set
    per missing sentence, each led by the short label plus 0..max_k-1 random companions (CoMC's
    set sizes). A pure function of its arguments, so a resumed run plans the same round."""
    rng = random.Random(f"{seed}|topup|{round_}")
    n_labels = len(counts)
    max_k = max(1, min(max_k, n_labels))
    sets = []
    for label, count in enumerate(counts):
        for _ in range(max(0, min_per_label - count)):
            others = [j for j in range(n_labels) if j != label]
            sets.append([label, *rng.sample(others, rng.randint(1, max_k) - 1)])
    return sets

