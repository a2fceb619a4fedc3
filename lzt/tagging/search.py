"""Find photos by words, or by another photo: images ranked by the cosine similarity of their CLIP
embedding to the text's (or the photo's) embedding, as rclip does.

Search is tagging with a classifier of one row, the query's unit embedding, scored without
mapping, local branch or calibration: the score is the cosine similarity itself. So the Tagger's
whole pipeline serves it unchanged: discovery, decoding processes, the batched JPEG decoder, bad
files as error records, and the embedding cache, which `lzt tag` and search fill and read alike
(a photo encoded by either is never encoded again). Parquet shards (`lzt tag --out`) are searched
through the embeddings they store, with the model that made them.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from lzt.classifier import Classifier
from lzt.config import DEFAULT_BATCH_SIZE, DecodeOptions, InputConfig, Mapping, MappingConfig, Resize, ScoringConfig, Selection
from lzt.errors import InputError, LztError, UsageError
from lzt.model import ClipEncoder, load_encoder
from lzt.progress import Progress, logger, no_progress
from lzt.tagging.batches import CacheLookup
from lzt.tagging.cache import open_cache
from lzt.tagging.decoding import DecodeTimeout, decode_image, describe_error
from lzt.tagging.scoring import as_stored
from lzt.tagging.tagger import Tagger, _path_list

DEFAULT_LIMIT = 10  # matches shown, as rclip shows


@dataclass(frozen=True)
class Match:
    """A photo found: its path (as found, or as a shard stores it) and its cosine similarity to
    the query (-1 to 1; higher is closer)."""

    path: Path | str
    score: float

    def to_dict(self) -> dict:
        """The JSON Lines object of `lzt search`: {"path", "score"}, the score to 4 decimals."""
        return {"path": os.fsdecode(self.path), "score": round(self.score, 4)}


@dataclass
class SearchResult:
    """matches: the best first (ties in the order the images were found); images: images
    ranked; skipped: files that could not be read (each reported to `on_skipped`)."""

    matches: list[Match]
    images: int
    skipped: int


class _Best:
    """The `limit` best (score, order) seen so far, in bounded memory (None: all of them)."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.heap: list[tuple[float, int, Path | str]] = []
        self.seen = 0

    def add(self, path: Path | str, score: float) -> None:
        item = (score, -self.seen, path)  # on equal scores the earlier image wins
        self.seen += 1
        if self.limit is None or len(self.heap) < self.limit:
            heapq.heappush(self.heap, item)
        elif item[:2] > self.heap[0][:2]:
            heapq.heapreplace(self.heap, item)

    def matches(self) -> list[Match]:
        return [Match(path, score) for score, _, path in sorted(self.heap, key=lambda item: item[:2], reverse=True)]


def search(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    text: str | None = None,
    *,
    like: str | os.PathLike | None = None,
    limit: int | None = DEFAULT_LIMIT,
    encoder: ClipEncoder | None = None,
    model: str | None = None,
    pretrained: str | None = None,
    device: str | torch.device = "auto",
    input: InputConfig = InputConfig(),
    cache: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    decoding: DecodeOptions = DecodeOptions(),
    exclude: Sequence[str] = (),
    include_hidden: bool = False,
    progress: Progress = no_progress,
    on_skipped: Callable[[Path | str, str], None] | None = None,
) -> SearchResult:
    """The images under `paths` most similar to `text` (words, as typed) or to the photo `like`
    (one of the two), best first, at most `limit` of them (None: every image).

    paths: image files and folders (searched as Tagger.tag searches them), or folders of Parquet
        shards written by `tag_shards` (searched through their stored embeddings, with the model
        that made them); not both kinds at once.
    encoder: a loaded model to use as it is; else `model` (default $LZT_MODEL, else ViT-B-16; for
        shards, theirs), `pretrained` and `device` load one, with `input` (it must match what
        filled the cache for the cache to serve).
    cache: the embedding cache folder (None: none): images it holds are not decoded or encoded,
        and the ones it lacks are added to it.
    The other arguments are those of Tagger.tag. A file that cannot be read is left out and
    reported to `on_skipped(path, reason)`; none to search at all is an InputError."""
    if (text is None) == (like is None):
        raise UsageError("search by words (`text`) or by a photo (`like`), one of the two")
    if text is not None and not text.strip():
        raise UsageError("the words to search for (`text`) are empty")
    if limit is not None and limit < 1:
        raise UsageError("`limit` must be at least 1 (or None for every image)")
    found = _path_list(paths)
    if not found:
        raise UsageError("no files or folders to search")
    from lzt.output.stats import is_shard_folder

    shards = [path for path in found if path.is_dir() and is_shard_folder(path)]
    if shards and len(shards) != len(found):
        raise UsageError("search either folders of Parquet shards or photos, not both at once: their models may differ")
    if shards:
        return _search_shards(shards, text, like, limit, encoder, model, pretrained, device, decoding, progress, on_skipped)
    if encoder is None:
        encoder = load_encoder(model, pretrained, device)
        encoder.set_input(input)
        logger.info(encoder.describe())
    query = query_embedding(encoder, text, like, decoding, cache)
    tagger = Tagger(encoder, query_classifier(encoder, query, text or os.fsdecode(like or "")), _SIMILARITY, cache)
    best, skipped = _Best(limit), 0
    try:
        records = tagger.tag(
            found, Selection(topk=1), batch_size=batch_size, workers=workers, decoding=decoding, exclude=exclude,
            include_hidden=include_hidden, keep_scores=True,
        )
        with progress("searching", None, "images") as advance:
            for record in records:
                advance(1)
                if record.error is not None or record.scores is None:
                    skipped += 1
                    if on_skipped is not None:
                        on_skipped(record.path or "", record.error or "not scored")
                else:
                    best.add(record.path or "", float(record.scores[0]))
    finally:
        tagger.close()
    return _result(best, skipped, found)


# Cosine similarity: the raw score of a unit query row, nothing fused or standardised.
_SIMILARITY = ScoringConfig(MappingConfig(Mapping.none), local=False)


def query_classifier(encoder: ClipEncoder, query: torch.Tensor, name: str = "query") -> Classifier:
    """A one-label classifier whose weight is the (1, D) unit `query` embedding: with the
    mapping, local branch and calibration off, its score of an image is their cosine similarity."""
    query = query.detach().float().cpu().reshape(1, -1)
    return Classifier(
        [name], {}, encoder.name, encoder.pretrained_id, encoder.embed_dim, query, query, activation=encoder.activation,
    )


def query_embedding(
    encoder: ClipEncoder, text: str | None = None, like: str | os.PathLike | None = None,
    decoding: DecodeOptions = DecodeOptions(), cache: str | Path | None = None,
) -> torch.Tensor:
    """(1, D) unit embedding of the words `text` (as typed, no prompt around them), or of the
    photo `like`: from the embedding cache in `cache` when it holds the photo, else decoded and
    encoded as the pipeline does (and added to the cache), so that the photo itself scores 1."""
    if text is not None:
        return encoder.encode_texts([text])
    if like is None:
        raise UsageError("search by words (`text`) or by a photo (`like`)")
    photo = Path(os.fsdecode(like))
    store = open_cache(cache, encoder.identity) if cache is not None else None
    try:
        found, identity = CacheLookup(store, needs_local=False).find(photo) if store is not None else (None, None)
        if found is not None:
            return found.global_features.reshape(1, -1)
        try:
            pixels = decode_image(photo, encoder.preprocess, decoding)
        except (Exception, DecodeTimeout) as exc:  # any decoder's failure: one line naming the photo
            raise InputError(f"cannot search `like` {os.fsdecode(like)}: {describe_error(exc)}") from exc
        embedding = as_stored(encoder.encode_pixels(pixels.unsqueeze(0))).cpu()
        if store is not None and identity is not None:
            with contextlib.suppress(sqlite3.Error, OSError):  # the cache is optional
                store.store([(*identity, embedding[0], None)])
        return embedding
    finally:
        if store is not None:
            store.close()


def _result(best: _Best, skipped: int, paths: Sequence[Path]) -> SearchResult:
    if best.seen == 0 and skipped == 0:
        raise LztError(f"no images to search under {', '.join(os.fsdecode(p) for p in paths)}")
    return SearchResult(best.matches(), best.seen, skipped)


# --- Parquet shards ---------------------------------------------------------------------------------


def _search_shards(
    folders: list[Path], text: str | None, like: str | os.PathLike | None, limit: int | None, encoder: ClipEncoder | None,
    model: str | None, pretrained: str | None, device: str | torch.device, decoding: DecodeOptions, progress: Progress,
    on_skipped: Callable[[Path | str, str], None] | None,
) -> SearchResult:
    from lzt.engines.shards import embeddings_of, output_shards, read_shard, records_of
    from lzt.engines.store import Store

    stores = [Store(folder) for folder in folders]
    recorded = _recorded_model(stores)
    name, weights, _, preprocess = [*recorded.split("|"), "", "", ""][:4]
    if encoder is None:
        if model is not None and model != name:
            raise UsageError(f"the shards were made with model {name}; `model` {model} cannot search their embeddings")
        if pretrained is None and "@" in weights:
            raise UsageError(f"the shards were made with weights from the checkpoint file {weights.split('@')[0]}: give it as `pretrained`")
        encoder = load_encoder(name, pretrained or weights, device)
        size, resize = [*preprocess.split("/"), ""][:2]
        encoder.set_input(InputConfig(int(size) if size.isdigit() else None, Resize(resize) if resize in Resize.__members__ else Resize.shortest))
        logger.info(encoder.describe())
    if encoder.identity.split("|")[:2] != [name, weights]:
        raise UsageError(
            f"the shards' embeddings come from {name} ({weights}); the model loaded is {encoder.name} "
            f"({encoder.pretrained_id}): search them with their own `model` and `pretrained`"
        )
    query = query_embedding(encoder, text, like, decoding)[0].float().numpy()
    best, skipped = _Best(limit), 0
    with progress("searching", None, "images") as advance:
        for store in stores:
            for shard in output_shards(store):
                table = read_shard(store, shard, ["path", "tags", "error", "embedding"])
                values, has = embeddings_of(table)
                scores = values[has].astype("float32") @ query  # the stored rows are unit, rounded as tagged
                rows = iter(scores.tolist())
                for record, stored in zip(records_of(table), has.tolist()):
                    advance(1)
                    if stored:
                        best.add(record.path or "", next(rows))
                    else:
                        skipped += 1
                        if on_skipped is not None:
                            on_skipped(record.path or "", record.error or "no embedding stored")
    return _result(best, skipped, folders)


def _recorded_model(stores: list) -> str:
    """The image encoder's identity recorded in the shards (one for all of them), after checking
    that they stored embeddings."""
    from lzt.engines.shards import column_names, output_shards, read_shard

    found: set[str] = set()
    for store in stores:
        for shard in output_shards(store):
            if "embedding" not in column_names(store, shard):
                raise UsageError(f"{store.location} was written without embeddings (`embeddings` False): search needs them")
            found.update(value for value in read_shard(store, shard, ["model"]).column("model").unique().to_pylist() if value)
            break  # a run's shards share one model: the first of each folder says which
    if not found:
        raise LztError(f"no images to search under {', '.join(store.location for store in stores)}: no shards written yet")
    if len({tuple(identity.split("|")[:2]) for identity in found}) > 1:
        raise UsageError(f"these shard folders were made with different models ({', '.join(sorted(found))}): search them one at a time")
    return sorted(found)[0]
