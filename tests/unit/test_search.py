"""`lzt.search`: coco128 ranked by the tiny model equals a ranking computed here directly from the
encoder (decode, encode, round as the cache stores, cosine); the embedding cache serves a second
search without decoding; `like` finds the photo itself first; Parquet shards rank as their photos."""

from __future__ import annotations

import warnings

import pytest
import torch

import lzt
from lzt import DecodeOptions, LztError, LztWarning, ScoringConfig, UsageError
from lzt.tagging.decoding import decode_image

QUERY = "dog on a beach"


def direct_ranking(encoder, images, query: torch.Tensor) -> list[tuple[str, float]]:
    """Every image's cosine similarity to the (D,) unit `query`, best first (ties: file order),
    from the encoder itself: Pillow decode, encode in batches of 64, float16 rounding."""
    pixels = torch.stack([decode_image(path, encoder.preprocess) for path in images])
    embeddings = torch.cat([encoder.encode_pixels(pixels[i : i + 64]) for i in range(0, len(pixels), 64)]).half().float()
    scores = (embeddings @ query.float().reshape(-1, 1))[:, 0].tolist()
    order = sorted(range(len(images)), key=lambda i: (-scores[i], i))
    return [(str(images[i]), scores[i]) for i in order]


def as_pairs(result) -> list[tuple[str, float]]:
    return [(str(match.path), match.score) for match in result.matches]


def assert_same_ranking(found, expected, tolerance=1e-5):
    assert [path for path, _ in found] == [path for path, _ in expected]
    assert max(abs(a - b) for (_, a), (_, b) in zip(found, expected)) < tolerance


@pytest.fixture(scope="module")
def images(coco128):
    return sorted((coco128 / "images").glob("*.jpg"))


def test_words_rank_coco128_as_a_direct_recomputation_and_the_cache_serves_again(coco128, images, tiny_encoder, tmp_path):
    expected = direct_ranking(tiny_encoder, images, tiny_encoder.encode_texts([QUERY])[0])
    cold = lzt.search(coco128 / "images", QUERY, limit=None, encoder=tiny_encoder, cache=tmp_path, workers=0)
    assert cold.images == len(images) == 128 and cold.skipped == 0
    assert_same_ranking(as_pairs(cold), expected)
    # warm: every embedding from the cache; a decode would be refused by a 1-pixel limit
    warm = lzt.search([coco128 / "images"], QUERY, limit=7, encoder=tiny_encoder, cache=tmp_path, workers=0, decoding=DecodeOptions(max_pixels=1))
    assert as_pairs(warm) == as_pairs(cold)[:7]


def test_like_finds_the_photo_itself_first(images, tiny_encoder, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in images[:20]:
        (folder / image.name).write_bytes(image.read_bytes())
    photos = sorted(folder.glob("*.jpg"))
    result = lzt.search(folder, like=photos[5], limit=None, encoder=tiny_encoder, workers=0)
    pixels = decode_image(photos[5], tiny_encoder.preprocess).unsqueeze(0)
    expected = direct_ranking(tiny_encoder, photos, tiny_encoder.encode_pixels(pixels)[0].half().float())
    assert_same_ranking(as_pairs(result), expected)
    assert result.matches[0].path == photos[5] and result.matches[0].score == pytest.approx(1.0, abs=2e-3)
    assert result.matches[0].to_dict() == {"path": str(photos[5]), "score": round(result.matches[0].score, 4)}


def test_bad_queries_and_inputs_are_one_clear_error(images, tiny_encoder, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LztError, match=r"no images to search under .*empty"):
        lzt.search(tmp_path / "empty", "dog", encoder=tiny_encoder, workers=0)
    (tmp_path / "notes.jpg").write_text("not a photo")
    with pytest.raises(UsageError, match=r"cannot search `like` .*notes\.jpg: not an image"):
        lzt.search(images[0], like=tmp_path / "notes.jpg", encoder=tiny_encoder, workers=0)
    with pytest.raises(UsageError, match="one of the two"):
        lzt.search(images[0], "dog", like=images[1], encoder=tiny_encoder)
    with pytest.raises(UsageError, match="one of the two"):
        lzt.search(images[0], encoder=tiny_encoder)
    with pytest.raises(UsageError, match="empty"):
        lzt.search(images[0], "  ", encoder=tiny_encoder)
    with pytest.raises(UsageError, match="`limit`"):
        lzt.search(images[0], "dog", limit=0, encoder=tiny_encoder)


def test_unreadable_files_are_reported_and_the_rest_ranked(images, tiny_encoder, tmp_path):
    (tmp_path / "a.jpg").write_bytes(images[0].read_bytes())
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff truncated")
    skipped = []
    result = lzt.search(tmp_path, "dog", encoder=tiny_encoder, workers=0, on_skipped=lambda path, reason: skipped.append(path.name))
    assert [m.path.name for m in result.matches] == ["a.jpg"] and result.skipped == 1 and skipped == ["b.jpg"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory, small_images, tiny_classifier):
    """small_images tagged into Parquet shards by the local engine, global branch only (the
    embeddings then come from the encoder's global path, as search's do)."""
    out = tmp_path_factory.mktemp("search-shards") / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        tagger = lzt.Tagger.load(tiny_classifier, device="cpu", scoring=ScoringConfig(local=False))
    with tagger:
        lzt.tag_shards([small_images], out, tagger, engine="local", shard_size=5)
    return out


def test_shards_rank_as_their_photos_with_the_model_that_made_them(shards, small_images, tiny_encoder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        from_shards = lzt.search(shards, "red car", limit=None, device="cpu")  # model and weights from the shards
    from_photos = lzt.search(small_images, "red car", limit=None, encoder=tiny_encoder, workers=0)
    assert from_shards.images == 12 and from_shards.skipped == 0
    assert_same_ranking(as_pairs(from_shards), as_pairs(from_photos))
    like = sorted(small_images.glob("*.jpg"))[3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        assert lzt.search(shards, like=like, limit=1, device="cpu").matches[0].path == like


def test_shards_refuse_another_model_and_a_mix_with_photos(shards, small_images, tiny_encoder, tmp_path):
    with pytest.raises(UsageError, match="made with model lzt-tiny-vit; `model` lzt-tiny-rn"):
        lzt.search(shards, "dog", model="lzt-tiny-rn")
    with pytest.raises(UsageError, match="not both"):
        lzt.search([shards, small_images], "dog", encoder=tiny_encoder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        tagger = lzt.Tagger.load(lzt.load_classifier(shards / "_lzt" / "classifier.lzt"), device="cpu")
    with tagger:
        lzt.tag_shards([small_images], tmp_path / "bare", tagger, engine="local", embeddings=False)
    with pytest.raises(UsageError, match="without embeddings"):
        lzt.search(tmp_path / "bare", "dog", encoder=tiny_encoder)
