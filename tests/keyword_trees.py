"""Keyword trees as photo managers leave them, written by the tests: a Lightroom Classic keyword
export (Metadata > Export Keywords: one TAB per level, `{synonym}`, `[category]`) and a digiKam
database (SQLite, with the tables of digiKam's schema that hold tags)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# A Lightroom export: synonyms at two levels, categories (not exported by Lightroom: parents
# only), a non-ASCII keyword, a synonym that is another label's name and a duplicate keyword.
LIGHTROOM_EXPORT = (
    "Animals\n"
    "\t{fauna}\n"
    "\tBirds\n"
    "\t\t{aves}\n"
    "\t\tOwl\n"
    "\t\t\t{eagle owl}\n"
    "\t\tMöwe\n"
    "\t\t\t{gull}\n"
    "\t\t\t{seagull}\n"
    "\tMammals\n"
    "\t\tDog\n"
    "\t\t\t{puppy}\n"
    "\t\t\t{owl}\n"  # line 13: the name of another label, dropped
    "[Places]\n"
    "\tBeach\n"
    "\t\t{seaside}\n"
    "\t[Cities]\n"
    "\t\tParis\n"
    "People\n"
    "\tAnn\n"
    "\tdog\n"  # line 21: already a label (Animals|Mammals|Dog), the first is kept
)

# name -> (parents, synonyms) that LIGHTROOM_EXPORT must give, in the vocabulary's order:
# grouped by parent path, the groups in the order the tree reaches them.
LIGHTROOM_LABELS = {
    "Animals": ((), ("fauna",)),
    "People": ((), ()),
    "Birds": (("Animals",), ("aves",)),
    "Mammals": (("Animals",), ()),
    "Owl": (("Animals", "Birds"), ("eagle owl",)),
    "Möwe": (("Animals", "Birds"), ("gull", "seagull")),
    "Dog": (("Animals", "Mammals"), ("puppy",)),
    "Beach": (("Places",), ("seaside",)),
    "Paris": (("Places", "Cities"), ()),
    "Ann": (("People",), ()),
}


def write_lightroom(path: Path, text: str = LIGHTROOM_EXPORT, encoding: str = "utf-8", bom: bool = True) -> Path:
    """An export as Lightroom writes it: Windows line ends, a UTF-8 BOM (or another encoding)."""
    data = text.replace("\n", "\r\n").encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom and encoding == "utf-8" else b"") + data)
    return path


# digiKam's tag tables (schema as of digikam4.db version 10+; Tags is the one read).
DIGIKAM_SCHEMA = """
CREATE TABLE Images (id INTEGER PRIMARY KEY, album INTEGER, name TEXT NOT NULL, status INTEGER NOT NULL,
                     category INTEGER NOT NULL, modificationDate DATETIME, fileSize INTEGER, uniqueHash TEXT,
                     manualOrder INTEGER, UNIQUE (album, name));
CREATE TABLE Tags (id INTEGER PRIMARY KEY, pid INTEGER, name TEXT NOT NULL, icon INTEGER, iconkde TEXT,
                   UNIQUE (name, pid));
CREATE TABLE TagsTree (id INTEGER NOT NULL, pid INTEGER NOT NULL, UNIQUE (id, pid));
CREATE TABLE ImageTags (imageid INTEGER NOT NULL, tagid INTEGER NOT NULL, UNIQUE (imageid, tagid));
CREATE TABLE TagProperties (tagid INTEGER, property TEXT, value TEXT);
CREATE TABLE Settings (keyword TEXT NOT NULL UNIQUE, value TEXT);
"""

# (id, pid, name): the internal subtree, People with a face bookkeeping tag (Unknown), animals,
# places with a duplicate (`dog`, case-insensitively Animals' `Dog`).
DIGIKAM_TAGS = [
    (1, 0, "_Digikam_Internal_Tags_"), (2, 1, "Color Label Red"), (3, 1, "Pick Label Accepted"),
    (4, 0, "People"), (5, 4, "Unknown"), (6, 4, "Ann"), (7, 4, "Bo"),
    (8, 0, "Animals"), (9, 8, "Birds"), (10, 9, "Owl"), (11, 9, "Möwe"), (12, 8, "Dog"),
    (13, 0, "Places"), (14, 13, "Beach"), (15, 13, "dog"),
]
DIGIKAM_PROPERTIES = [(5, "unknownPerson", None), (6, "person", "Ann"), (7, "person", "Bo")]

# name -> parents of DIGIKAM_TAGS with `exclude=["People"]` (children sorted by name, as digiKam shows them).
DIGIKAM_LABELS = {
    "Animals": (), "Places": (), "Birds": ("Animals",), "Dog": ("Animals",),
    "Möwe": ("Animals", "Birds"), "Owl": ("Animals", "Birds"), "Beach": ("Places",),
}


def write_digikam(path: Path, tags: list[tuple] = DIGIKAM_TAGS, properties: list[tuple] = DIGIKAM_PROPERTIES) -> Path:
    """A digikam4.db holding `tags` (id, pid, name), its TagsTree (each tag's ancestors, as
    digiKam's triggers keep it) and some tagged images."""
    parent = {tag: pid for tag, pid, _ in tags}
    with sqlite3.connect(path) as db:
        db.executescript(DIGIKAM_SCHEMA)
        db.execute("INSERT INTO Settings VALUES ('DBVersion', '10')")
        db.executemany("INSERT INTO Tags (id, pid, name, icon, iconkde) VALUES (?, ?, ?, 0, NULL)", tags)
        for tag in parent:
            ancestor, seen = parent[tag], {tag}
            while ancestor in parent and ancestor not in seen:  # a broken tree stops where it breaks
                db.execute("INSERT INTO TagsTree VALUES (?, ?)", (tag, ancestor))
                seen.add(ancestor)
                ancestor = parent[ancestor]
        db.executemany("INSERT INTO TagProperties VALUES (?, ?, ?)", properties)
        db.execute("INSERT INTO Images VALUES (1, 1, 'owl.jpg', 1, 1, NULL, 100, 'h', NULL)")
        db.executemany("INSERT INTO ImageTags VALUES (1, ?)", [(tag,) for tag, _, _ in tags[:3]])
    db.close()
    return path
