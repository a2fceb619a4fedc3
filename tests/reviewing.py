"""What the review tests share, imported as `reviewing`: review items without a model, a review
server run in this process (always stopped), raw HTTP requests, and a headless Chromium."""

from __future__ import annotations

import http.client
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from PIL import Image

from lzt.review import ReviewItem, ReviewStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
COCO_LABELS = [line.split(":")[0].strip() for line in (Path(__file__).resolve().parent.parent / "label_sets" / "coco.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#")]


def small_photos(folder: Path, count: int, size: tuple[int, int] = (64, 48)) -> list[Path]:
    """`count` small distinct JPEGs (a colour each), for tests that need many files, not content."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"photo{index:04d}.jpg"
        Image.new("RGB", size, ((index * 37) % 256, (index * 91) % 256, (index * 13) % 256)).save(path, quality=80)
        paths.append(path)
    return paths


def items_for(paths: list[Path], tags: int = 3, candidates: int = 2) -> list[ReviewItem]:
    """Review items with made-up scores: photo i gets labels i, i+1, ... of the COCO vocabulary
    as tags (scores 0.9, 0.8, ... less a millionth per photo), and the next ones as candidates."""
    items = []
    for index, path in enumerate(paths):
        labels = [COCO_LABELS[(index + k) % len(COCO_LABELS)] for k in range(tags + candidates)]
        scores = [0.9 - 0.1 * k - 1e-6 * index for k in range(tags + candidates)]
        pairs = list(zip(labels, scores))
        items.append(ReviewItem(path, pairs[:tags], pairs[tags:]))
    return items


def new_store(path: Path, items: list[ReviewItem], roots: list[Path]) -> ReviewStore:
    store = ReviewStore(path)
    store.set_vocabulary(COCO_LABELS)
    store.add(items, roots)
    return store


@contextmanager
def serving(store: ReviewStore, thumbnails: Path, **options: Any) -> Iterator[Any]:
    """A review server on a free loopback port, in a thread of this process; stopped on exit."""
    from lzt.review.server import ReviewServer

    server = ReviewServer(store, thumbnail_dir=thumbnails, **options).start()
    try:
        yield server
    finally:
        server.stop()


def request(server: Any, path: str, *, method: str = "GET", token: str | None = "url", body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request (the path is sent exactly as given, `..` and all). token: `url` adds
    `?token=` to the path, `header` sends X-Lzt-Token, None sends none."""
    sent = dict(headers or {})
    if token == "url":
        path += ("&" if "?" in path else "?") + f"token={server.token}"
    elif token == "header":
        sent["X-Lzt-Token"] = server.token
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def chrome() -> Any:
    """A headless Chromium driven by selenium; the test is skipped when either is missing (it
    fails instead under $LZT_REQUIRE_BROWSER, which CI sets: there the browser tests must run)."""
    missing = pytest.fail if os.environ.get("LZT_REQUIRE_BROWSER") else pytest.skip
    if CHROMIUM is None or CHROMEDRIVER is None:
        missing("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
    except ImportError:
        missing("selenium is not installed (the test extra has it)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                     "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
