"""The review database: photos under review, their automatic tags and candidates, and the
decisions a person made about them, in one SQLite file.

Every decision is its own transaction, committed (and fsynced: WAL with synchronous=FULL) before
the server answers, so a decision acknowledged on the page survives a crash or a restart. The
file carries an application id and a schema version; a file that is not a review database, one
that is damaged, or one written by a newer lzt is refused with one line and never rewritten.

Photos are keyed by their absolute path (as given, symlinks not resolved: the sidecar goes beside
that path). Decisions are keyed by photo and label; they stay when the photo is re-imported with
new scores, when the vocabulary changes, or when its file vanishes, and they follow a file that
moved (same name, size and modification time) when the review meets it at its new place.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from lzt.errors import LztError, UsageError
from lzt.files import is_sqlite
from lzt.version import __version__

SCHEMA_VERSION = 1
APPLICATION_ID = 0x6C7A7472  # "lztr": says "an lzt review database" to anyone who reads the header
BATCH = 1000  # photos per transaction while importing
PAGE_QUERY = 500  # photos per query when reading them back (SQLite's limit on parameters is 999 in old builds)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roots (path BLOB PRIMARY KEY);
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE, name BLOB NOT NULL, size INTEGER, mtime_ns INTEGER,
    top_score REAL, added_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS photos_identity ON photos (name, size, mtime_ns);
CREATE INDEX IF NOT EXISTS photos_top ON photos (top_score);
CREATE TABLE IF NOT EXISTS scores (
    photo INTEGER NOT NULL REFERENCES photos (id), label TEXT NOT NULL, score REAL NOT NULL,
    rank INTEGER NOT NULL, auto INTEGER NOT NULL, PRIMARY KEY (photo, label)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS scores_label ON scores (label, auto, score);
CREATE TABLE IF NOT EXISTS decisions (
    photo INTEGER NOT NULL REFERENCES photos (id), label TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject')), added INTEGER NOT NULL,
    decided_at REAL NOT NULL, PRIMARY KEY (photo, label)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS decisions_label ON decisions (label);
"""

Tags = Sequence[tuple[str, float]]


class Verdict(str, Enum):
    """What a person decided about one label of one photo; `clear` takes a decision back."""

    accept = "accept"
    reject = "reject"
    clear = "clear"


@dataclass(frozen=True)
class ReviewItem:
    """One photo to review: its file, its automatic tags (best first), the next labels just below
    the cut (`candidates`, best first), or the `error` that kept it from being tagged."""

    path: Path | str
    tags: Tags = ()
    candidates: Tags = ()
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    """One decision as exported: the photo's absolute path, the label, `accept` or `reject`, and
    `added` for an accepted label the person added (it was neither a tag nor a candidate)."""

    path: str
    label: str
    decision: str
    added: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The exported JSON object: {"path", "label", "decision"}, plus "added": true for an
        accepted label the person added."""
        row: dict[str, Any] = {"path": self.path, "label": self.label, "decision": self.decision}
        if self.added and self.decision == Verdict.accept.value:
            row["added"] = True
        return row


@dataclass(frozen=True)
class PhotoQuery:
    """Which photos a page shows, and in which order.

    label: only photos where this label is an automatic tag (`where="tags"`), a candidate
        (`"candidates"`) or either (`"any"`); None: every photo.
    min_score, max_score: the range of that label's score (without a label: of the photo's best tag).
    status: `all`, `undecided` (no decision about `label`, or none at all without a label) or
        `decided`.
    sort: `score` (the label's score, or the best tag's) or `path`; `descending` reverses it."""

    label: str | None = None
    where: str = "tags"
    min_score: float | None = None
    max_score: float | None = None
    status: str = "all"
    sort: str = "score"
    descending: bool = True

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("where", self.where, ("tags", "candidates", "any")),
            ("status", self.status, ("all", "undecided", "decided")),
            ("sort", self.sort, ("score", "path")),
        ):
            if value not in allowed:
                raise UsageError(f"`PhotoQuery.{name}` must be one of {', '.join(allowed)}, not {value!r}")


@dataclass
class AddReport:
    """What an import did: photos `added` (new), `updated` (already there: new scores),
    `moved` (old path -> new path: decisions followed) and `errors` (path, reason: not imported)."""

    added: int = 0
    updated: int = 0
    moved: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ReviewedPhoto:
    """A photo as `apply` sees it: its path, its automatic tags (best first) and its decisions
    (label -> `accept`/`reject`), accepted labels in the order they should be written."""

    id: int
    path: str
    tags: tuple[tuple[str, float], ...]
    candidates: tuple[tuple[str, float], ...]
    decisions: dict[str, str]


def _encode(path: Path | str) -> bytes:
    return os.fsencode(os.path.abspath(os.fspath(path)))


def _decode(blob: bytes) -> str:
    return os.fsdecode(bytes(blob))


def _stat(path: bytes) -> tuple[int | None, int | None]:
    try:
        info = os.stat(path)
    except OSError:
        return None, None
    return info.st_size, info.st_mtime_ns


class ReviewStore:
    """The review database (SQLite) at `path`: photos, their tags and candidates, the vocabulary,
    and the decisions. Thread-safe (one connection behind a lock); use it as a context manager or
    call close().

    create: make the database when the file does not exist (False: a missing file is an error).
    A file that is not a review database, a damaged one, or one written by a newer lzt raises
    LztError and is left exactly as it was."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        self._lock = threading.RLock()
        exists = self.path.exists()
        if not exists and not create:
            raise LztError(f"no review database at {self.path}")
        if exists:
            _check_header(self.path)
        elif not self.path.parent.is_dir():
            raise LztError(f"cannot create the review database {self.path}: folder {self.path.parent} does not exist")
        try:
            self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        except sqlite3.Error as exc:
            raise LztError(f"cannot open the review database {self.path}: {exc}") from exc
        try:
            self._prepare(exists)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise _damaged(self.path, exc) from exc
        except BaseException:
            self.db.close()
            raise

    def _prepare(self, existed: bool) -> None:
        application = self.db.execute("PRAGMA application_id").fetchone()[0]
        tables = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if application != APPLICATION_ID and (application != 0 or tables):
            raise LztError(f"{self.path} is an SQLite database, but not an lzt review database; it was left as it is")
        if existed and tables:
            check = self.db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise _damaged(self.path, check)
            version = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is not None and int(version[0]) > SCHEMA_VERSION:
                raise LztError(
                    f"the review database {self.path} was written by a newer lzt (schema {version[0]}; this lzt reads "
                    f"{SCHEMA_VERSION}); upgrade lzt to open it"
                )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a decision acknowledged is a decision on disk
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB: imports update the label index all over
        with self.db:
            self.db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self.db.executescript(_SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('created_by', ?)", (f"lzt {__version__}",))
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('vocabulary', '[]')")

    # --- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database (everything is committed already)."""
        with self._lock:
            self.db.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self.db.execute(sql, parameters).fetchall()
            except sqlite3.DatabaseError as exc:
                raise _damaged(self.path, exc) from exc

    # --- the vocabulary ---------------------------------------------------------------------------

    @property
    def vocabulary(self) -> list[str]:
        """The labels a person may add (and `apply` writes), as the last import recorded them."""
        return json.loads(self._read("SELECT value FROM meta WHERE key='vocabulary'")[0][0])

    def set_vocabulary(self, labels: Iterable[str]) -> dict[str, int]:
        """Record the review's vocabulary. Returns the decided labels it lacks (label -> number of
        decisions): they stay in the database, but `apply` leaves them out."""
        unique = list(dict.fromkeys(labels))
        self._write_vocabulary(unique)
        return self.stale_labels(unique)

    def _write_vocabulary(self, labels: list[str]) -> None:
        with self._lock, self.db:
            self.db.execute("UPDATE meta SET value=? WHERE key='vocabulary'", (json.dumps(labels),))

    def stale_labels(self, vocabulary: Iterable[str]) -> dict[str, int]:
        """Decided labels outside `vocabulary`, with their number of decisions."""
        known = set(vocabulary)
        rows = self._read("SELECT label, count(*) FROM decisions GROUP BY label ORDER BY label")
        return {label: count for label, count in rows if label not in known}

    # --- importing --------------------------------------------------------------------------------

    def add(self, items: Iterable[ReviewItem], roots: Iterable[str | Path] | None = None) -> AddReport:
        """Import photos (new ones added, known ones given their new tags and candidates; their
        decisions stay), in transactions of BATCH photos; labels of their tags and candidates
        join the vocabulary. An item with an `error` is not imported (it is in `errors`).

        roots: the folders under review (None: the folder of each photo imported); the server
            serves thumbnails only of files inside them, symlinks resolved.
        A new path whose file matches a photo whose file vanished (same name, size and
        modification time) takes that photo's place: its decisions follow the file."""
        report = AddReport()
        self._add_roots(roots or ())
        batch: list[ReviewItem] = []
        seen: dict[str, None] = {}
        folders: set[str] = set()
        for item in items:
            if item.error is not None:
                report.errors.append((os.fsdecode(os.path.abspath(os.fspath(item.path))), item.error))
                continue
            seen.update((label, None) for label, _ in (*item.tags, *item.candidates))
            if roots is None:
                folders.add(os.path.dirname(os.path.abspath(os.fspath(item.path))))
            batch.append(item)
            if len(batch) >= BATCH:
                self._add_batch(batch, report)
                batch = []
        if batch:
            self._add_batch(batch, report)
        self._add_roots(folders)
        vocabulary = self.vocabulary
        known = set(vocabulary)
        new = [label for label in seen if label not in known]
        if new:  # a tag a file carries is a label a person may keep, whatever the vocabulary said
            self._write_vocabulary(vocabulary + new)
        return report

    def _add_roots(self, roots: Iterable[str | Path]) -> None:
        with self._lock, self.db:
            self.db.executemany("INSERT OR IGNORE INTO roots VALUES (?)", [(os.fsencode(os.path.realpath(r)),) for r in roots])

    def _add_batch(self, items: list[ReviewItem], report: AddReport) -> None:
        with self._lock:
            try:
                with self.db:
                    for item in items:
                        self._add_one(item, report)
            except sqlite3.DatabaseError as exc:
                raise _damaged(self.path, exc) from exc

    def _add_one(self, item: ReviewItem, report: AddReport) -> None:
        path = _encode(item.path)
        size, mtime = _stat(path)
        top = max((score for _, score in item.tags), default=None)
        row = self.db.execute("SELECT id FROM photos WHERE path=?", (path,)).fetchone()
        moved = False
        if row is None:
            twin = self._vanished_twin(path, size, mtime)
            if twin is not None:
                self.db.execute("UPDATE photos SET path=? WHERE id=?", (path, twin[0]))
                report.moved.append((_decode(twin[1]), _decode(path)))
                row, moved = (twin[0],), True
        if row is None:
            cursor = self.db.execute(
                "INSERT INTO photos (path, name, size, mtime_ns, top_score, added_at) VALUES (?, ?, ?, ?, ?, ?)",
                (path, os.path.basename(path), size, mtime, top, time.time()),
            )
            photo_id = int(cursor.lastrowid or 0)
            report.added += 1
        else:
            photo_id = row[0]
            self.db.execute("UPDATE photos SET size=?, mtime_ns=?, top_score=? WHERE id=?", (size, mtime, top, photo_id))
            self.db.execute("DELETE FROM scores WHERE photo=?", (photo_id,))
            report.updated += 0 if moved else 1
        rows, seen = [], set()
        for auto, tags in ((1, item.tags), (0, item.candidates)):
            for rank, (label, score) in enumerate(tags):
                if label not in seen:
                    seen.add(label)
                    rows.append((photo_id, label, float(score), rank, auto))
        self.db.executemany("INSERT INTO scores VALUES (?, ?, ?, ?, ?)", rows)

    def _vanished_twin(self, path: bytes, size: int | None, mtime: int | None) -> tuple[int, bytes] | None:
        """The one photo of the same name, size and mtime whose file is gone, if exactly one."""
        if size is None:
            return None
        rows = self.db.execute(
            "SELECT id, path FROM photos WHERE name=? AND size=? AND mtime_ns=?", (os.path.basename(path), size, mtime)
        ).fetchall()
        gone = [(photo_id, bytes(old)) for photo_id, old in rows if not os.path.lexists(bytes(old))]
        return gone[0] if len(gone) == 1 else None

    def relocate(self, files: Iterable[str | Path]) -> list[tuple[str, str]]:
        """Photos whose file vanished, found again among `files` (same name, size and mtime; one
        match only): their path is updated, their decisions follow, and their new folder joins
        the folders under review. Returns (old, new) pairs."""
        moved: list[tuple[str, str]] = []
        with self._lock, self.db:
            for file in files:
                path = _encode(file)
                if self.db.execute("SELECT 1 FROM photos WHERE path=?", (path,)).fetchone():
                    continue
                size, mtime = _stat(path)
                twin = self._vanished_twin(path, size, mtime)
                if twin is not None:
                    self.db.execute("UPDATE photos SET path=? WHERE id=?", (path, twin[0]))
                    moved.append((_decode(twin[1]), _decode(path)))
        self._add_roots(os.path.dirname(new) for _, new in moved)  # where it was found is under review now
        return moved

    def roots(self) -> list[str]:
        """The folders under review (real paths): thumbnails are served only from inside them."""
        return [_decode(row[0]) for row in self._read("SELECT path FROM roots ORDER BY path")]

    # --- reading pages ----------------------------------------------------------------------------

    def _where(self, query: PhotoQuery) -> tuple[str, str, list[Any]]:
        """(FROM ... WHERE ..., score column, parameters) for a query."""
        parameters: list[Any] = []
        if query.label is not None:
            auto = {"tags": " AND s.auto=1", "candidates": " AND s.auto=0", "any": ""}[query.where]
            sql = f"FROM scores s JOIN photos p ON p.id=s.photo WHERE s.label=?{auto}"
            parameters.append(query.label)
            score = "s.score"
        else:
            sql, score = "FROM photos p WHERE 1", "p.top_score"
        if query.min_score is not None:
            sql += f" AND {score}>=?"
            parameters.append(query.min_score)
        if query.max_score is not None:
            sql += f" AND {score}<=?"
            parameters.append(query.max_score)
        if query.status != "all":
            negate = "NOT " if query.status == "undecided" else ""
            on_label = " AND d.label=?" if query.label is not None else ""
            sql += f" AND {negate}EXISTS (SELECT 1 FROM decisions d WHERE d.photo=p.id{on_label})"
            if query.label is not None:
                parameters.append(query.label)
        return sql, score, parameters

    def count(self, query: PhotoQuery = PhotoQuery()) -> int:
        """How many photos match `query`."""
        sql, _, parameters = self._where(query)
        return int(self._read(f"SELECT count(*) {sql}", parameters)[0][0])

    def ids(self, query: PhotoQuery = PhotoQuery(), offset: int = 0, limit: int | None = None) -> list[int]:
        """Ids of the photos matching `query`, in its order; a page of them with offset and limit."""
        sql, score, parameters = self._where(query)
        direction = "DESC" if query.descending else "ASC"
        # score then id, both one way: the order of the score indexes, so a page reads 60 rows, not
        # every match (photos without tags sort as the lowest scores)
        tie = "s.photo" if query.label is not None else "p.id"
        order = f"{score} {direction}, {tie} {direction}" if query.sort == "score" else f"p.path {direction}"
        page = " LIMIT ? OFFSET ?" if limit is not None or offset else ""
        if page:
            parameters = [*parameters, -1 if limit is None else max(0, limit), max(0, offset)]
        return [row[0] for row in self._read(f"SELECT p.id {sql} ORDER BY {order}{page}", parameters)]

    def page(self, query: PhotoQuery = PhotoQuery(), offset: int = 0, limit: int = 60) -> list[dict[str, Any]]:
        """One page of photos as plain dicts (what the review page shows): id, path, name,
        whether the file is missing, tags and candidates (label, score, decision), and `added`
        (decided labels that are neither: label, decision)."""
        return self.photos(self.ids(query, offset, limit))

    def photos(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The photos with these ids, in this order, as plain dicts (see `page`)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        paths = dict(self._read(f"SELECT id, path FROM photos WHERE id IN ({marks})", ids))
        scores, decisions = self._scores_and_decisions(ids)
        result = []
        for photo_id in ids:
            if photo_id not in paths:
                continue
            path = _decode(paths[photo_id])
            decided = decisions.get(photo_id, {})
            rows = scores.get(photo_id, [])
            scored = {label for label, _, _ in rows}
            result.append({
                "id": photo_id, "path": path, "name": os.path.basename(path), "missing": not os.path.exists(path),
                "tags": [{"label": label, "score": round(score, 4), "decision": decided.get(label, (None,))[0]}
                         for label, score, auto in rows if auto],
                "candidates": [{"label": label, "score": round(score, 4), "decision": decided.get(label, (None,))[0]}
                               for label, score, auto in rows if not auto],
                "added": [{"label": label, "decision": decision} for label, (decision, _) in decided.items() if label not in scored],
            })
        return result

    def photo_path(self, photo_id: int) -> str | None:
        """The path of a photo under review, by id; None for an id the review does not hold."""
        rows = self._read("SELECT path FROM photos WHERE id=?", (photo_id,))
        return _decode(rows[0][0]) if rows else None

    def labels(self) -> list[tuple[str, int]]:
        """Labels that are automatic tags of some photo, with their number of photos, most first."""
        return [(label, count) for label, count in self._read(
            "SELECT label, count(*) AS n FROM scores WHERE auto=1 GROUP BY label ORDER BY n DESC, label"
        )]

    def summary(self) -> dict[str, int]:
        """Counts: photos, photos with a decision, decisions, accepted, rejected."""
        photos = self._read("SELECT count(*) FROM photos")[0][0]
        reviewed = self._read("SELECT count(DISTINCT photo) FROM decisions")[0][0]
        counts = dict(self._read("SELECT decision, count(*) FROM decisions GROUP BY decision"))
        return {
            "photos": photos, "reviewed_photos": reviewed, "decisions": sum(counts.values()),
            "accepted": counts.get("accept", 0), "rejected": counts.get("reject", 0),
        }

    # --- deciding ---------------------------------------------------------------------------------

    def decide(self, photo_id: int, label: str, decision: Verdict | str) -> dict[str, Any]:
        """Record one decision (`accept`, `reject`, or `clear` to take it back) in its own
        transaction; returns the photo as `page` shows it. The label must be one of the photo's
        tags or candidates, or in the vocabulary."""
        verdict = _verdict(decision)
        with self._lock:
            if self.photo_path(photo_id) is None:
                raise UsageError(f"no photo {photo_id} in this review")
            scored = {row[0] for row in self.db.execute("SELECT label FROM scores WHERE photo=?", (photo_id,))}
            if label not in scored and label not in set(self.vocabulary) and verdict is not Verdict.clear:
                raise UsageError(f"{label!r} is not in the vocabulary of this review")
            self._write([(photo_id, label, label not in scored)], verdict)
        return self.photos([photo_id])[0]

    def decide_all(self, query: PhotoQuery, label: str, decision: Verdict | str, expected: int | None = None) -> int:
        """The same decision about `label` for every photo matching `query` (a bulk action on a
        filtered view), in one transaction. `expected`: the number of photos the person saw; when
        the view changed meanwhile, nothing is written and UsageError says so."""
        verdict = _verdict(decision)
        with self._lock:
            if label not in set(self.vocabulary) and not self._read("SELECT 1 FROM scores WHERE label=? LIMIT 1", (label,)):
                raise UsageError(f"{label!r} is not in the vocabulary of this review")
            ids = self.ids(query)
            if expected is not None and expected != len(ids):
                raise UsageError(f"the view now holds {len(ids)} photos, not {expected}: reload it and try again")
            scored = {row[0] for row in self._read("SELECT photo FROM scores WHERE label=?", (label,))}
            self._write([(photo_id, label, photo_id not in scored) for photo_id in ids], verdict)
        return len(ids)

    def _write(self, rows: list[tuple[int, str, bool]], verdict: Verdict) -> None:
        now = time.time()
        try:
            with self.db:
                if verdict is Verdict.clear:
                    self.db.executemany("DELETE FROM decisions WHERE photo=? AND label=?", [(p, label) for p, label, _ in rows])
                else:
                    self.db.executemany(
                        "INSERT INTO decisions VALUES (?, ?, ?, ?, ?) ON CONFLICT (photo, label) DO UPDATE SET "
                        "decision=excluded.decision, added=excluded.added, decided_at=excluded.decided_at",
                        [(p, label, verdict.value, int(added), now) for p, label, added in rows],
                    )
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc) from exc

    # --- reading decisions ------------------------------------------------------------------------

    def _scores_and_decisions(self, ids: Sequence[int]) -> tuple[dict[int, list[tuple]], dict[int, dict[str, tuple[str, bool]]]]:
        """For the photos with these ids: their (label, score, auto) rows, tags first then by rank,
        and their decisions (label -> (decision, added)), oldest first; two queries in all."""
        marks = ",".join("?" * len(ids))
        scores: dict[int, list[tuple]] = {}
        for photo, label, score, auto in self._read(
            f"SELECT photo, label, score, auto FROM scores WHERE photo IN ({marks}) ORDER BY photo, auto DESC, rank", ids
        ):
            scores.setdefault(photo, []).append((label, score, auto))
        decisions: dict[int, dict[str, tuple[str, bool]]] = {}
        for photo, label, decision, added in self._read(
            f"SELECT photo, label, decision, added FROM decisions WHERE photo IN ({marks}) ORDER BY decided_at", ids
        ):
            decisions.setdefault(photo, {})[label] = (decision, bool(added))
        return scores, decisions

    def decisions(self) -> Iterator[Decision]:
        """Every decision, by photo then label."""
        for path, label, decision, added in self._read(
            "SELECT p.path, d.label, d.decision, d.added FROM decisions d JOIN photos p ON p.id=d.photo ORDER BY p.path, d.label"
        ):
            yield Decision(_decode(path), label, decision, bool(added) and decision == Verdict.accept.value)

    def reviewed(self, every_photo: bool = False) -> Iterator[ReviewedPhoto]:
        """Photos with at least one decision (with `every_photo`, every photo), by path, with
        their tags, candidates and decisions: what `apply` writes."""
        having = "" if every_photo else " WHERE id IN (SELECT photo FROM decisions)"
        photos = self._read(f"SELECT id, path FROM photos{having} ORDER BY path")
        for start in range(0, len(photos), PAGE_QUERY):  # a few queries per chunk, not two per photo
            chunk = photos[start : start + PAGE_QUERY]
            scores, decisions = self._scores_and_decisions([photo_id for photo_id, _ in chunk])
            for photo_id, path in chunk:
                rows = scores.get(photo_id, [])
                yield ReviewedPhoto(
                    photo_id, _decode(path),
                    tuple((label, score) for label, score, auto in rows if auto),
                    tuple((label, score) for label, score, auto in rows if not auto),
                    {label: decision for label, (decision, _) in decisions.get(photo_id, {}).items()},
                )


def _verdict(decision: Verdict | str) -> Verdict:
    try:
        return Verdict(decision)
    except ValueError:
        raise UsageError(f"a decision is accept, reject or clear, not {decision!r}") from None


def _check_header(path: Path) -> None:
    """Refuse, before SQLite touches it, a file that is not an SQLite database at all (SQLite
    would treat an empty file as a new database, which is fine: it holds nothing to lose)."""
    if not is_sqlite(path, "the review database") and path.stat().st_size:
        raise LztError(f"{path} is not a review database (not an SQLite file); it was left as it is")


def _damaged(path: Path, reason: object) -> LztError:
    return LztError(
        f"the review database {path} is damaged ({str(reason).splitlines()[0]}); it was left as it is: "
        "restore it from a backup, or start a new review with another database file"
    )
