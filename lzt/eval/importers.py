"""Official annotation formats -> the dataset JSON Lines of `lzt eval`.

- coco: an instances JSON (`annotations/instances_val2014.json`): an image's labels are the
  categories of its annotations (crowd ones included); every other category is a negative.
- voc: a VOC folder (`VOCdevkit/VOC2007`: Annotations/*.xml, ImageSets/Main/SPLIT.txt,
  JPEGImages/): labels are the classes of non-difficult objects, negatives the classes with no
  object at all; a class present only as "difficult" objects is left unannotated (ignored).
- nuswide: a NUS-WIDE folder (Concepts81.txt, ImageList/SPLITImagelist.txt,
  TrainTestLabels/Labels_CONCEPT_SPLIT.txt, Flickr/): binary labels of the 81 concepts.
- openimages: a human-verified image-label CSV (ImageID, LabelName, Confidence) with a class
  descriptions CSV (LabelName, DisplayName): confidence 1 is a label, 0 a negative, a class not
  verified for an image is unannotated.
"""

from __future__ import annotations

import csv
import json
import os
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from lzt.config import DatasetFormat
from lzt.errors import LztError, UsageError
from lzt.files import atomic_write, read_text

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog", "horse",
    "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)


@dataclass
class Row:
    """One image: its file, positives and, for ternary formats, the labels verified absent."""

    image: Path
    labels: list[str]
    negatives: list[str] | None = None


@dataclass
class ImportReport:
    """What `import_dataset` wrote: out (the JSON Lines), images (lines), labels (distinct
    positive labels), ternary (whether lines list negatives), missing_images (listed files not
    on disk: written, or left out with `skip_missing`), problems: (file, reason) of the
    annotation files or entries that could not be read (left out; the rest was imported)."""

    out: Path
    images: int = 0
    labels: int = 0
    ternary: bool = False
    missing_images: int = 0
    problems: list[tuple[Path, str]] = field(default_factory=list)


def import_dataset(
    format: DatasetFormat | str, source: str | Path, out: str | Path, *, images: str | Path | None = None,
    split: str | None = None, classes: str | Path | None = None, skip_missing: bool = False,
    on_problem: Callable[[Path, str], None] | None = None,
) -> ImportReport:
    """Read an official annotation format (`DatasetFormat`) and write `out` (atomically): one
    `{"file", "labels"[, "negatives"]}` line per image, `file` relative to `out`'s folder.

    images: the folder of the image files (default: where the format keeps them, see the
    README); split: the image list of `voc` (ImageSets/Main/SPLIT.txt; default: every annotation)
    or `nuswide` (`test`, the default, or `train`); classes: the class descriptions CSV of
    `openimages` (default: the one `*class-descriptions*.csv` beside `source`); skip_missing:
    leave out images whose file is not there. An entry that cannot be read is reported
    (`on_problem(file, reason)`) and left out; the rest is imported."""
    format, source, out = DatasetFormat(format), Path(source), Path(out)
    if not source.exists():
        raise LztError(f"no such file or folder: {source}")
    report = ImportReport(out)

    def problem(path: Path, reason: str) -> None:
        report.problems.append((path, reason))
        if on_problem is not None:
            on_problem(path, reason)

    if split is not None and format not in (DatasetFormat.voc, DatasetFormat.nuswide):
        raise UsageError(f"`split` applies to voc and nuswide, not {format.value}")
    if classes is not None and format is not DatasetFormat.openimages:
        raise UsageError(f"`classes` applies to openimages, not {format.value}")
    readers: dict[DatasetFormat, Callable[[], list[Row]]] = {
        DatasetFormat.coco: lambda: _coco(source, _folder(images) or _coco_images(source), problem),
        DatasetFormat.voc: lambda: _voc(source, _folder(images), split, problem),
        DatasetFormat.nuswide: lambda: _nuswide(source, _folder(images) or source / "Flickr", split or "test"),
        DatasetFormat.openimages: lambda: _openimages(source, _folder(images) or source.parent, classes, problem),
    }
    rows = readers[format]()
    kept = []
    for row in rows:
        if not row.image.is_file():
            report.missing_images += 1
            if skip_missing:
                continue
        kept.append(row)
    if not kept:
        raise LztError(f"no image to write from {source}" + (" (every listed image file is missing)" if rows else ""))
    report.images = len(kept)
    report.labels = len({label for row in kept for label in row.labels})
    report.ternary = any(row.negatives is not None for row in kept)
    text = "".join(json.dumps(_line(row, out.parent.resolve()), ensure_ascii=False) + "\n" for row in kept)
    atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return report


def _folder(path: str | Path | None) -> Path | None:
    if path is None:
        return None
    if not Path(path).is_dir():
        raise LztError(f"no image folder at {path}")
    return Path(path)


def _line(row: Row, base: Path) -> dict:
    line: dict = {"file": Path(os.path.relpath(row.image.resolve(), base)).as_posix(), "labels": row.labels}
    if row.negatives is not None:
        line["negatives"] = row.negatives
    return line


def _json(path: Path) -> dict:
    try:
        data = json.loads(read_text(path, "annotation file"))
    except json.JSONDecodeError as exc:
        raise LztError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise LztError(f"{path}: expected a JSON object")
    return data


# --- COCO --------------------------------------------------------------------------------------


def _coco_images(source: Path) -> Path:
    """`annotations/instances_val2014.json` -> `val2014/` beside `annotations/`, if there."""
    match = re.fullmatch(r"instances_(.+)\.json", source.name)
    if match and (source.parent.parent / match.group(1)).is_dir():
        return source.parent.parent / match.group(1)
    return source.parent


def _coco(source: Path, images: Path, problem: Callable[[Path, str], None]) -> list[Row]:
    data = _json(source)
    try:
        categories = {c["id"]: str(c["name"]) for c in data["categories"]}
        listed = [(image["id"], str(image["file_name"])) for image in data["images"]]
    except (KeyError, TypeError) as exc:
        raise LztError(f'{source}: not a COCO instances file (needs "images" and "categories" with ids and names)') from exc
    found: dict[object, set[str]] = defaultdict(set)
    unknown = 0
    for annotation in data.get("annotations", []):
        try:
            found[annotation["image_id"]].add(categories[annotation["category_id"]])
        except (KeyError, TypeError):
            unknown += 1
    if unknown:
        problem(source, f"{unknown} annotations lack an image id or name an unknown category; left out")
    return [Row(images / name, sorted(found.get(image_id, ()))) for image_id, name in listed]


# --- Pascal VOC --------------------------------------------------------------------------------


def _voc(source: Path, images: Path | None, split: str | None, problem: Callable[[Path, str], None]) -> list[Row]:
    if source.is_file():
        raise UsageError(f"voc reads a VOC folder (Annotations/, ImageSets/, JPEGImages/), not the file {source}")
    annotations = source / "Annotations" if (source / "Annotations").is_dir() else source
    images = images or (source / "JPEGImages" if (source / "JPEGImages").is_dir() else annotations)
    if split is not None:
        listing = source / "ImageSets" / "Main" / f"{split}.txt"
        ids = [line.split()[0] for line in read_text(listing, "image list").splitlines() if line.strip()]
    else:
        ids = sorted(path.stem for path in annotations.glob("*.xml"))
    if not ids:
        raise LztError(f"no VOC annotations (*.xml) in {annotations}")
    parsed: list[tuple[Path, list[str], set[str]]] = []
    for image_id in ids:
        path = annotations / f"{image_id}.xml"
        try:
            filename, kept, present = _voc_objects(path)
        except (OSError, ValueError, ET.ParseError) as exc:
            problem(path, f"cannot read: {getattr(exc, 'strerror', None) or exc}; left out")
            continue
        parsed.append((images / (filename or f"{image_id}.jpg"), kept, present))
    classes = sorted(set(VOC_CLASSES).union(*(present for _, _, present in parsed)))
    return [Row(image, kept, [c for c in classes if c not in present]) for image, kept, present in parsed]


def _voc_objects(path: Path) -> tuple[str | None, list[str], set[str]]:
    """(file name, classes of non-difficult objects, classes of every object) of one XML."""
    data = path.read_bytes()
    if re.search(rb"<!(DOCTYPE|ENTITY)", data):
        raise ValueError("has a DTD or entity declarations, which VOC annotations never use")
    root = ET.fromstring(data)
    kept: set[str] = set()
    present: set[str] = set()
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if not name:
            continue
        present.add(name)
        if (obj.findtext("difficult") or "0").strip() != "1":
            kept.add(name)
    filename = (root.findtext("filename") or "").strip() or None
    return filename, sorted(kept), present


# --- NUS-WIDE ----------------------------------------------------------------------------------


def _first(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise LztError(f"no {candidates[0].name} (looked for {', '.join(str(c) for c in candidates)})")


def _nuswide(source: Path, images: Path, split: str) -> list[Row]:
    if source.is_file():
        raise UsageError(f"nuswide reads the NUS-WIDE folder (Concepts81.txt, ImageList/, TrainTestLabels/), not the file {source}")
    part = {"test": "Test", "train": "Train"}.get(split.lower())
    if part is None:
        raise UsageError(f"nuswide `split` is test or train, not {split!r}")
    concepts = [line.strip() for line in read_text(_first(source / "Concepts81.txt", source / "ConceptsList" / "Concepts81.txt"), "concept list").splitlines() if line.strip()]
    listing = read_text(_first(source / "ImageList" / f"{part}Imagelist.txt"), "image list").splitlines()
    files = [images.joinpath(*re.split(r"[\\/]", line.strip())) for line in listing if line.strip()]
    found: list[list[str]] = [[] for _ in files]
    for concept in concepts:
        path = source / "TrainTestLabels" / f"Labels_{concept}_{part}.txt"
        values = [line.strip() for line in read_text(path, "label file").splitlines() if line.strip()]
        if len(values) != len(files):
            raise LztError(f"{path} has {len(values)} lines for {len(files)} images in the image list")
        for row, value in enumerate(values):
            if value not in ("0", "1"):
                raise LztError(f"{path}:{row + 1}: expected 0 or 1, got {value!r}")
            if value == "1":
                found[row].append(concept)
    return [Row(file, labels) for file, labels in zip(files, found)]


# --- OpenImages --------------------------------------------------------------------------------


def _class_file(source: Path, classes: str | Path | None) -> Path:
    if classes is not None:
        return Path(classes)
    candidates = sorted(source.parent.glob("*class-descriptions*.csv"))
    if len(candidates) != 1:
        found = ", ".join(c.name for c in candidates) or "none"
        raise UsageError(f"give the class descriptions CSV as `classes` (beside {source.name}: {found})")
    return candidates[0]


def _csv_rows(path: Path) -> Iterator[list[str]]:
    """Rows streamed from the file: OpenImages' training CSVs run to gigabytes."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            yield from csv.reader(handle)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LztError(f"cannot read CSV file {path}: {exc}") from exc


def _openimages(source: Path, images: Path, classes: str | Path | None, problem: Callable[[Path, str], None]) -> list[Row]:
    names: dict[str, str] = {}
    class_file = _class_file(source, classes)
    for row in _csv_rows(class_file):
        if len(row) >= 2 and row[0] != "LabelName":
            names[row[0]] = row[1]
    reader = _csv_rows(source)
    header = next(reader, [])
    try:
        image_at, label_at, confidence_at = header.index("ImageID"), header.index("LabelName"), header.index("Confidence")
    except ValueError as exc:
        raise LztError(f"{source}: expected an image-label CSV with ImageID, LabelName and Confidence columns") from exc
    positives: dict[str, set[str]] = defaultdict(set)
    negatives: dict[str, set[str]] = defaultdict(set)
    unnamed: set[str] = set()
    bad = 0
    for row in reader:
        try:
            image_id, mid, confidence = row[image_at], row[label_at], float(row[confidence_at])
        except (IndexError, ValueError):
            bad += 1
            continue
        if mid not in names:
            unnamed.add(mid)
        name = names.get(mid, mid)
        (positives if confidence >= 0.5 else negatives)[image_id].add(name)
        positives.setdefault(image_id, set())
    if bad:
        problem(source, f"{bad} rows without an image id, label and numeric confidence; left out")
    if unnamed:
        problem(class_file, f"{len(unnamed)} labels have no display name ({', '.join(sorted(unnamed)[:5])}); kept as their ids")
    return [
        Row(images / f"{image_id}.jpg", sorted(positives[image_id]), sorted(negatives.get(image_id, set())))
        for image_id in sorted(positives)
    ]
