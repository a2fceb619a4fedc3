"""Reviewing tags: a local page where a person accepts, rejects and adds tags, a database that
keeps every decision, and what follows from them (sidecars and captions, a decisions export).

    store = ReviewStore("review.db")                 # SQLite; decisions survive restarts
    store.add(review_items(tagger, ["photos/"]))     # tags and the candidates just below the cut
    ReviewServer(store).serve_forever()              # the page, on 127.0.0.1, behind a token
    apply_review(store, format="xmp")                # lzt|reviewed|dog and lzt|auto|cat keywords

The store, the items and apply need no web library; the server needs the `review` extra
(Starlette and uvicorn), loaded only when a server is made.
"""

from __future__ import annotations

from lzt.review.apply import ApplyReport, apply_review, export_decisions, read_decisions
from lzt.review.items import read_tags_file, review_items, roots_of
from lzt.review.store import AddReport, Decision, PhotoQuery, ReviewItem, ReviewStore, Verdict

__all__ = [
    "AddReport", "ApplyReport", "Decision", "PhotoQuery", "ReviewItem", "ReviewStore", "Verdict", "apply_review",
    "export_decisions", "read_decisions", "read_tags_file", "review_items", "roots_of",
]
