"""A planted modality gap: synthetic CLIP-like embeddings where the answer is known.

Why: CoMC's claims (a classifier trained on text embeddings transfers to image embeddings, better
once the image is mapped into the text modality and the training adds noise) can be checked
without CLIP weights or labelled photos, in a world whose geometry is planted and measured.

The world. R^D (randomly rotated) is split into 3 cone axes, semantic dimensions (half of D),
text-only dimensions (a quarter) and appearance dimensions (the rest); noise of norm n in a span
of k dimensions is an isotropic Gaussian there with per-dimension std n / sqrt(k).
- Narrow cones (Liang et al. 2022, "Mind the Gap"): every text gets the constant centre c_T,
  every photo c_I; |c_T| = |c_I| = `cone`, `cone_angle` apart. c_I - c_T is the modality offset.
- A label's meaning is a random semantic direction; labels come in `groups` (animal, vehicle...)
  whose meanings share `group_share` of cosine, so that zero-shot confuses cat and dog.
- What a photo shows of a label: v_l = a meaning_l + sqrt(1-a^2) private_l (a = `visual_alignment`;
  the private part is label evidence that only photos carry: no text-only method can learn it).
- What a text says of a label: u_l = sqrt(1-x) meaning_l + sqrt(x) form_l, with form_l in the
  text-only dimensions (x = `lexical`): part of a word's text embedding is its form, which photos
  do not have. This is the knob that decides whether the mapping and the noise help (see below).
- Context ("grass", "table") is built the same way: `contexts` unlabelled words/things.
- text(S)  = norm(c_T + sum_{l in S} u_l + 0.5 * (1..2 context words) + wording noise
                  (`text_noise`, text-only dims) + `text_floor` isotropic noise)
- image(S) = norm(c_I + sum_{l in S} s_l v_l + (2..4 context things, weights U(0.3, 1))
                  + appearance noise (`image_noise`, appearance dims) + `image_floor` isotropic),
  salience s_l ~ U(0.5, 1.5) (object size).
- Class anchors: the mean of `templates` single-label texts (a template vector each, in the
  text-only dims: "a photo of a", "a sketch of a"...), renormalised: a prompt ensemble.
- Corpus and test photos: random label sets, k uniform in 1..5, k distinct labels (COMC.md s.1),
  drawn by lzt's own corpus sampler (lzt.text.sampling.sample_label_sets, without its coverage
  rounds) and turned into targets by lzt.vocab.multi_hot; labels are independent (no
  co-occurrence for the corpus to teach).

Parameters from CLIP facts. The defaults make the measured statistics (`geometry_stats`, printed by
bench/planted_gap.py) match what is reported for CLIP: cosine of a photo and its caption ~0.3
(CLIP scores of matching COCO pairs); of a photo and another caption ~0.15; mean cosine within a
modality ~0.5 (narrow cones); distance between the modality centroids ~0.8 (Liang et al.: 0.82 for
CLIP ViT-B/32 on COCO). The text-only share `lexical` is not a measured CLIP quantity: the bench
sweeps it. Training uses lzt's TrainConfig (COMC.md s.2) and a corpus of 40,000 texts, as the paper.

What is lzt's own. Everything that is not the synthetic world comes from the product, so that the
simulation checks the code that tags photos: the label-set sampler and the multi-hot targets, the
prompt-ensemble class anchors (lzt.classifier.build.class_anchors), the classifier training
(lzt.classifier.training), the mappings (lzt.tagging.mapping), calibration
(lzt.tagging.calibration) and the metrics (lzt.eval.metrics).

The gap-free reference. The same test photos (same draws) are also drawn without the planted gap
(`embed_images(..., gap="none")`): the text cone centre c_T, and every concept they show carrying
its word form as a text does, sqrt(1-x) v_l + sqrt(x) form_l; the photo-only evidence (private
parts, salience, context weights, appearance noise) stays, being no part of the modality gap. The
text-trained classifier on these photos, without mapping, is the most a perfect gap-crossing map
could give it; `gap_closed` measures each method against it (baseline: σ=0, no mapping).
gap="cone" removes only the cone offset.

What it shows (bench/planted_gap.py, README). The cone offset alone costs no mAP: a bias-free
linear classifier turns a constant offset into a per-label constant (scaled by each photo's norm),
which per-label AP ignores; it costs top-k F1, which ranks labels within a photo. The whole mAP gap
is the text-only word form, and the gap-free photos reach the photo-trained oracle's mAP, because a
word form present in a photo is a clean code for its label. Crossing that gap means knowing which
words a photo's caption would hold, i.e. recognising its labels: the mapping can add back word
forms only as well as its softmax over anchors (or corpus texts) recognises them, so it closes a
part of the gap (about 7-9% at lexical share 0.5, about a quarter at 0.75) and none where words
carry no form (lexical 0: there it costs mAP, the softmax making a photo's labels compete). The
training noise is worth a few points where forms dominate and costs a little where they do not.

Everything is drawn from one seeded torch.Generator (the label-set sampler's seed included): a
seed gives the same world and numbers. Run it through bench/planted_gap.py (`python -m
bench.planted_gap`); tests/unit/test_planted_gap.py checks it on a small world.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from lzt.classifier.build import class_anchors
from lzt.classifier.training import train_classifier
from lzt.config import TrainConfig
from lzt.eval.metrics import compute_metrics
from lzt.tagging.calibration import calibrate
from lzt.tagging.mapping import CorpusIndex, map_through_keys, map_through_neighbours
from lzt.text.sampling import sample_label_sets
from lzt.vocab import multi_hot


@dataclass(frozen=True)
class Geometry:
    """The world's shape. Norms are relative to one unit concept vector."""

    labels: int = 40
    dim: int = 128
    semantic_share: float = 0.5  # fraction of dimensions holding meaning (concepts, context)
    text_only_share: float = 0.25  # fraction holding text-only content (word forms, wording)
    groups: int = 8  # super-categories (animal, vehicle, food...): labels of a group look alike
    group_share: float = 0.5  # cos between two concepts of the same group
    contexts: int = 30
    cone: float = 2.2  # norm of each modality's cone centre
    cone_angle: float = 120.0  # degrees between the text and image cone centres
    visual_alignment: float = 0.7  # cos between the meaning of a word and what photos show of it
    lexical: float = 0.5  # share of a word's text embedding (squared norm) that is its form, not its meaning
    text_noise: float = 0.5  # wording, within the text-only dimensions
    text_floor: float = 0.1  # isotropic text noise
    image_noise: float = 1.5  # appearance (style, light, viewpoint), in dimensions texts leave alone
    image_floor: float = 0.3  # isotropic image noise
    templates: int = 8
    template_norm: float = 0.5
    max_labels: int = 5


@dataclass
class World:
    geometry: Geometry
    text_concepts: torch.Tensor  # (C, D) unit
    image_concepts: torch.Tensor  # (C, D) unit
    text_contexts: torch.Tensor  # (X, D) unit
    image_contexts: torch.Tensor  # (X, D) unit
    text_cone: torch.Tensor  # (D,)
    image_cone: torch.Tensor  # (D,)
    templates: torch.Tensor  # (J, D)
    concept_forms: torch.Tensor  # (C, D) unit, text-only dims: each label's word form
    context_forms: torch.Tensor  # (X, D) unit, text-only dims
    text_only_basis: torch.Tensor  # (P, D) orthonormal rows: word forms and wording, never in photos
    appearance_basis: torch.Tensor  # (A, D) orthonormal rows: where only photos vary


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def _noise(rows: int, dim: int, norm: float, generator: torch.Generator) -> torch.Tensor:
    # Per-dimension std norm/sqrt(dim): the expected noise norm is `norm` whatever dim is.
    return torch.randn(rows, dim, generator=generator, dtype=torch.float64) * (norm / math.sqrt(dim))


def _in_span(rows: int, basis: torch.Tensor, norm: float, generator: torch.Generator) -> torch.Tensor:
    """Isotropic Gaussian vectors confined to span(basis), expected norm `norm`."""
    return _noise(rows, basis.shape[0], norm, generator) @ basis


def _paired_directions(
    count: int, spans: tuple[torch.Tensor, torch.Tensor], g: Geometry, generator: torch.Generator,
    shared: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(text, image, form) unit directions for `count` words.

    meaning: random in the semantic span, leaning on `shared[i]` (its group) so two meanings of a
    group have cosine ~group_share. image = visual_alignment * meaning + the rest private to photos.
    text = meaning mixed with a word-form direction in the text-only span (`lexical` of it).
    """
    semantic, text_only = spans  # orthonormal rows of the semantic and the text-only dimensions
    meaning = _unit(_in_span(count, semantic, 1.0, generator))
    if shared is not None:
        meaning = _unit(math.sqrt(g.group_share) * shared + math.sqrt(1.0 - g.group_share) * meaning)
    private = _unit(_in_span(count, semantic, 1.0, generator))
    private = _unit(private - (private * meaning).sum(1, keepdim=True) * meaning)  # exactly orthogonal
    image = g.visual_alignment * meaning + math.sqrt(1.0 - g.visual_alignment**2) * private
    form = _unit(_in_span(count, text_only, 1.0, generator))
    text = math.sqrt(1.0 - g.lexical) * meaning + math.sqrt(g.lexical) * form
    return text, image, form


def make_world(geometry: Geometry, generator: torch.Generator) -> World:
    """Split R^D (randomly rotated) into: 3 cone axes, the semantic dimensions, the text-only
    dimensions, and the rest, where only photos vary (appearance)."""
    g = geometry
    semantic = round(g.semantic_share * g.dim)
    text_only = max(1, round(g.text_only_share * g.dim))
    if 3 + semantic + text_only >= g.dim:
        raise ValueError("dim too small for the semantic and text-only shares")
    axes, _ = torch.linalg.qr(torch.randn(g.dim, g.dim, generator=generator, dtype=torch.float64))
    axes = axes.T
    shared, text_side, image_side = axes[:3]
    semantic_basis = axes[3 : 3 + semantic]
    text_only_basis = axes[3 + semantic : 3 + semantic + text_only]
    appearance_basis = axes[3 + semantic + text_only :]
    half = math.radians(g.cone_angle) / 2
    text_cone = g.cone * (math.cos(half) * shared + math.sin(half) * text_side)
    image_cone = g.cone * (math.cos(half) * shared + math.sin(half) * image_side)
    group_of = torch.arange(g.labels) % g.groups
    group_axes = _unit(_in_span(g.groups, semantic_basis, 1.0, generator))
    spans = (semantic_basis, text_only_basis)
    text_concepts, image_concepts, concept_forms = _paired_directions(
        g.labels, spans, g, generator, group_axes[group_of])
    text_contexts, image_contexts, context_forms = _paired_directions(g.contexts, spans, g, generator)
    templates = _in_span(g.templates, text_only_basis, g.template_norm, generator)
    return World(g, text_concepts, image_concepts, text_contexts, image_contexts, text_cone, image_cone,
                 templates, concept_forms, context_forms, text_only_basis, appearance_basis)


def _appearance(rows: int, world: World, generator: torch.Generator) -> torch.Tensor:
    """Image-only variation (style, light, viewpoint), isotropic in the appearance dimensions."""
    return _in_span(rows, world.appearance_basis, world.geometry.image_noise, generator)


def label_names(labels: int) -> list[str]:
    """The world's labels as lzt sees them: "0", "1", ..."""
    return [str(c) for c in range(labels)]


def label_set_targets(count: int, labels: int, max_labels: int, generator: torch.Generator) -> torch.Tensor:
    """(count, C) 0/1 float64: lzt's corpus label sets (k uniform in 1..max_labels, then k
    distinct labels, COMC.md s.1), without the coverage rounds a real corpus adds for rare labels
    (labels here are drawn often enough). The sampler's seed is drawn from `generator`."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    sets = sample_label_sets(labels, count, seed, min_per_label=0, max_k=max_labels)
    names = label_names(labels)
    return torch.from_numpy(multi_hot(([names[i] for i in chosen] for chosen in sets), names)).double()


def _random_subsets(count: int, size: int, low: int, high: int, generator: torch.Generator) -> torch.Tensor:
    """(count, size) bool: each row a uniformly random subset of k items, k uniform in low..high.
    For the context words and things only: lzt's label-set sampler draws k from 1..max_k, and
    the photos here show at least 2 context things (low = 2), which it cannot express."""
    sizes = torch.randint(low, high + 1, (count, 1), generator=generator)
    ranks = torch.rand(count, size, generator=generator).argsort(dim=1).argsort(dim=1)
    return ranks < sizes


def _context_mix(count: int, world: World, low: int, high: int, generator: torch.Generator) -> torch.Tensor:
    """(count, X) weights: low..high random context items per row, weights U(0.3, 1.0)."""
    present = _random_subsets(count, world.geometry.contexts, low, high, generator)
    strength = 0.3 + 0.7 * torch.rand(present.shape, generator=generator, dtype=torch.float64)
    return present * strength


def embed_texts(world: World, targets: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(N, C) label sets -> (N, D) unit "sentence" embeddings."""
    g = world.geometry
    context = 0.5 * (_context_mix(len(targets), world, 1, 2, generator) > 0).double() @ world.text_contexts
    raw = world.text_cone + targets @ world.text_concepts + context
    raw = raw + _in_span(len(targets), world.text_only_basis, g.text_noise, generator)
    raw = raw + _noise(len(targets), g.dim, g.text_floor, generator)
    return _unit(raw).float()


GAPS = ("planted", "cone", "none")


def embed_images(world: World, targets: torch.Tensor, generator: torch.Generator, gap: str = "planted") -> torch.Tensor:
    """(N, C) label sets -> (N, D) unit "photo" embeddings.

    gap="planted": the photos of the world. The others are the same photos (same draws: pass a
    generator in the same state) without the planted modality gap, as a ceiling for mapping:
    - "cone": the text cone centre c_T instead of c_I (the cone offset removed, nothing else);
    - "none": also every concept a photo shows (labels and context) carries its word form as a
      word's text embedding does, sqrt(1-x) v + sqrt(x) form (x = `lexical`), so that nothing
      differs systematically between the modalities but the photo-only evidence (private parts,
      salience, context weights, appearance noise), which is no part of the gap.
    """
    if gap not in GAPS:
        raise ValueError(f"unknown gap {gap!r} (choose from {', '.join(GAPS)})")
    g = world.geometry
    cone, concepts, contexts = world.image_cone, world.image_concepts, world.image_contexts
    if gap != "planted":
        cone = world.text_cone
    if gap == "none":
        keep, form = math.sqrt(1.0 - g.lexical), math.sqrt(g.lexical)
        concepts = keep * concepts + form * world.concept_forms
        contexts = keep * contexts + form * world.context_forms
    salience = 0.5 + torch.rand(targets.shape, generator=generator, dtype=torch.float64)
    context = _context_mix(len(targets), world, 2, 4, generator) @ contexts
    raw = cone + (targets * salience) @ concepts + context
    raw = raw + _appearance(len(targets), world, generator)
    raw = raw + _noise(len(targets), g.dim, g.image_floor, generator)
    return _unit(raw).float()


def template_texts(world: World, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Every label through every template: (C*J, D) unit embeddings and their one-hot targets."""
    g = world.geometry
    labels = torch.arange(g.labels).repeat_interleave(g.templates)
    templates = torch.arange(g.templates).repeat(g.labels)
    raw = world.text_cone + world.text_concepts[labels] + world.templates[templates]
    raw = raw + _in_span(len(labels), world.text_only_basis, g.text_noise, generator)
    raw = raw + _noise(len(labels), g.dim, g.text_floor, generator)
    names = label_names(g.labels)
    return _unit(raw).float(), torch.from_numpy(multi_hot([[names[i]] for i in labels.tolist()], names)).double()


def geometry_stats(texts: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """CLIP-comparable statistics of paired (row i of both) unit text and image embeddings."""
    texts, images = texts.double(), images.double()
    n = len(texts)
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    cross = images @ texts.T
    return {
        "paired_cos": float(cross.diagonal().mean()),
        "unpaired_cos": float(cross[off_diagonal].mean()),
        "text_text_cos": float((texts @ texts.T)[off_diagonal].mean()),
        "image_image_cos": float((images @ images.T)[off_diagonal].mean()),
        "gap": float((images.mean(0) - texts.mean(0)).norm()),
    }


# --- the experiment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Experiment:
    geometry: Geometry = Geometry()
    corpus_size: int = 40000  # COMC.md s.1 default
    test_images: int = 2000
    neighbours: int = 16  # corpus mapping: nearest corpus texts per photo
    temperature: float = 100.0  # the paper's anchor temperature
    corpus_temperatures: tuple[float, ...] = (25.0, 100.0)
    mix: float = 0.7
    noise_stds: tuple[float, ...] = (0.0, 0.1)
    calibrations: tuple[str, ...] = ("none", "image", "image+label")
    oracle: bool = True
    gap_free: bool = True  # score the same photos without the planted gap (the ceiling for mapping)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0


@dataclass(frozen=True)
class Row:
    method: str  # "zero-shot", "none", "anchors", "corpus T=..", "gap-free", "cone-free", "oracle"
    noise_std: float | None  # training noise of a text-trained classifier; None for the others
    calibration: str
    mean_ap: float
    of1: float  # OF1@3: per-label calibration cannot change mAP (monotone per label), only this


@dataclass
class Outcome:
    rows: list[Row]
    stats: dict[str, float]
    seconds: float

    def get(self, method: str, noise_std: float | None, calibration: str = "none") -> Row:
        for row in self.rows:
            if row.method == method and row.noise_std == noise_std and row.calibration == calibration:
                return row
        raise KeyError((method, noise_std, calibration))


def _score(scores: torch.Tensor, targets: torch.Tensor, method: str, noise_std: float | None,
           calibrations: tuple[str, ...]) -> list[Row]:
    labels = label_names(targets.shape[1])
    rows = []
    for name in calibrations:
        result = compute_metrics(calibrate(scores.double(), name).numpy(), targets.numpy(), labels, k=3)
        rows.append(Row(method, noise_std, name, result.mean_ap, result.of1))
    return rows


def run_experiment(experiment: Experiment) -> Outcome:
    """Train lzt's classifier on the text side only; score the photos through lzt's mappings."""
    start = time.perf_counter()
    e, g = experiment, experiment.geometry
    generator = torch.Generator().manual_seed(e.seed)
    world = make_world(g, generator)

    corpus_targets = label_set_targets(e.corpus_size, g.labels, g.max_labels, generator)
    corpus = embed_texts(world, corpus_targets, generator)
    templated, templated_targets = template_texts(world, generator)
    anchors = class_anchors(templated, g.labels)  # lzt's prompt ensemble, as for a real vocabulary
    train_x = torch.cat([corpus, templated])
    train_y = torch.cat([corpus_targets, templated_targets])

    test_targets = label_set_targets(e.test_images, g.labels, g.max_labels, generator)
    state = generator.get_state()
    references = {}  # the same photos without (part of) the planted gap: same draws, other centre/forms
    if e.gap_free:
        for method, gap in (("gap-free", "none"), ("cone-free", "cone")):
            references[method] = embed_images(world, test_targets, generator, gap)
            generator.set_state(state)
    images = embed_images(world, test_targets, generator)
    stats = geometry_stats(embed_texts(world, test_targets, generator), images)

    neighbour_keys = CorpusIndex(corpus).neighbours(images, e.neighbours)
    mapped = {"anchors": map_through_keys(images, anchors, e.temperature, e.mix)}
    for t in e.corpus_temperatures:
        mapped[f"corpus T={t:g}"] = map_through_neighbours(images, neighbour_keys, t, e.mix)

    rows = _score(images @ anchors.T, test_targets, "zero-shot", None, e.calibrations)
    for noise_std in e.noise_stds:
        weight = train_classifier(train_x, train_y, replace(e.train, noise_std=noise_std, seed=e.seed))
        rows += _score(images @ weight.T, test_targets, "none", noise_std, e.calibrations)
        for method, z in references.items():
            rows += _score(z @ weight.T, test_targets, method, noise_std, e.calibrations)
        for method, z in mapped.items():
            rows += _score(z @ weight.T, test_targets, method, noise_std, e.calibrations)

    if e.oracle:  # the upper bound: the same classifier trained on as many labelled photos
        oracle_targets = label_set_targets(e.corpus_size, g.labels, g.max_labels, generator)
        oracle_images = embed_images(world, oracle_targets, generator)
        oracle_weight = train_classifier(oracle_images, oracle_targets, replace(e.train, seed=e.seed))
        rows += _score(images @ oracle_weight.T, test_targets, "oracle", None, e.calibrations)
    return Outcome(rows, stats, time.perf_counter() - start)


def gap_closed(outcome: Outcome, row: Row) -> float:
    """The share of the planted gap that a row closes, all under row's calibration:
    (mAP - baseline's) / (gap-free's - baseline's). Baseline: the plain text classifier (σ=0, no
    mapping) on the photos; gap-free: the same classifier on the same photos without the planted
    gap, the most a perfect gap-crossing map could give this classifier. NaN where the planted gap
    costs less than 0.5 mAP points (nothing to close: lexical share 0)."""
    plain = outcome.get("none", 0.0, row.calibration).mean_ap
    ceiling = outcome.get("gap-free", 0.0, row.calibration).mean_ap
    return (row.mean_ap - plain) / (ceiling - plain) if ceiling - plain >= 0.005 else float("nan")


@dataclass(frozen=True)
class Summary:
    row: Row  # mean mAP and OF1 over the seeds
    map_std: float
    gap_closed: float | None  # share of the planted gap closed (gap_closed), mean over the seeds


def summarise(outcomes: list[Outcome]) -> list[Summary]:
    """One Summary per table row, over outcomes of the same experiment with different seeds."""
    summaries = []
    has_reference = any(r.method == "gap-free" for r in outcomes[0].rows)
    for i, first in enumerate(outcomes[0].rows):
        same = [o.rows[i] for o in outcomes]
        maps = np.array([r.mean_ap for r in same])
        closed = None
        if has_reference:
            closed = float(np.mean([gap_closed(o, o.rows[i]) for o in outcomes]))
        row = replace(first, mean_ap=float(maps.mean()), of1=float(np.mean([r.of1 for r in same])))
        summaries.append(Summary(row, float(maps.std()), closed))
    return summaries
