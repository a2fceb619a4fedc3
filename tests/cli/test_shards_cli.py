"""`lzt tag --out` (the in-process sharded engine), `lzt export` and `--from-embeddings` through
the real CLI: export gives byte for byte what `lzt tag --format` gives, and the options that do
not go together say so in one line. The Ray engine's CLI runs are in tests/e2e/test_ray_cluster.py."""

from __future__ import annotations

import pytest

from support import EXIFTOOL, copy_photos, exiftool_keywords, invoke, jsonl, random_classifier

TAG = ("--pretrained", "none", "-k", "3", "-w", "0", "-q")


@pytest.fixture(scope="module")
def shards(tmp_path_factory, small_images, tiny_classifier):
    """small_images tagged into shards once by the local sharded engine."""
    out = tmp_path_factory.mktemp("shards") / "out"
    run = invoke("tag", small_images, "-c", tiny_classifier, *TAG, "--out", out, "--shard-size", "5")
    assert run.stdout == ""  # shards, not stdout
    return out


@pytest.mark.parametrize("format_", ["jsonl", "csv"])
def test_export_of_stream_formats_equals_tag_output(shards, small_images, tiny_classifier, format_):
    direct = invoke("tag", small_images, "-c", tiny_classifier, *TAG, "--format", format_)
    exported = invoke("export", shards, "--format", format_, "-q")
    assert exported.stdout == direct.stdout and len(direct.stdout.splitlines()) >= 12


@pytest.mark.parametrize("format_", ["txt", "xmp"])
def test_export_of_sidecars_equals_tag_output(tmp_path, shards, tiny_classifier, format_):
    # Both runs need their own photos (sidecars land beside them): tag a copy directly, export
    # a second run's shards made over another copy.
    direct_photos, exported_photos = copy_photos(tmp_path / "a", 6), copy_photos(tmp_path / "b", 6)
    invoke("tag", direct_photos, "-c", tiny_classifier, *TAG, "--format", format_)
    invoke("tag", exported_photos, "-c", tiny_classifier, *TAG, "--out", tmp_path / "out")
    invoke("export", tmp_path / "out", "--format", format_, "-q")
    direct = sorted(p for p in direct_photos.iterdir() if p.suffix == f".{format_}")
    exported = sorted(p for p in exported_photos.iterdir() if p.suffix == f".{format_}")
    assert [p.name for p in direct] == [p.name for p in exported] and len(direct) == 6
    assert [p.read_bytes() for p in direct] == [p.read_bytes() for p in exported]
    if format_ == "xmp" and EXIFTOOL:
        assert [row["Subject"] for row in exiftool_keywords(*exported)] == [row["Subject"] for row in exiftool_keywords(*direct)]


def test_a_rerun_adds_nothing_and_says_so(shards, small_images, tiny_classifier):
    before = jsonl(invoke("export", shards, "-q").stdout)
    rerun = invoke("tag", small_images, "-c", tiny_classifier, "--pretrained", "none", "-k", "3", "--out", shards, "--shard-size", "5")
    assert "tagged 0 of 0 images" in rerun.stderr and "3 shards were already done" in rerun.stderr
    assert jsonl(invoke("export", shards, "-q").stdout) == before


def test_bad_files_are_error_rows_and_exit_3(tmp_path, small_images, tiny_classifier):
    photos = copy_photos(tmp_path / "photos", 3)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    run = invoke("tag", photos, "-c", tiny_classifier, "--pretrained", "none", "--out", tmp_path / "out", check=3)
    assert "skipped" in run.stderr and "broken.jpg" in run.stderr and "tagged 3 of 4 images" in run.stderr
    records = jsonl(invoke("export", tmp_path / "out", "-q", check=3).stdout)
    assert [("error" in r) for r in records] == [False, False, False, True]  # in listing order


def test_rescore_from_embeddings_streams_records_or_writes_shards(tmp_path, shards, small_images, tiny_classifier):
    other = tmp_path / "other.lzt"
    random_classifier(["sky", "road", "cat", "dog"], other, seed=5)
    streamed = jsonl(invoke("tag", "--from-embeddings", shards, "-c", other, "--pretrained", "none", "-k", "2", "--no-local").stdout)
    assert len(streamed) == 12 and all(len(r["tags"]) == 2 and r["tags"][0]["label"] in {"sky", "road", "cat", "dog"} for r in streamed)
    run = invoke("tag", "--from-embeddings", shards, "-c", other, "--pretrained", "none", "-k", "2", "--no-local", "--out", tmp_path / "new")
    assert "re-scored 12 of 12 images" in run.stderr
    assert jsonl(invoke("export", tmp_path / "new", "-q").stdout) == streamed
    with_local = invoke("tag", "--from-embeddings", shards, "-c", other, "--pretrained", "none")
    assert "global branch only" in with_local.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--engine", "ray"), "--engine ray writes Parquet shards: give --out DIR"),
        (("--manifest", "list.txt"), "--manifest writes Parquet shards: give --out DIR"),
        (("--out", "o", "--format", "xmp"), "turn them into other formats with `lzt export`"),
        (("--from-embeddings", "o"), "give --classifier"),
    ],
)
def test_options_that_do_not_go_together(tmp_path, small_images, args, message):
    run = invoke("tag", small_images, "--pretrained", "none", *args, check=2)
    assert message in run.stderr and "Traceback" not in run.stderr


def test_a_missing_manifest_column_is_one_line(tmp_path, tiny_classifier):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"file": ["a.jpg"]}), tmp_path / "m.parquet")
    run = invoke("tag", "-c", tiny_classifier, "--pretrained", "none", "--manifest", tmp_path / "m.parquet", "--out", tmp_path / "o", check=2)
    assert "has no 'path' column (its columns: file)" in run.stderr and "Traceback" not in run.stderr


def test_export_of_a_folder_no_run_wrote_is_one_line(tmp_path):
    run = invoke("export", tmp_path / "nothing-here", check=2)
    assert "no shards under" in run.stderr and "Traceback" not in run.stderr


def test_uris_without_out_say_what_reads_them(tmp_path):
    run = invoke("tag", f"file://{tmp_path}", "--pretrained", "none", check=2)
    assert "add --out DIR" in run.stderr


def test_rescored_captions_land_beside_the_photos_whatever_the_folder(tmp_path, tiny_classifier, monkeypatch):
    photos = copy_photos(tmp_path / "photos", 3)
    monkeypatch.chdir(tmp_path)
    invoke("tag", "photos", "-c", tiny_classifier, *TAG, "--out", tmp_path / "out")  # relative paths in the shards
    other = tmp_path / "other.lzt"
    random_classifier(["sky", "road", "cat"], other, seed=2)
    monkeypatch.chdir(tmp_path / "photos")  # elsewhere: captions still go beside the photos
    invoke("tag", "--from-embeddings", tmp_path / "out", "-c", other, "--pretrained", "none", "--no-local", "-k", "2", "--format", "txt", "-q")
    captions = sorted(photos.glob("*.txt"))
    assert len(captions) == 3 and all(set(c.read_text().strip().split(", ")) <= {"sky", "road", "cat"} for c in captions)


def test_a_cluster_address_where_nothing_answers_is_one_line_at_once(tmp_path, small_images, tiny_classifier):
    pytest.importorskip("ray")
    run = invoke("tag", small_images, "-c", tiny_classifier, "--pretrained", "none", "--engine", "ray", "--out", tmp_path / "o",
                 "--ray-address", "127.0.0.1:1", check=1)
    assert "cannot join the Ray cluster at 127.0.0.1:1: nothing answers there" in run.stderr and "Traceback" not in run.stderr


def test_export_writes_the_runs_keyword_tree(tmp_path):
    """Sidecars exported from shards carry the same keyword tree as `lzt tag --format xmp`."""
    from lzt import save_classifier
    from lzt.output.xmp import read_keywords

    classifier = random_classifier(["dog", "owl", "car"])
    classifier.parents = {"dog": ["animals"], "owl": ["animals", "birds"]}
    save_classifier(classifier, tmp_path / "tree.lzt")
    direct_photos, exported_photos = copy_photos(tmp_path / "a", 4), copy_photos(tmp_path / "b", 4)
    invoke("tag", direct_photos, "-c", tmp_path / "tree.lzt", *TAG, "--format", "xmp", "--with-parents")
    invoke("tag", exported_photos, "-c", tmp_path / "tree.lzt", *TAG, "--out", tmp_path / "out")
    invoke("export", tmp_path / "out", "--format", "xmp", "--with-parents", "-q")
    direct = sorted(p for p in direct_photos.iterdir() if p.suffix == ".xmp")
    exported = sorted(p for p in exported_photos.iterdir() if p.suffix == ".xmp")
    assert [p.read_bytes() for p in direct] == [p.read_bytes() for p in exported] and len(direct) == 4
    paths = {"dog": "animals|dog", "owl": "animals|birds|owl", "car": "car"}
    for sidecar in exported:
        flat, tree = read_keywords(sidecar)
        labels = [k for k in flat if k in paths]
        assert tree == [paths[label] for label in labels] and len(labels) == 3
        assert ("animals" in flat) == any(label != "car" for label in labels)
    invoke("export", tmp_path / "out", "--format", "xmp", "--underscores", "-q")  # restyled names keep their place in the tree
    for sidecar in exported:
        flat, tree = read_keywords(sidecar)
        assert tree == [paths[label] for label in flat if label in paths] and len(tree) == 3
    invoke("export", tmp_path / "out", "--format", "xmp", "--flat", "-q")  # lzt's tree entries become plain keywords
    for sidecar in exported:
        flat, tree = read_keywords(sidecar)
        assert sorted(tree) == sorted(flat) and len(flat) == 3
