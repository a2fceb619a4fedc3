"""The review server over real HTTP (uvicorn on a free loopback port): the token on every request,
writes only with the token header, thumbnails only by id and only from inside the folders under
review (no traversal, no symlink escape), and `lzt review` / `lzt apply` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from lzt.output.xmp import read_keywords, sidecar_path
from lzt.review import ReviewStore, roots_of
from lzt.tagging.discovery import discover
from reviewing import COCO_LABELS, items_for, new_store, request, serving, small_photos
from support import default_sigint, jsonl, lzt_command, random_classifier, run_lzt

pytest.importorskip("uvicorn", reason="the review extra is not installed")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """photos/ with three photos, one of them EXIF-rotated, a symlink to a photo inside, and a
    symlink to a photo outside the folder under review; outside/ holds that photo."""
    photos = tmp_path / "photos"
    small_photos(photos, 2)
    Image.new("RGB", (64, 32), (200, 10, 10)).save(photos / "rotated.jpg", exif=_orientation(6))
    outside = tmp_path / "outside"
    small_photos(outside, 1)
    (outside / "photo0000.jpg").rename(outside / "secret.jpg")
    os.symlink(outside / "secret.jpg", photos / "escape.jpg")
    os.symlink(photos / "photo0000.jpg", photos / "inside.jpg")
    return photos


def _orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


@pytest.fixture
def store(tmp_path: Path, library: Path):
    files = list(discover([library]))  # real discovery: symlinked files are listed
    with new_store(tmp_path / "review.db", items_for(files), roots_of([library])) as opened:
        yield opened


def ids(store: ReviewStore) -> dict[str, int]:
    return {item["name"]: item["id"] for item in store.page(limit=100)}


def test_every_request_needs_the_token(tmp_path: Path, store: ReviewStore) -> None:
    first = ids(store)["photo0000.jpg"]
    with serving(store, tmp_path / "thumbs") as server:
        for path in ("/", "/static/app.js", "/api/info", "/api/photos", f"/api/photos/{first}", f"/thumb/{first}", "/api/export", "/nowhere"):
            assert request(server, path, token=None)[0] == 403, path
            assert request(server, path + "?token=wrong" + server.token[5:], token=None)[0] == 403, path
        status, headers, body = request(server, "/")
        assert status == 200 and b"lzt review" in body
        assert headers["referrer-policy"] == "no-referrer" and "frame-ancestors 'none'" in headers["content-security-policy"]
        cookie = headers["set-cookie"].split(";")[0]
        assert "httponly" in headers["set-cookie"].lower() and "samesite=strict" in headers["set-cookie"].lower()
        assert request(server, f"/thumb/{first}", token=None, headers={"Cookie": cookie})[0] == 200  # <img> requests carry the cookie
        label = store.photos([first])[0]["tags"][0]["label"]
        decision = {"photo": first, "label": label, "decision": "accept"}
        # writes: the token in the URL or the cookie is not enough (a cross-site form could send those); the header is
        assert request(server, "/api/decide", method="POST", body=decision)[0] == 403
        assert request(server, "/api/decide", method="POST", body=decision, token=None, headers={"Cookie": cookie})[0] == 403
        assert list(store.decisions()) == []
        status, _, body = request(server, "/api/decide", method="POST", body=decision, token="header")
        assert status == 200 and json.loads(body)["tags"][0]["decision"] == "accept"
        # a page on another origin that rebinds its name to 127.0.0.1 is refused by name
        assert request(server, "/api/info", headers={"Host": f"evil.example:{server.port}"})[0] == 403
        assert request(server, "/api/info", headers={"Host": f"localhost:{server.port}"})[0] == 200
        assert request(server, "/api/decide", method="PUT", body=decision, token="header")[0] == 405


def test_thumbnails_only_by_id_and_only_inside_the_review(tmp_path: Path, store: ReviewStore, library: Path) -> None:
    names = ids(store)
    with serving(store, tmp_path / "thumbs") as server:
        for path in (
            "/thumb/../../../../etc/passwd", "/thumb/..%2f..%2f..%2fetc%2fpasswd", "/thumb/%2e%2e/%2e%2e/etc/passwd",
            f"/thumb/{names['photo0000.jpg']}/../../../etc/passwd", "/../../../etc/passwd", "/static/../store.py",
            "/static/..%2fstore.py", "/static/%2e%2e%2fweb.py", "/static/index.html/../../web.py", "/thumb/-1", "/thumb/999999",
            f"/thumb/{library / 'photo0000.jpg'}", "/thumb/1e3", "/thumb/0x1",
        ):
            status, _, body = request(server, path)
            assert status in (403, 404), (path, status)
            assert b"root:" not in body and b"import" not in body
        # a symlink in the reviewed folder that leads outside it: refused
        status, _, body = request(server, f"/thumb/{names['escape.jpg']}")
        assert status == 403 and b"outside the folders under review" in body
        # a symlink that stays inside is fine
        assert request(server, f"/thumb/{names['inside.jpg']}")[0] == 200
        # a file swapped for a symlink after the import: refused at the request
        swapped = library / "photo0001.jpg"
        swapped.unlink()
        os.symlink(tmp_path / "outside" / "secret.jpg", swapped)
        assert request(server, f"/thumb/{names['photo0001.jpg']}")[0] == 403
        swapped.unlink()
        assert request(server, f"/thumb/{names['photo0001.jpg']}")[0] == 404


def test_thumbnails_are_upright_small_and_cached(tmp_path: Path, store: ReviewStore, library: Path) -> None:
    names = ids(store)
    thumbs = tmp_path / "thumbs"
    with serving(store, thumbs) as server:
        status, headers, body = request(server, f"/thumb/{names['rotated.jpg']}")
        assert status == 200 and headers["content-type"] == "image/jpeg"
        image = Image.open(BytesIO(body))
        assert image.size == (32, 64)  # stored 64x32 with EXIF orientation 6: upright it is portrait
        big = library / "big.jpg"
        Image.new("RGB", (2000, 1200), (0, 90, 0)).save(big)
        store.add(items_for([big]))
        status, _, body = request(server, f"/thumb/{ids(store)['big.jpg']}")
        assert Image.open(BytesIO(body)).size == (320, 192)
        cached = sorted(p for p in thumbs.rglob("*.jpg"))
        assert len(cached) == 2 and body in {p.read_bytes() for p in cached}
        os.utime(big, ns=(0, 0))  # an edited file (another mtime) gets a new thumbnail
        request(server, f"/thumb/{ids(store)['big.jpg']}")
        assert len(list(thumbs.rglob("*.jpg"))) == 3
        (library / "text.jpg").write_text("not an image")
        store.add(items_for([library / "text.jpg"]))
        status, _, body = request(server, f"/thumb/{ids(store)['text.jpg']}")
        assert status == 422 and b"not an image" in body


def test_the_api_pages_filters_and_refuses_bad_requests(tmp_path: Path) -> None:
    photos = small_photos(tmp_path / "many", 130)
    with new_store(tmp_path / "r.db", items_for(photos), [tmp_path / "many"]) as store, serving(store, tmp_path / "thumbs") as server:
        status, _, body = request(server, "/api/photos?limit=50&offset=100&sort=path&order=asc")
        page = json.loads(body)
        assert status == 200 and page["total"] == 130 and [p["name"] for p in page["items"]] == [p.name for p in photos[100:130]]
        page = json.loads(request(server, "/api/photos?limit=100000")[2])
        assert len(page["items"]) == 130
        status, _, body = request(server, "/api/photos?label=person&min=0.85")
        person = json.loads(body)
        assert person["total"] == 2  # photos 0 and 80 have person as their first tag
        bulk = {"filter": {"label": "person", "min": "0.85"}, "label": "person", "decision": "reject"}
        status, _, body = request(server, "/api/bulk", method="POST", token="header", body={**bulk, "expected": 5})
        assert status == 400 and b"reload" in body
        status, _, body = request(server, "/api/bulk", method="POST", token="header", body={**bulk, "expected": 2})
        assert status == 200 and json.loads(body) == {"photos": 2}
        assert {(d.label, d.decision) for d in store.decisions()} == {("person", "reject")}
        for path, wanted in (("/api/photos?min=abc", b"must be a number"), ("/api/photos?status=maybe", b"status"),
                             ("/api/photos?offset=x", b"integer")):
            status, _, body = request(server, path)
            assert status == 400 and wanted in body, path
        for payload in ([1, 2], {"photo": 1, "label": "unicorn", "decision": "accept"}, {"photo": 1, "label": "dog", "decision": "maybe"}):
            assert request(server, "/api/decide", method="POST", token="header", body=payload)[0] == 400
        info = json.loads(request(server, "/api/info")[2])
        assert info["vocabulary"] == COCO_LABELS and info["summary"]["rejected"] == 2
        export = request(server, "/api/export")[2].decode()
        assert [json.loads(line)["decision"] for line in export.splitlines()] == ["reject", "reject"]


# --- the commands, as a user runs them ------------------------------------------------------------


def start_review(*args: object, cwd: Path | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(lzt_command("review", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_sigint, cwd=cwd)
    seen: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
        if found:
            process.seen = seen  # type: ignore[attr-defined]  # what it printed before serving
            return process, found.group(1)
    process.kill()
    raise AssertionError("lzt review printed no URL:\n" + "".join(seen))


def get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers or {}), timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
    return stderr


def test_lzt_review_serves_stops_on_ctrl_c_and_keeps_decisions(coco128, tmp_path: Path) -> None:
    from support import copy_photos

    photos = copy_photos(tmp_path / "photos", 3)
    classifier = random_classifier(COCO_LABELS, tmp_path / "coco.lzt")
    assert classifier.labels == COCO_LABELS
    db = tmp_path / "review.db"
    process, url = start_review(photos, "-c", tmp_path / "coco.lzt", "--db", db, "--no-browser", "-w", "0", "-k", "3")
    try:
        base, token = url.split("/?token=")
        assert get(base + "/api/info")[0] == 403
        status, body = get(f"{base}/api/photos?token={token}")
        page = json.loads(body)
        assert status == 200 and page["total"] == 3 and all(len(p["tags"]) == 3 and len(p["candidates"]) == 5 for p in page["items"])
        first = page["items"][0]
        decision = json.dumps({"photo": first["id"], "label": first["tags"][0]["label"], "decision": "accept"}).encode()
        assert get(f"{base}/api/decide", decision, {"Content-Type": "application/json"})[0] == 403
        assert get(f"{base}/api/decide", decision, {"Content-Type": "application/json", "X-Lzt-Token": token})[0] == 200
    finally:
        stderr = stop(process)
    assert "stopped; the decisions are in" in stderr
    process, url = start_review("--db", db, "--no-browser")  # reopened without inputs: the same review
    try:
        base, token = url.split("/?token=")
        page = json.loads(get(f"{base}/api/photos?token={token}")[1])
        again = next(p for p in page["items"] if p["id"] == first["id"])
        assert again["tags"][0]["decision"] == "accept"
    finally:
        stop(process)
    exported = jsonl(run_lzt("review", "--db", db, "--export", "-", "-q").stdout)
    assert exported == [{"path": first["path"], "label": first["tags"][0]["label"], "decision": "accept"}]
    result = run_lzt("apply", "--db", db)
    assert "applied 1 reviewed photos: 1 sidecars written" in result.stderr
    _, tree = read_keywords(sidecar_path(Path(first["path"])))
    assert tree[0] == f"lzt|reviewed|{first['tags'][0]['label']}" and [t.split("|")[1] for t in tree] == ["reviewed", "auto", "auto"]
    # a moved photo: skipped with its reason (exit 3), found again with --search
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(first["path"], moved / Path(first["path"]).name)
    result = run_lzt("apply", "--db", db, check=3)
    assert f"warning: skipped {first['path']}: file not found" in result.stderr and "--search" in result.stderr
    result = run_lzt("apply", "--db", db, "--search", moved)
    assert "its decisions follow it" in result.stderr
    # the vocabulary changed since the review: the label is left out, reported, exit 3
    result = run_lzt("apply", "--db", db, "--labels", "voc", check=3)
    assert "not in the vocabulary" in result.stderr


def test_lzt_review_of_a_tags_file(tmp_path: Path) -> None:
    small_photos(tmp_path / "photos", 2)
    tags = [{"label": label, "score": round(0.9 - 0.1 * k, 4)} for k, label in enumerate(["dog", "cat", "car", "bus"])]
    source = tmp_path / "tags.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in (
        {"path": "photos/photo0000.jpg", "tags": tags}, {"path": "photos/photo0001.jpg", "tags": tags[1:]},
        {"path": "photos/broken.jpg", "error": "truncated image"},
    )))
    process, url = start_review(source, "-k", "2", "--no-browser", "--db", tmp_path / "review.db", cwd=tmp_path)
    try:
        assert any("warning: skipped" in line and "broken.jpg: truncated image" in line for line in process.seen)  # type: ignore[attr-defined]
        base, token = url.split("/?token=")
        page = json.loads(get(f"{base}/api/photos?token={token}&sort=path&order=asc")[1])
        assert [p["path"] for p in page["items"]] == [str(tmp_path / "photos" / f"photo000{i}.jpg") for i in (0, 1)]
        assert [[t["label"] for t in p["tags"]] for p in page["items"]] == [["dog", "cat"], ["cat", "car"]]
        assert [[t["label"] for t in p["candidates"]] for p in page["items"]] == [["car", "bus"], ["bus"]]
        assert get(f"{base}/thumb/{page['items'][0]['id']}?token={token}")[0] == 200
        info = json.loads(get(f"{base}/api/info?token={token}")[1])
        assert info["vocabulary"] == ["dog", "cat", "car", "bus"]  # without a classifier: the labels the file holds
    finally:
        stop(process)
