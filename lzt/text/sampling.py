"""Which labels each corpus sentence should mention: CoMC's label-set sampling with coverage,
uniform (`sample_label_sets`) or with the co-occurrences of a vocabulary's knowledge
(`CooccurrenceSampler`, what corpora use)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Sequence

from lzt.vocab.knowledge import COMPANION, UNRELATED

if TYPE_CHECKING:
    from lzt.vocab.knowledge import Knowledge

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
    counts: Sequence[int], min_per_label: int, seed: int, round_: int, max_k: int = MAX_LABELS_PER_SET,
    sampler: CooccurrenceSampler | None = None,
) -> list[list[int]]:
    """Extra label sets for labels with fewer than `min_per_label` verified sentences: one set
    per missing sentence, each led by the short label plus 0..max_k-1 others (CoMC's set sizes):
    drawn by `sampler` (co-occurrence) when given, else uniformly. A pure function of its
    arguments, so a resumed run plans the same round."""
    rng = random.Random(f"{seed}|topup|{round_}")
    n_labels = len(counts)
    max_k = max(1, min(max_k, n_labels))
    sets = []
    for label, count in enumerate(counts):
        for _ in range(max(0, min_per_label - count)):
            if sampler is not None:
                sets.append(sampler.led_by(label, rng))
                continue
            others = [j for j in range(n_labels) if j != label]
            sets.append([label, *rng.sample(others, rng.randint(1, max_k) - 1)])
    return sets



# --- label sets with realistic co-occurrence ----------------------------------------------------

# The share of label sets whose other labels are drawn uniformly (still never a `never` pair), so
# that pairs the knowledge does not list keep appearing, as CoMC's uniform sampling has them all.
RANDOM_SHARE = 0.15
# At most this many labels of a kind in one set: one photo style, one occasion, two activities,
# two weather or time labels (snow at night), three places (a beach, the ocean, the sky).
KIND_LIMITS = {"style": 1, "event": 1, "activity": 2, "weather": 2, "scene": 3}
# A photo is in one place: two places (scene or event labels) share a set only when the knowledge
# lists them as companions (a beach and the ocean, a wedding in a church; not a protest in a
# valley), and so do two weather labels (snow and clouds, not frost under a rainbow).
PLACE_KINDS = ("scene", "event")
SAMPLING_ID = "cooccurrence-v2"


class CooccurrenceSampler:
    """CoMC's label sets (k uniform in 1..max_k) drawn with the co-occurrences of a Knowledge.

    A set starts from a leader label. Its other labels are drawn, one at a time, in proportion to
    how strongly the labels already in the set name them as companions or settings (both
    directions, first-listed strongest), except in a RANDOM_SHARE of sets (and when the set's
    labels name no candidate) where they are drawn uniformly. A label is never added next to a
    label that lists it (or that it lists) under `never`, nor beyond KIND_LIMITS, nor as a second
    place or weather that does not go with the first (PLACE_KINDS), uniform sets included.
    """

    def __init__(self, knowledge: Knowledge, seed: int = 0, max_k: int = MAX_LABELS_PER_SET, random_share: float = RANDOM_SHARE):
        self.knowledge = knowledge
        self.seed = seed
        self.n = len(knowledge)
        self.max_k = max(1, min(max_k, self.n))
        self.random_share = random_share
        self.kinds = [entry.kind for entry in knowledge.entries]

    def _allowed(self, candidate: int, members: list[int]) -> bool:
        if candidate in members:
            return False
        if any(self.knowledge.is_never(candidate, m) for m in members):
            return False
        kind = self.kinds[candidate]
        limit = KIND_LIMITS.get(kind)
        if limit is not None and sum(self.kinds[m] == kind for m in members) >= limit:
            return False
        if kind in PLACE_KINDS:
            return all(self.knowledge.relation(candidate, m) == COMPANION for m in members if self.kinds[m] in PLACE_KINDS)
        if kind == "weather":
            return all(self.knowledge.relation(candidate, m) == COMPANION for m in members if self.kinds[m] == "weather")
        return True

    def _uniform(self, members: list[int], rng: random.Random) -> int | None:
        for _ in range(30):  # rejection sampling: almost every label is allowed
            candidate = rng.randrange(self.n)
            if self._allowed(candidate, members):
                return candidate
        allowed = [c for c in range(self.n) if self._allowed(c, members)]
        return rng.choice(allowed) if allowed else None

    def _fits(self, candidate: int, members: list[int]) -> bool:
        """Plausible with every member: nothing in the knowledge says they are unrelated."""
        return all(self.knowledge.relation(candidate, m) != UNRELATED for m in members)

    def _weighted(self, members: list[int], rng: random.Random) -> int | None:
        weights: dict[int, float] = {}
        for member in members:
            for candidate, weight in self.knowledge.neighbours(member).items():
                weights[candidate] = weights.get(candidate, 0.0) + weight
        candidates = sorted(c for c in weights if self._allowed(c, members) and self._fits(c, members))
        if not candidates:
            return None
        return rng.choices(candidates, [weights[c] for c in candidates])[0]

    def grow(self, leader: int, k: int, rng: random.Random) -> list[int]:
        """A set of up to k labels led by `leader` (fewer when nothing more is allowed). Outside
        the uniform share every label added is plausible with every label already there; a set
        whose labels name no companion at all (knowledge guessed from names) is drawn uniformly."""
        members = [leader]
        uniform = rng.random() < self.random_share
        while len(members) < k:
            if uniform or not any(self.knowledge.neighbours(m) for m in members):
                candidate = self._uniform(members, rng)
            else:
                candidate = self._weighted(members, rng)
            if candidate is None:
                break
            members.append(candidate)
        return members

    def sets(self, total: int, min_per_label: int) -> list[list[int]]:
        """Label sets: first rounds in which every label short of `round + 1` appearances leads
        a set (so every label appears in at least `min_per_label` sets), then sets led by
        uniformly drawn labels up to `total`. Prefix-stable: asking for more extends the list."""
        rng = random.Random(f"{self.seed}|{SAMPLING_ID}")
        counts = [0] * self.n
        sets: list[list[int]] = []
        for round_ in range(min_per_label):
            order = list(range(self.n))
            rng.shuffle(order)
            for leader in order:
                if counts[leader] > round_:
                    continue
                members = self.grow(leader, rng.randint(1, self.max_k), rng)
                for member in members:
                    counts[member] += 1
                sets.append(members)
        while len(sets) < total:
            sets.append(self.grow(rng.randrange(self.n), rng.randint(1, self.max_k), rng))
        return sets

    def led_by(self, label: int, rng: random.Random) -> list[int]:
        """One set led by `label` (top-up sets)."""
        return self.grow(label, rng.randint(1, self.max_k), rng)
