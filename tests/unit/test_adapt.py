"""Learning from corrections (lzt.adapt): the loss against a direct re-computation, the adapted
weights (unchanged without evidence, moved the right way with it, held back by `strength`), the
file they are saved in (safe to load, checksummed, with its provenance), the evidence sources
and the photos embedded by a real tiny model."""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from lzt import AdaptConfig, LztError, LztWarning, MappingConfig, UsageError
from lzt.adapt import (
    Evidence,
    PhotoLabels,
    adapt_classifier,
    collect_evidence,
    dataset_photo_labels,
    decision_photo_labels,
    detect_source,
    evidence_loss,
    evidence_targets,
    learning,
    mapped_features,
    read_photo_labels,
)
from lzt.classifier import load_classifier, save_classifier
from lzt.config import ScoringConfig
from lzt.tagging import Tagger
from support import COCO128, random_classifier

LABELS = ["cat", "dog", "car", "tree", "boat", "cup"]


@pytest.fixture(autouse=True)
def one_thread():
    """These matrices are tiny: on a busy 2-core machine a second torch thread makes each of the
    500 steps wait on the other (measured: 12 s instead of 0.3 s per adaptation)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def direct_loss(scores: torch.Tensor, targets: torch.Tensor, unknown_weight: float) -> float:
    """The loss as its docstring states it, pair by pair."""
    total = 0.0
    for s, t in zip(scores.tolist(), targets.tolist()):
        for p in range(len(s)):
            for n in range(len(s)):
                weight = 0.0
                if t[p] == 1 and t[n] == -1:
                    weight = 1.0
                elif (t[p] == 1 and t[n] == 0) or (t[p] == 0 and t[n] == -1):
                    weight = unknown_weight
                total += weight * max(0.0, 1.0 - s[p] + s[n])
    return total


def unit_rows(count: int, dim: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(count, dim, generator=torch.Generator().manual_seed(seed)), dim=1)


def some_evidence(count: int = 8, seed: int = 1) -> Evidence:
    """Photos where `dog` is confirmed and `cat` rejected, and on half of them `car` confirmed too."""
    targets = torch.zeros(count, len(LABELS), dtype=torch.int8)
    targets[:, 1], targets[:, 0] = 1, -1
    targets[: count // 2, 2] = 1
    return Evidence(LABELS, unit_rows(count, seed=seed), targets)


@pytest.mark.parametrize("unknown_weight", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("block_elements", [1 << 24, 20])
def test_the_loss_matches_a_pair_by_pair_computation(unknown_weight, block_elements, monkeypatch):
    monkeypatch.setattr(learning, "_BLOCK_ELEMENTS", block_elements)  # 20: a block per photo or two
    generator = torch.Generator().manual_seed(3)
    scores = torch.randn(9, len(LABELS), generator=generator) * 2
    targets = torch.randint(-1, 2, (9, len(LABELS)), generator=generator)
    targets[0] = 0  # a photo with nothing to say
    targets[1] = 1  # one with every label confirmed
    targets[2] = torch.tensor([1, -1, -1, -1, -1, 0])  # more rejected than unannotated
    targets[3] = torch.tensor([0, 0, 0, 0, -1, 0])  # fewer
    loss = evidence_loss(scores, targets, unknown_weight)
    assert float(loss) == pytest.approx(direct_loss(scores, targets, unknown_weight), rel=1e-6)
    if block_elements == 20:
        assert len(learning._blocks(targets, unknown_weight)) > 4


def test_the_loss_of_no_pairs_is_zero_with_a_gradient():
    scores = torch.randn(3, len(LABELS), requires_grad=True)
    loss = evidence_loss(scores, torch.zeros(3, len(LABELS), dtype=torch.int8), 0.1)
    loss.backward()
    assert loss.item() == 0.0 and scores.grad is not None and not scores.grad.any()


def test_without_evidence_the_weights_come_back_unchanged():
    base = random_classifier(LABELS)
    nothing = Evidence(LABELS, torch.zeros(0, 32), torch.zeros(0, len(LABELS), dtype=torch.int8))
    unannotated = Evidence(LABELS, unit_rows(4), torch.zeros(4, len(LABELS), dtype=torch.int8))
    for evidence in (nothing, unannotated):
        adapted = adapt_classifier(base, evidence)
        assert torch.equal(adapted.weight, base.weight) and torch.equal(adapted.anchors, base.anchors)
        assert adapted.adaptations[-1]["confirmed"] == 0
    assert torch.equal(adapt_classifier(base, some_evidence(), config=AdaptConfig(steps=0)).weight, base.weight)


def test_evidence_moves_the_scores_of_confirmed_photos_the_right_way(tiny_encoder):
    base = random_classifier(LABELS)
    evidence = some_evidence()
    adapted = adapt_classifier(base, evidence)
    scoring = ScoringConfig(local=False)
    before = Tagger(tiny_encoder, base, scoring).score_embeddings(evidence.embeddings)
    after = Tagger(tiny_encoder, adapted, scoring).score_embeddings(evidence.embeddings)
    # dog (confirmed everywhere) now outranks cat (rejected everywhere) on every photo, by the margin
    assert (after[:, 1] - after[:, 0] >= 0.99).all()
    assert (after[:, 1] - after[:, 0] > before[:, 1] - before[:, 0]).all()
    # car was confirmed on half of them: its rank there improves on average
    rank = lambda scores: (scores > scores[:, 2:3]).sum(dim=1).float()  # noqa: E731  (labels above car)
    assert rank(after)[:4].mean() < rank(before)[:4].mean()
    assert adapted.labels == base.labels and adapted.anchors is base.anchors


def test_strength_holds_the_weights_near_the_text_trained_ones():
    base = random_classifier(LABELS)
    distances = [float((adapt_classifier(base, some_evidence(), config=AdaptConfig(strength=s)).weight - base.weight).norm())
                 for s in (0.0, 1.0, 10.0, 100.0)]
    assert distances == sorted(distances, reverse=True) and distances[-1] < 0.2 * distances[0]


def test_training_block_by_block_gives_the_same_weights(monkeypatch):
    base = random_classifier(LABELS)
    whole = adapt_classifier(base, some_evidence(), config=AdaptConfig(steps=50)).weight
    monkeypatch.setattr(learning, "_BLOCK_ELEMENTS", 20)  # a block per photo or two
    assert torch.allclose(adapt_classifier(base, some_evidence(), config=AdaptConfig(steps=50)).weight, whole, atol=1e-5)


def test_adapting_is_deterministic():
    base = random_classifier(LABELS)
    assert torch.equal(adapt_classifier(base, some_evidence()).weight, adapt_classifier(base, some_evidence()).weight)


def test_photos_are_trained_on_as_they_are_scored():
    base = random_classifier(LABELS)
    embeddings = unit_rows(5)
    scorer_features = mapped_features(base, embeddings, MappingConfig())
    by_hand = torch.softmax(100.0 * embeddings @ base.anchors.T, dim=1) @ base.anchors
    assert torch.allclose(scorer_features, 0.7 * embeddings + 0.3 * torch.nn.functional.normalize(by_hand, dim=1), atol=1e-6)
    assert torch.equal(mapped_features(base, embeddings, MappingConfig(method="none")), embeddings)
    with pytest.raises(UsageError, match="corpus embeddings"):
        mapped_features(base, embeddings, MappingConfig(method="corpus"))


def test_the_adapted_file_loads_safely_round_trips_and_names_its_base(tmp_path):
    base_path, out = tmp_path / "base.lzt", tmp_path / "adapted.lzt"
    base = random_classifier(LABELS, base_path)
    evidence = some_evidence()
    evidence.sources = ["decisions.jsonl"]
    adapted = adapt_classifier(load_classifier(base_path), evidence)
    save_classifier(adapted, out)
    loaded = load_classifier(out)
    assert torch.equal(loaded.weight, adapted.weight) and not torch.equal(loaded.weight, base.weight)
    record = loaded.adaptations[0]
    with safe_open(str(base_path), framework="pt") as handle:
        assert record["base_sha256"] == json.loads(handle.metadata()["lzt_manifest"])["sha256"]
    assert (record["photos"], record["confirmed"], record["rejected"], record["labels_confirmed"]) == (8, 12, 8, 2)
    assert record["sources"] == ["decisions.jsonl"] and record["settings"]["strength"] == AdaptConfig().strength
    with safe_open(str(out), framework="pt") as handle:  # the same raw tensors as any classifier: nothing to execute
        assert set(handle.keys()) == {"weight", "anchors"}
    # Adapting again keeps the history, each record naming the file it started from.
    again = adapt_classifier(loaded, evidence)
    assert [r["base_sha256"] for r in again.adaptations] == [record["base_sha256"], loaded.signed_manifest()["sha256"]]
    # A text-trained classifier's manifest has no such key: files written before adaptation existed keep their checksum.
    assert "adaptations" not in base.manifest()


def test_an_edited_provenance_is_refused(tmp_path):
    from safetensors.torch import save_file

    out = tmp_path / "adapted.lzt"
    save_classifier(adapt_classifier(random_classifier(LABELS), some_evidence()), out)
    with safe_open(str(out), framework="pt") as handle:
        metadata, tensors = handle.metadata(), {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    manifest = json.loads(metadata["lzt_manifest"])
    manifest["adaptations"][0]["photos"] = 1000
    save_file(tensors, str(out), metadata={"lzt_manifest": json.dumps(manifest)})
    with pytest.raises(LztError, match="checksum"):
        load_classifier(out)


def test_evidence_must_fit_the_classifier():
    base = random_classifier(LABELS)
    with pytest.raises(UsageError, match="labels"):
        adapt_classifier(base, Evidence(LABELS[::-1], unit_rows(2), torch.ones(2, len(LABELS), dtype=torch.int8)))
    with pytest.raises(UsageError, match="16-wide"):
        adapt_classifier(base, Evidence(LABELS, unit_rows(2, dim=16), torch.ones(2, len(LABELS), dtype=torch.int8)))
    with pytest.raises(LztError, match="targets"):
        Evidence(LABELS, unit_rows(2), torch.full((2, len(LABELS)), 2))
    with pytest.raises(UsageError, match="strength"):
        AdaptConfig(strength=-1)


# --- sources ------------------------------------------------------------------------------------


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_labelled_set_confirms_its_labels_and_rejects_the_rest_unless_told(tmp_path):
    path = write_lines(tmp_path / "set.jsonl", [
        {"file": "a.jpg", "labels": ["Dog"], "negatives": ["cat"]}, "", {"file": "sub/b.jpg", "labels": []},
    ])
    rows = list(dataset_photo_labels(path))
    assert rows[0] == PhotoLabels((tmp_path / "a.jpg").resolve(), ("Dog",), ("cat",), others_rejected=True)
    assert rows[1].path == (tmp_path / "sub" / "b.jpg").resolve() and rows[1].others_rejected
    assert not any(row.others_rejected for row in dataset_photo_labels(path, unannotated="ignore"))
    assert detect_source(path) == "dataset" and read_photo_labels(path) == rows


def test_review_decisions_keep_the_last_decision_per_photo_and_label(tmp_path):
    photo = tmp_path / "p.jpg"
    path = write_lines(tmp_path / "decisions.jsonl", [
        {"path": str(photo), "label": "dog", "decision": "reject"},
        {"path": str(photo), "label": "cat", "decision": "accept", "added": True},
        {"path": str(photo), "label": "Dog", "decision": "accept"},
        {"path": "q.jpg", "label": "car", "decision": "reject"},
    ])
    rows = list(decision_photo_labels(path))
    assert rows == [PhotoLabels(photo, ("cat", "Dog"), ()), PhotoLabels((tmp_path / "q.jpg").resolve(), (), ("car",))]
    assert detect_source(path) == "decisions"


@pytest.mark.parametrize(("rows", "message"), [
    (["{not json"], r"bad\.jsonl:1: not JSON"),
    ([{"file": "a.jpg", "labels": ["dog"]}, {"file": "b.jpg", "labels": "dog"}], r'bad\.jsonl:2: "labels" must be a list'),
    ([{"file": "a.jpg", "labels": ["dog"], "negatives": ["DOG"]}], r'bad\.jsonl:1: dog both in "labels" and in "negatives"'),
    ([{"path": "/a.jpg", "label": "dog", "decision": "maybe"}], r"bad\.jsonl:1: decision must be accept or reject"),
    ([{"path": "/a.jpg", "label": "dog", "decision": "accept"}, {"path": "/b.jpg", "decision": "accept"}], r"bad\.jsonl:2: expected"),
    ([{"photo": "a.jpg"}], "neither a labelled set"),
    ([""], "holds no rows"),
])
def test_a_malformed_evidence_file_is_one_error_naming_file_and_line(tmp_path, rows, message):
    with pytest.raises(LztError, match=message):
        read_photo_labels(write_lines(tmp_path / "bad.jsonl", rows))


def test_a_review_database_or_a_missing_file_is_named(tmp_path):
    database = tmp_path / "review.db"
    sqlite3.connect(database).execute("create table decisions (path text)").connection.commit()
    with pytest.raises(LztError, match="SQLite database"):
        read_photo_labels(database)
    with pytest.raises(LztError, match="no evidence file"):
        read_photo_labels(tmp_path / "none.jsonl")
    with pytest.raises(UsageError, match="unknown evidence kind"):
        read_photo_labels(write_lines(tmp_path / "ok.jsonl", [{"file": "a.jpg", "labels": []}]), kind="xmp")


def test_labels_match_names_and_synonyms_and_unknown_ones_are_counted(tmp_path):
    a, b, c = Path("/a.jpg"), Path("/b.jpg"), Path("/c.jpg")
    files, targets, unknown = evidence_targets([
        PhotoLabels(a, ("DOG", "unicorn"), ("kitty",)),
        PhotoLabels(b, ("unicorn",)),  # nothing this classifier knows: left out
        PhotoLabels(Path("/d.jpg"), ("unicorn",), others_rejected=True),  # all rejected, nothing to rank: left out
        PhotoLabels(c, ("tree",), others_rejected=True),
        PhotoLabels(a, (), ("dog",)),  # a later statement wins
    ], LABELS, {"cat": ["kitty"]})
    assert files == [a, c] and unknown == {"unicorn": 3}
    assert targets[0].tolist() == [-1, -1, 0, 0, 0, 0]  # rejected among unannotated: kept
    assert targets[1].tolist() == [-1, -1, -1, 1, -1, -1]


# --- photos embedded by a real (tiny) model ------------------------------------------------------


@pytest.fixture(scope="module")
def tagger(tiny_classifier):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        with Tagger.load(tiny_classifier, pretrained="none", device="cpu", scoring=ScoringConfig(local=False)) as loaded:
            yield loaded


def test_embed_files_gives_what_tag_scores(tagger, coco128):
    files = [*sorted((coco128 / "images").glob("*.jpg"))[:3], coco128 / "missing.jpg"]
    embedded = list(tagger.embed_files(files, workers=0, batch_size=2))
    assert [path for path, _ in embedded] == files and embedded[3][1] == "file not found"
    vectors = torch.stack([vector for _, vector in embedded[:3]])
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-2)
    tagged = [record.scores for record in tagger.tag_files(files[:3], workers=0, keep_scores=True)]
    assert torch.equal(tagger.score_embeddings(vectors, normalize=False).cpu(), torch.stack(tagged))


def test_collect_evidence_embeds_the_photos_and_reports_what_it_left_out(tagger, coco128):
    rows = [json.loads(line) for line in (coco128 / "labels.jsonl").read_text().splitlines()][:4]
    photos = [PhotoLabels(coco128 / row["file"], tuple(row["labels"])) for row in rows]
    photos += [PhotoLabels(coco128 / "gone.jpg", ("dog",)), PhotoLabels(coco128 / rows[0]["file"], ("unicorn",))]
    heard = []
    with pytest.warns(LztWarning, match="1 label of the evidence not in the classifier's vocabulary.*'unicorn' \\(1\\)"):
        evidence = collect_evidence(tagger, photos, workers=0, on_skipped=lambda path, reason: heard.append((path, reason)))
    assert evidence.files == [coco128 / row["file"] for row in rows]
    assert heard == evidence.skipped == [(coco128 / "gone.jpg", "file not found")]
    assert evidence.unknown_labels == {"unicorn": 1}
    assert evidence.counts()["confirmed"] == sum(len(set(row["labels"])) for row in rows)
    assert evidence.embeddings.shape == (4, tagger.classifier.embed_dim)


def test_no_usable_evidence_is_a_clear_error(tagger):
    with pytest.raises(LztError, match=r"no evidence to adapt from: .*1 unknown"), pytest.warns(LztWarning, match="unicorn"):
        collect_evidence(tagger, [PhotoLabels(COCO128 / "images" / "x.jpg", ("unicorn",))], workers=0)
    with pytest.raises(LztError, match="none of the 1 photos could be read"):
        collect_evidence(tagger, [PhotoLabels(Path("/nowhere/x.jpg"), ("dog",))], workers=0)


def test_a_review_database_and_a_keyworded_folder_are_evidence(tmp_path):
    """`--from review.db` reads the decisions as their export does; `--from FOLDER` reads the
    photos' XMP keywords that match labels (synonyms too), skipping what lzt wrote itself."""
    from lzt import load_vocabulary
    from lzt.adapt.sources import detect_source, read_photo_labels
    from lzt.output.xmp import XmpWriter
    from lzt.record import Record
    from reviewing import COCO_LABELS, items_for, new_store, small_photos

    photos = small_photos(tmp_path / "reviewed", 3)
    with new_store(tmp_path / "review.db", items_for(photos), [tmp_path / "reviewed"]) as store:
        ids = store.ids(store_query(), 0, 10)
        store.decide(ids[0], COCO_LABELS[0], "accept")
        store.decide(ids[0], COCO_LABELS[1], "reject")
        store.decide(ids[1], "dog", "accept")
    assert detect_source(tmp_path / "review.db") == "review"
    by_photo = {p.path.name: p for p in read_photo_labels(tmp_path / "review.db")}
    assert by_photo["photo0000.jpg"].confirmed == (COCO_LABELS[0],) and by_photo["photo0000.jpg"].rejected == (COCO_LABELS[1],)
    assert by_photo["photo0001.jpg"].confirmed == ("dog",) and "photo0002.jpg" not in by_photo

    keyworded = small_photos(tmp_path / "keyworded", 3)
    (tmp_path / "keyworded" / "photo0000.jpg.xmp").write_text(xmp_with_subjects(["Puppy", "holiday", "Bicycle"]))
    (tmp_path / "keyworded" / "photo0001.jpg.xmp").write_text(xmp_with_subjects(["sunset"]))
    XmpWriter(parent="lzt").write(Record(str(keyworded[2]), tags=[("cat", 0.9)]))  # lzt's own tags: no evidence
    vocabulary = load_vocabulary("coco")
    assert detect_source(tmp_path / "keyworded") == "keywords"
    found = read_photo_labels(tmp_path / "keyworded", labels=vocabulary)
    assert [(p.path.name, sorted(p.confirmed), p.rejected, p.others_rejected) for p in found] == [
        ("photo0000.jpg", ["bicycle", "dog"], (), False)
    ]
    with pytest.raises(UsageError):
        read_photo_labels(tmp_path / "keyworded")


def store_query():
    from lzt.review import PhotoQuery

    return PhotoQuery()


def xmp_with_subjects(keywords: list[str]) -> str:
    items = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
