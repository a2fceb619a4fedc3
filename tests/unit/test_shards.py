"""Sharded runs without Ray (engine `local`): manifests, tar shards, the Parquet layout, resume,
re-scoring stored embeddings, and the records read back. The Ray engine runs the same three
steps on a cluster (tests/e2e/test_ray_embedded.py, tests/e2e/test_ray_cluster.py)."""

from __future__ import annotations

import io
import json
import tarfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from lzt import LztWarning, ScoringConfig, Selection, Tagger, UsageError
from lzt.engines import read_shards, rescore, rescore_shards, sidecar_records, tag_shards
from lzt.engines.manifest import Shard, iter_sources, listed_shards, read_manifest, shard_entries, write_manifest
from lzt.engines.store import Store
from support import copy_photos, random_classifier


@pytest.fixture(scope="module")
def tagger(tiny_classifier):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        with Tagger.load(tiny_classifier, pretrained="none", device="cpu") as loaded:
            yield loaded


@pytest.fixture(scope="module")
def global_tagger(tiny_classifier):
    """Global branch only: what stored embeddings can be re-scored with."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        with Tagger.load(tiny_classifier, pretrained="none", device="cpu", scoring=ScoringConfig(local=False)) as loaded:
            yield loaded


def jpeg_bytes(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def make_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


# --- manifests ------------------------------------------------------------------------------------


def test_listing_streams_into_numbered_shards_and_a_tar_is_a_shard_of_its_own(tmp_path):
    photos = copy_photos(tmp_path / "photos", 7)
    make_tar(photos / "m-archive.tar", {"a.jpg": jpeg_bytes(0)})
    store = Store(tmp_path / "out")
    shards = []
    for shard in write_manifest(store, iter_sources([photos]), shard_size=3):
        assert store.exists(shard.manifest_file)  # each shard is on disk before the next is listed
        shards.append(shard)
    names = sorted(p.name for p in photos.iterdir())
    listed = [entry for shard in shards for entry in shard_entries(store, shard)]
    assert [Path(entry).name for entry in listed] == names  # the local engine's sorted walk
    tar_shards = [shard for shard in shards if shard.tar]
    assert len(tar_shards) == 1 and shard_entries(store, tar_shards[0]) == [str(photos / "m-archive.tar")]
    assert [shard.index for shard in shards] == list(range(len(shards)))
    assert listed_shards(store) == shards  # complete: a re-run reads it instead of listing again


def test_manifests_in_text_and_parquet_and_their_errors(tmp_path):
    text = tmp_path / "list.txt"
    text.write_text("# my photos\na.jpg\n\n  b.jpg  \nfile:///data/c.jpg\n")
    assert list(read_manifest(str(text))) == ["a.jpg", "b.jpg", "file:///data/c.jpg"]
    table = tmp_path / "list.parquet"
    pq.write_table(pa.table({"path": ["x.jpg", None, "y.jpg"], "width": [1, 2, 3]}), table)
    assert list(read_manifest(str(table))) == ["x.jpg", "y.jpg"]
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"file": ["x.jpg"]}), wrong)
    with pytest.raises(UsageError, match=r"no 'path' column \(its columns: file\)"):
        list(read_manifest(str(wrong)))
    with pytest.raises(UsageError, match="cannot read the manifest"):
        list(read_manifest(str(tmp_path / "missing.txt")))


def test_uris_are_listed_through_pyarrow_filesystems(tmp_path):
    photos = copy_photos(tmp_path / "photos", 3)
    (photos / "notes.txt").write_text("not an image")
    for hidden in (".trash/a.jpg", "@eaDir/b.jpg", "drafts/c.jpg"):
        (photos / hidden).parent.mkdir()
        (photos / hidden).write_bytes(b"x")
    uris = list(iter_sources([f"file://{photos}"], exclude=["drafts"]))
    assert uris == [f"file://{p}" for p in sorted(photos.glob("*.jpg"))]  # hidden, OS debris and excluded skipped
    with pytest.raises(UsageError, match="no such file or folder"):
        list(iter_sources([f"file://{tmp_path}/nowhere"]))


# --- tagging into shards ------------------------------------------------------------------------------


def test_shards_hold_the_records_of_tag_and_float16_embeddings(tmp_path, small_images, tagger):
    run = tag_shards([small_images], tmp_path / "out", tagger, engine="local", shard_size=5, selection=Selection(topk=3))
    assert (run.shards, run.images, run.errors, run.skipped) == (3, 12, 0, 0)
    assert sorted(p.name for p in (tmp_path / "out").glob("part-*.parquet")) == [f"part-{i:08d}.parquet" for i in range(3)]
    local = list(tagger.tag([small_images], Selection(topk=3), workers=0))
    stored = list(read_shards(tmp_path / "out"))
    assert [r.path for r in stored] == [r.path for r in local]
    assert [r.tags for r in stored] == [r.tags for r in local]  # the same scores, to the last printed digit
    table = pq.read_table(tmp_path / "out" / "part-00000000.parquet")
    assert table.schema.field("embedding").type == pa.list_(pa.float16(), tagger.classifier.embed_dim)
    assert table.schema.field("tags").type.value_type == pa.struct([("label", pa.string()), ("score", pa.float32())])
    embeddings = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-2)
    assert set(table.column("model").to_pylist()) == {tagger.encoder.identity}
    assert set(table.column("classifier").to_pylist()) == {tagger.classifier.signed_manifest()["sha256"]}


def test_a_rerun_skips_finished_shards_and_redoes_a_missing_one(tmp_path, small_images, tagger):
    out = tmp_path / "out"
    tag_shards([small_images], out, tagger, engine="local", shard_size=5)
    before = {p.name: p.read_bytes() for p in out.glob("part-*.parquet")}
    again = tag_shards([small_images], out, tagger, engine="local", shard_size=5)
    assert (again.images, again.skipped, again.shards) == (0, 3, 3)
    (out / "part-00000001.parquet").unlink()
    third = tag_shards([small_images], out, tagger, engine="local", shard_size=5)
    assert (third.images, third.skipped, third.shards) == (5, 2, 3)
    assert {p.name: p.read_bytes() for p in out.glob("part-*.parquet")} == before  # deterministic content
    assert len(list(read_shards(out))) == 12  # no duplicate row
    with pytest.raises(UsageError, match=r"holds the output of another run .*shard_size"):
        tag_shards([small_images], out, tagger, engine="local", shard_size=4)


def test_an_unfinished_listing_is_redone_and_shards_whose_files_changed_are_tagged_again(tmp_path, small_images, tagger):
    photos = copy_photos(tmp_path / "photos", 6)
    out = tmp_path / "out"
    tag_shards([photos], out, tagger, engine="local", shard_size=4)
    (out / "_lzt/manifest/_COMPLETE").unlink()  # as if the driver died while listing
    (photos / "000000000000-new.jpg").write_bytes(next(photos.glob("*.jpg")).read_bytes())  # sorts first: every shard shifts
    run = tag_shards([photos], out, tagger, engine="local", shard_size=4)
    assert (run.images, run.skipped) == (7, 0)
    paths = [r.path for r in read_shards(out)]
    assert paths == sorted(photos.glob("*.jpg")) and len(set(paths)) == 7  # each file once, in listing order


def test_tar_shards_bad_members_and_no_embeddings(tmp_path, tagger):
    archive = make_tar(tmp_path / "shard-000.tar", {
        "0001.jpg": jpeg_bytes(1), "0001.json": b'{"caption": "ignored companion"}', "0002.jpg": b"not a jpeg at all",
        "0003.png": b"", "sub/0004.jpg": jpeg_bytes(4),
    })
    broken = tmp_path / "broken.tar"
    first_member = 512 + -(-len(jpeg_bytes(1)) // 512) * 512  # tar: a 512-byte header, data padded to 512
    broken.write_bytes(archive.read_bytes()[: first_member + 700])  # cut inside the second member
    run = tag_shards([archive, broken], tmp_path / "out", tagger, engine="local", embeddings=False)
    records = {str(r.path): r for r in read_shards(tmp_path / "out")}
    assert records[f"{archive}#0001.jpg"].ok and records[f"{archive}#sub/0004.jpg"].ok
    assert "not an image" in records[f"{archive}#0002.jpg"].error
    assert "empty file" in records[f"{archive}#0003.png"].error
    assert records[f"{broken}#0001.jpg"].ok and "cannot read the tar shard" in records[str(broken)].error
    assert not any(name.endswith(".json") for name in records)
    assert run.errors == 3 and run.images == len(records) == 6
    assert "embedding" not in pq.read_schema(tmp_path / "out" / "part-00000000.parquet").names
    with pytest.raises(UsageError, match="without embeddings"):
        list(rescore(tmp_path / "out", tagger))
    sidecars = {str(r.path): r.error for r in sidecar_records(tmp_path / "out")}
    assert "inside a tar shard" in sidecars[f"{archive}#0001.jpg"]


def test_relative_paths_and_uris_decode_and_stay_as_given(tmp_path, small_images, tagger, monkeypatch):
    monkeypatch.chdir(small_images.parent)
    first = sorted(small_images.glob("*.jpg"))[:2]
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"{small_images.name}/{first[0].name}\nfile://{first[1]}\nfile://{tmp_path}/gone.jpg\n")
    run = tag_shards([], tmp_path / "out", tagger, manifest=manifest, engine="local")
    records = list(read_shards(tmp_path / "out"))
    assert [str(r.path) for r in records] == [f"{small_images.name}/{first[0].name}", f"file://{first[1]}", f"file://{tmp_path}/gone.jpg"]
    assert records[0].ok and records[1].ok and records[2].error == "file not found" and run.errors == 1
    monkeypatch.chdir(tmp_path)  # sidecars are written beside the files, wherever export runs
    assert next(r.path for r in sidecar_records(tmp_path / "out")) == first[0]


def test_an_image_gone_since_tagging_gets_no_sidecar_but_an_error(tmp_path, tagger):
    photos = copy_photos(tmp_path / "photos", 2)
    tag_shards([photos], tmp_path / "out", tagger, engine="local")
    gone = sorted(photos.glob("*.jpg"))[0]
    gone.unlink()
    records = {r.path: r for r in sidecar_records(tmp_path / "out")}
    assert "no longer there" in records[gone].error and sum(r.ok for r in records.values()) == 1


# --- re-scoring without pixels ----------------------------------------------------------------------


def test_rescoring_stored_embeddings_gives_the_tags_of_the_global_branch(tmp_path, small_images, global_tagger):
    out = tmp_path / "out"
    tag_shards([small_images], out, global_tagger, engine="local", shard_size=5)
    assert [r.tags for r in rescore(out, global_tagger)] == [r.tags for r in read_shards(out)]

    other = random_classifier(["sky", "road", "cat"], tmp_path / "other.lzt", seed=3)
    with Tagger.load(other, pretrained="none", device="cpu", scoring=ScoringConfig(local=False)) as new:
        embeddings = np.array(pq.read_table(out / "part-00000000.parquet").column("embedding").to_pylist(), dtype=np.float32)
        expected = new.score_embeddings(torch.from_numpy(embeddings), normalize=False)
        records = list(rescore(out, new, Selection(topk=2)))
        assert {label for r in records for label, _ in r.tags} <= {"sky", "road", "cat"}
        assert [label for label, _ in records[0].tags] == [new.labels[i] for i in expected[0].topk(2).indices.tolist()]
        run = rescore_shards(out, tmp_path / "rescored", new, selection=Selection(topk=2))
        assert (run.shards, run.images) == (3, 12)
        assert [r.tags for r in read_shards(tmp_path / "rescored")] == [r.tags for r in records]
        assert rescore_shards(out, tmp_path / "rescored", new, selection=Selection(topk=2)).skipped == 3


def test_rescoring_refuses_embeddings_of_another_model(tmp_path, small_images, global_tagger):
    tag_shards([small_images], tmp_path / "out", global_tagger, engine="local")
    rn = random_classifier(["a", "b"], tmp_path / "rn.lzt", model="lzt-tiny-rn", dim=global_tagger.classifier.embed_dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        with Tagger.load(rn, pretrained="none", device="cpu") as other, pytest.raises(UsageError, match="come from lzt-tiny-vit"):
            list(rescore(tmp_path / "out", other))
    with pytest.raises(UsageError, match="no shards"):
        list(rescore(tmp_path, global_tagger))


def test_run_settings_compare_the_same_across_processes(tmp_path, small_images, tagger, monkeypatch):
    from lzt.engines.run import canonical

    one = Selection(topk=3, exclude=frozenset({"dog", "cat", "car"}), per_label={"dog": 0.2, "cat": 0.1})
    other = Selection(topk=3, exclude=frozenset({"car", "dog", "cat"}), per_label={"cat": 0.1, "dog": 0.2})
    assert json.dumps(canonical(one)) == json.dumps(canonical(other))  # a frozenset's repr varies with hash seeds
    assert canonical(ScoringConfig())["calibration"] == "none"
    tag_shards([small_images], tmp_path / "out", tagger, engine="local", selection=one)
    monkeypatch.chdir(tmp_path)  # the same absolute inputs from another folder: the same run, resumed
    assert tag_shards([small_images], tmp_path / "out", tagger, engine="local", selection=other).skipped == 1


def test_waves_follow_a_slow_listing_in_order_and_raise_its_error(monkeypatch):
    from lzt.engines import run as engine_run

    monkeypatch.setattr(engine_run, "MAX_WAVE", 3)
    monkeypatch.setattr(engine_run, "FIRST_WAVE_WAIT", 0.05)

    def slow_listing(count: int, fail: bool = False):
        for index in range(count):
            time.sleep(0.01)
            yield Shard(index)
        if fail:
            raise UsageError("the manifest broke")

    waves = list(engine_run._waves(slow_listing(10)))
    assert [shard.index for wave in waves for shard in wave] == list(range(10))  # each once, in order
    assert len(waves) >= 4 and all(1 <= len(wave) <= 3 for wave in waves)
    with pytest.raises(UsageError, match="the manifest broke"):
        list(engine_run._waves(slow_listing(2, fail=True)))


def test_a_shorter_relisting_drops_the_shards_past_its_end(tmp_path, tagger):
    photos = copy_photos(tmp_path / "photos", 9)
    out = tmp_path / "out"
    tag_shards([photos], out, tagger, engine="local", shard_size=4)  # shards of 4, 4, 1
    (out / "_lzt/manifest/_COMPLETE").unlink()  # the listing did not finish, and then a photo went away
    sorted(photos.glob("*.jpg"))[-1].unlink()
    tag_shards([photos], out, tagger, engine="local", shard_size=4)
    assert sorted(p.name for p in out.glob("part-*.parquet")) == ["part-00000000.parquet", "part-00000001.parquet"]
    assert [r.path for r in read_shards(out)] == sorted(photos.glob("*.jpg"))


def test_manifests_that_are_not_text_are_refused(tmp_path):
    import gzip

    (tmp_path / "list.txt.gz").write_bytes(gzip.compress(b"a.jpg\nb.jpg\n"))
    with pytest.raises(UsageError, match="neither text"):
        list(read_manifest(str(tmp_path / "list.txt.gz")))
    (tmp_path / "bom.txt").write_bytes("\ufeffa.jpg\n".encode())
    assert list(read_manifest(str(tmp_path / "bom.txt"))) == ["a.jpg"]


def test_a_ray_error_is_reduced_to_its_root_cause():
    from lzt.engines.cluster import root_cause

    remote = (
        "The actor died because of an error raised in its creation task, \x1b[36mray::MapWorker(...).__init__()\x1b[39m\n"
        "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n"
        "lzt.errors.ClassifierFileError: no classifier file at /run/_lzt/classifier.lzt\n"
    )
    assert root_cause(RuntimeError(remote)) == "lzt.errors.ClassifierFileError: no classifier file at /run/_lzt/classifier.lzt"
    assert root_cause(RuntimeError("the node died")) == "the node died"


def test_shard_names_round_trip():
    assert Shard(42).output_file == "part-00000042.parquet"
    assert Shard.from_manifest_file(Shard(7, tar=True).manifest_file.rsplit("/", 1)[1]) == Shard(7, tar=True)
    assert json.loads(json.dumps("caf\udce9.jpg")) == "caf\udce9.jpg"  # manifests keep undecodable names


def test_a_run_recorded_before_a_setting_existed_still_resumes(tmp_path, small_images, tagger):
    """A run started by an older lzt, whose record lacks settings added since (Selection's
    order and underscores), resumes when they keep their defaults; any real difference is
    still refused."""
    out = tmp_path / "out"
    tag_shards([small_images], out, tagger, engine="local", shard_size=5)
    job = json.loads((out / "_lzt/job.json").read_text())
    for added in ("order", "underscores"):
        del job["selection"][added]
    (out / "_lzt/job.json").write_text(json.dumps(job))
    again = tag_shards([small_images], out, tagger, engine="local", shard_size=5)
    assert (again.images, again.skipped) == (0, 3)
    with pytest.raises(UsageError, match=r"holds the output of another run .*selection"):
        tag_shards([small_images], out, tagger, engine="local", shard_size=5, selection=Selection(underscores=True))
