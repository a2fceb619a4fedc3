"""XMP sidecars: keywords beside each image for digiKam, darktable, Lightroom, immich...

`photo.jpg.xmp` (or `photo.xmp`) receives each tag three times, once for each kind of reader:
`dc:subject` holds the keyword (`owl`; with `with_parents` also its parents, `animals`, `birds`),
`lr:hierarchicalSubject` its path in the vocabulary's keyword tree (`animals|birds|owl`, under the
`parent` when one is set: `lzt|animals|birds|owl`), and `digiKam:TagsList` the same path with
digiKam's separator (`animals/birds/owl`). An existing sidecar is merged, never rebuilt: every
other property, attribute, namespace and keyword in it is kept.

Some apps read only one of the three when it is present (immich: lr:hierarchicalSubject; digiKam:
digiKam:TagsList). When lzt creates one of them in a sidecar whose keywords were written by others
into the other properties, it copies those keywords in too, so that such an app still shows them.

lzt records the keywords it added in its own namespace (`lzt:addedKeywords`,
`lzt:addedHierarchical`, `lzt:addedTagsList`), so that `overwrite` replaces lzt's earlier keywords
without ever touching one a person or another tool wrote, even when both are plain `dog`. Entries
under the parent (`lzt|...`), when one is set, count as lzt's even when that record is lost
(another tool rewrote the file).

A review (`lzt apply`, merge_reviewed_keywords) writes accepted labels as `lzt|reviewed|dog` and
undecided automatic tags as `lzt|auto|dog`, recording the flat keywords it confirmed in
`lzt:reviewedKeywords`. Those are a person's decisions: `lzt tag` never removes them.
"""

from __future__ import annotations

import io
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from lzt.config import KeywordTree, OnExisting, XmpNaming
from lzt.files import UnreadableFile, atomic_write, read_if_present
from lzt.output.base import Format, WriteError, register_format
from lzt.record import Record
from lzt.version import __version__

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_LR = "http://ns.adobe.com/lightroom/1.0/"
NS_DIGIKAM = "http://www.digikam.org/ns/1.0/"
NS_LZT = "http://ns.lzt.invalid/xmp/1.0/"  # an identifier, not a web page (.invalid never resolves)
PREFIXES = {"x": NS_X, "rdf": NS_RDF, "dc": NS_DC, "lr": NS_LR, "digiKam": NS_DIGIKAM, "lzt": NS_LZT}

RDF_RDF = f"{{{NS_RDF}}}RDF"
RDF_DESCRIPTION = f"{{{NS_RDF}}}Description"
RDF_ABOUT = f"{{{NS_RDF}}}about"
RDF_BAG = f"{{{NS_RDF}}}Bag"
RDF_SEQ = f"{{{NS_RDF}}}Seq"
RDF_LI = f"{{{NS_RDF}}}li"
CONTAINERS = (RDF_BAG, RDF_SEQ, f"{{{NS_RDF}}}Alt")
SUBJECT = f"{{{NS_DC}}}subject"
HIERARCHICAL = f"{{{NS_LR}}}hierarchicalSubject"
TAGS_LIST = f"{{{NS_DIGIKAM}}}TagsList"
ADDED_KEYWORDS = f"{{{NS_LZT}}}addedKeywords"
ADDED_HIERARCHICAL = f"{{{NS_LZT}}}addedHierarchical"
ADDED_TAGS_LIST = f"{{{NS_LZT}}}addedTagsList"
REVIEWED_KEYWORDS = f"{{{NS_LZT}}}reviewedKeywords"  # flat keywords a person confirmed (`lzt apply`)
REVIEWED, AUTO = "reviewed", "auto"  # `lzt apply`'s markers: lzt|reviewed|dog, lzt|auto|dog
# The parent of a review's markers (`lzt apply`): unlike `lzt tag`'s keywords, which have none by
# default, the markers are there to be filtered on, as one branch of the keyword tree.
REVIEW_PARENT = "lzt"

XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
XPACKET_END = '\n<?xpacket end="w"?>\n'


class SidecarError(WriteError):
    """One image's sidecar could not be read or written; the sidecar is left as it was.
    The run goes on: the caller counts the image as skipped."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{os.fsdecode(path)}: {reason}")
        self.path = path
        self.reason = reason


def sidecar_path(image: Path, naming: XmpNaming | str = XmpNaming.full) -> Path:
    """`full`: photo.jpg.xmp (darktable, digiKam); `stem`: photo.xmp (Lightroom, Capture One)."""
    image = Path(image)
    return image.with_name(image.name + ".xmp") if XmpNaming(naming) == XmpNaming.full else image.with_suffix(".xmp")


@dataclass(frozen=True)
class TreeProperty:
    """A property holding keyword paths: lr:hierarchicalSubject (`animals|dog`) or
    digiKam:TagsList (`animals/dog`), with the record of the entries lzt wrote into it."""

    tag: str
    separator: str
    record: str

    def entry(self, path: Sequence[str], parent: str = "") -> str:
        """`parent|animals|dog` for the path (animals, dog); the parent may be a path itself (`a|b`)."""
        nodes = [node.strip() for node in parent.split("|") if node.strip()]
        return self.separator.join([*nodes, *path])

    def nodes(self, entry: str) -> list[str]:
        return [node.strip() for node in entry.split(self.separator) if node.strip()]

    def is_review_marker(self, entry: str) -> bool:
        """`...|reviewed|dog`, as `lzt apply` writes a person's decision."""
        nodes = self.nodes(entry)
        return len(nodes) >= 2 and nodes[-2].lower() == REVIEWED


TREES = (TreeProperty(HIERARCHICAL, "|", ADDED_HIERARCHICAL), TreeProperty(TAGS_LIST, "/", ADDED_TAGS_LIST))


# --- reading -----------------------------------------------------------------------------------


class Sidecar:
    """A parsed sidecar: the whole element tree, plus what is needed to write it back alike."""

    def __init__(self, root: ET.Element, namespaces: list[tuple[str, str]], declaration: bool, xpacket: bool):
        self.root = root
        self.namespaces = namespaces  # (prefix, uri) as declared in the file
        self.declaration = declaration
        self.xpacket = xpacket
        rdf = root if root.tag == RDF_RDF else root.find(f".//{RDF_RDF}")
        if rdf is None:
            raise ValueError("no rdf:RDF element: not an XMP packet")
        self.rdf = rdf

    @classmethod
    def new(cls) -> Sidecar:
        root = ET.Element(f"{{{NS_X}}}xmpmeta", {f"{{{NS_X}}}xmptk": f"lzt {__version__}"})
        ET.SubElement(ET.SubElement(root, RDF_RDF), RDF_DESCRIPTION, {RDF_ABOUT: ""})
        return cls(root, [], declaration=False, xpacket=True)

    @classmethod
    def parse(cls, data: bytes) -> Sidecar:
        """Raises ET.ParseError for malformed XML, ValueError for XML that is not a usable XMP packet."""
        if re.search(rb"<!(DOCTYPE|ENTITY)", data):
            raise ValueError("has a DTD or entity declarations, which XMP never uses")
        namespaces = [ns for _, ns in ET.iterparse(io.BytesIO(data), events=("start-ns",))]
        builder = ET.TreeBuilder(insert_comments=True, insert_pis=True)
        root = ET.fromstring(data, parser=ET.XMLParser(target=builder))
        head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
        return cls(root, namespaces, declaration=head.startswith(b"<?xml"), xpacket=b"<?xpacket begin" in data)

    def descriptions(self) -> list[ET.Element]:
        found = self.rdf.findall(RDF_DESCRIPTION)
        if not found:
            found = [ET.SubElement(self.rdf, RDF_DESCRIPTION, {RDF_ABOUT: ""})]
        return found

    def find(self, tag: str) -> ET.Element | None:
        for description in self.descriptions():
            element = description.find(tag)
            if element is not None:
                return element
        return None

    def bag(self, tag: str) -> ET.Element:
        """The rdf:Bag (or Seq/Alt, as found) of a property, created in the description that
        holds a related property, else in the first one. digiKam:TagsList is created as an
        rdf:Seq: digiKam skips one written as a Bag."""
        prop = self.find(tag)
        if prop is None:
            home = next((e for t in (SUBJECT, HIERARCHICAL, TAGS_LIST) if (e := self._holder(t)) is not None), None)
            prop = ET.SubElement(home if home is not None else self.descriptions()[0], tag)
        container = next((child for child in prop if child.tag in CONTAINERS), None)
        if container is None:  # a bare text value where a bag belongs: keep it, as the bag's item
            text = (prop.text or "").strip()
            prop.text = None
            container = ET.SubElement(prop, RDF_SEQ if tag == TAGS_LIST else RDF_BAG)
            if text:
                ET.SubElement(container, RDF_LI).text = text
        return container

    def _holder(self, tag: str) -> ET.Element | None:
        return next((d for d in self.descriptions() if d.find(tag) is not None), None)

    def remove_property(self, tag: str) -> None:
        for description in self.descriptions():
            for element in description.findall(tag):
                description.remove(element)

    def serialise(self) -> bytes:
        for prefix, uri in PREFIXES.items():
            ET.register_namespace(prefix, uri)
        for prefix, uri in self.namespaces:
            # The file's own prefixes win (ElementTree would otherwise invent ns0, ns1...);
            # it refuses the empty prefix and names like ns0, which then get generated ones.
            if prefix and not re.fullmatch(r"ns\d+", prefix):
                ET.register_namespace(prefix, uri)
        ET.indent(self.root, space=" ")
        text = ET.tostring(self.root, encoding="unicode")
        if self.xpacket:
            text = XPACKET_BEGIN + text + XPACKET_END
        if self.declaration:
            text = '<?xml version="1.0" encoding="UTF-8"?>\n' + text
        return (text if text.endswith("\n") else text + "\n").encode("utf-8")


def items(container: ET.Element) -> list[str]:
    return [(li.text or "").strip() for li in container.findall(RDF_LI) if (li.text or "").strip()]


def property_items(sidecar: Sidecar, tag: str) -> list[str]:
    return items(sidecar.bag(tag)) if sidecar.find(tag) is not None else []


def image_sidecars(image: Path) -> Iterator[tuple[Path, Sidecar]]:
    """The sidecars of an image that exist and hold something, both namings (`photo.jpg.xmp`,
    then `photo.xmp`), parsed; one that is not valid XMP is an UnreadableFile."""
    for naming in XmpNaming:
        path = sidecar_path(image, naming)
        data = None if path == image else read_if_present(path)
        if not data or not data.strip():
            continue
        try:
            yield path, Sidecar.parse(data)
        except (ValueError, LookupError, ET.ParseError) as exc:
            raise UnreadableFile(path, f"not valid XMP ({exc})") from exc


def read_keywords(path: Path) -> tuple[list[str], list[str]]:
    """(dc:subject, lr:hierarchicalSubject) of a sidecar; for tests and for users' scripts."""
    sidecar = Sidecar.parse(Path(path).read_bytes())
    return property_items(sidecar, SUBJECT), property_items(sidecar, HIERARCHICAL)


# --- merging -----------------------------------------------------------------------------------


def _unique(keywords: Iterable[str]) -> list[str]:
    """Stripped, without empties, first spelling of each case-insensitive duplicate kept."""
    seen: set[str] = set()
    result = []
    for keyword in keywords:
        keyword = keyword.strip()
        if keyword and keyword.lower() not in seen:
            seen.add(keyword.lower())
            result.append(keyword)
    return result


def _merge_bag(container: ET.Element, wanted: list[str], replace: bool, is_owned: Callable[[str], bool]) -> list[str]:
    """Update one keyword bag in place; returns the keywords lzt owns in it afterwards.

    `is_owned(keyword)` says whether an existing entry was lzt's. With `replace`, lzt's entries
    that are not wanted any more are removed. Entries of others are never removed, and a wanted
    keyword already present in any case is not added again (nor claimed by lzt)."""
    wanted_lower = {w.lower() for w in wanted}
    return _update_bag(container, wanted, is_owned, lambda text: replace and text.lower() not in wanted_lower)


def _update_bag(container: ET.Element, wanted: list[str], is_owned: Callable[[str], bool], removable: Callable[[str], bool]) -> list[str]:
    """Remove lzt's entries that are `removable`, add the `wanted` keywords not present in any
    case; returns the entries lzt owns afterwards. Entries of others are never removed."""
    kept_owned = []
    for li in list(container.findall(RDF_LI)):
        text = (li.text or "").strip()
        if not text or not is_owned(text):
            continue
        if removable(text):
            container.remove(li)
        else:
            kept_owned.append(text)
    present = {t.lower() for t in items(container)}
    for keyword in wanted:
        if keyword.lower() not in present:
            ET.SubElement(container, RDF_LI).text = keyword
            present.add(keyword.lower())
            kept_owned.append(keyword)
    return _unique(kept_owned)


def merge_keywords(
    sidecar: Sidecar, keywords: list[str], parent: str, replace: bool, tree: KeywordTree | None = None, with_parents: bool = False
) -> None:
    """Put `keywords` into the sidecar: in dc:subject (with their parents in the `tree` when
    `with_parents`), and as paths in the `tree` (under `parent`) in lr:hierarchicalSubject and
    digiKam:TagsList. With `replace`, lzt's earlier keywords that are not wanted are removed,
    except a review's decisions (`lzt|reviewed|dog`)."""
    tree = tree or KeywordTree()
    keywords = _unique(keywords)
    flat = _unique([*keywords, *(p for k in keywords for p in tree.parents.get(k, ()))] if with_parents else keywords)
    _copy_keywords_of_others(sidecar)
    recorded_flat = _recorded(sidecar, ADDED_KEYWORDS)
    owned = [(ADDED_KEYWORDS, _merge_bag(sidecar.bag(SUBJECT), flat, replace, lambda k: k.lower() in recorded_flat))]
    for prop in TREES:
        owns = lzt_owns(sidecar, prop, parent)

        def owns_unreviewed(entry: str, prop: TreeProperty = prop, owns: Callable[[str], bool] = owns) -> bool:
            return owns(entry) and not prop.is_review_marker(entry)  # a person's decisions are not lzt tag's to remove

        kept = _merge_bag(sidecar.bag(prop.tag), [prop.entry(tree.path(k), parent) for k in keywords], replace, owns_unreviewed)
        markers = [e for e in property_items(sidecar, prop.tag) if owns(e) and prop.is_review_marker(e)]
        owned.append((prop.record, kept + markers))
    _record(sidecar, owned)


def lzt_owns(sidecar: Sidecar, prop: TreeProperty, parent: str) -> Callable[[str], bool]:
    """Whether an entry of a tree property is lzt's: recorded as lzt's, or under the parent."""
    recorded = _recorded(sidecar, prop.record)
    prefix = (prop.entry((), parent) + prop.separator).lower() if parent.strip("| ") else None
    return lambda entry: entry.lower() in recorded or (prefix is not None and entry.lower().startswith(prefix))


def _copy_keywords_of_others(sidecar: Sidecar) -> None:
    """Before lzt creates lr:hierarchicalSubject or digiKam:TagsList in a sidecar, copy in the
    keywords others wrote into the other properties: immich reads only the first when it is
    present, digiKam only the second, and neither must lose a person's keywords to lzt's."""
    missing = [prop for prop in TREES if sidecar.find(prop.tag) is None]
    if not missing:
        return
    paths: list[tuple[str, ...]] = []
    for prop in TREES:
        recorded = _recorded(sidecar, prop.record)
        paths += [tuple(prop.nodes(e)) for e in property_items(sidecar, prop.tag) if e.lower() not in recorded]
    in_paths = {node.lower() for path in paths for node in path}
    recorded_flat = _recorded(sidecar, ADDED_KEYWORDS) | _recorded(sidecar, REVIEWED_KEYWORDS)
    paths += [(k,) for k in property_items(sidecar, SUBJECT) if k.lower() not in recorded_flat | in_paths]
    for prop in missing:
        entries = _unique(prop.entry(path) for path in paths if path)
        if entries:
            container = sidecar.bag(prop.tag)
            for entry in entries:
                ET.SubElement(container, RDF_LI).text = entry


def _record(sidecar: Sidecar, owned: Iterable[tuple[str, list[str]]]) -> None:
    """Write lzt's records of what it owns; drop keyword bags left empty."""
    for tag, keywords in owned:
        sidecar.remove_property(tag)
        if keywords:
            container = sidecar.bag(tag)
            for keyword in _unique(keywords):
                ET.SubElement(container, RDF_LI).text = keyword
    for tag in (SUBJECT, HIERARCHICAL, TAGS_LIST):  # an empty bag says nothing: do not leave one behind
        if not property_items(sidecar, tag):
            sidecar.remove_property(tag)


def merge_reviewed_keywords(
    sidecar: Sidecar, reviewed: list[str], auto: list[str], rejected: list[str], parent: str, replace: bool
) -> None:
    """Put a review's outcome into the sidecar (`lzt apply`): `reviewed` (labels a person
    accepted) flat in dc:subject and as `parent|reviewed|label`; `auto` (automatic tags nobody
    decided about) flat and as `parent|auto|label`. Keywords lzt wrote before (by `lzt tag` or an
    earlier apply) that the review contradicts are removed: with `replace` every one of lzt's
    keywords not in the outcome, else only those of `rejected` labels and the `auto` entry of a
    label now reviewed. Keywords lzt did not write are never removed."""
    reviewed, auto = _unique(reviewed), _unique(auto)
    _copy_keywords_of_others(sidecar)
    recorded_flat = _recorded(sidecar, ADDED_KEYWORDS) | _recorded(sidecar, REVIEWED_KEYWORDS)
    rejected_lower = {label.lower() for label in rejected}
    reviewed_lower = {label.lower() for label in reviewed}
    wanted_flat = reviewed + auto
    flat_lower = {k.lower() for k in wanted_flat}

    def removable_flat(keyword: str) -> bool:
        return keyword.lower() not in flat_lower if replace else keyword.lower() in rejected_lower

    owned_flat = _update_bag(sidecar.bag(SUBJECT), wanted_flat, lambda k: k.lower() in recorded_flat, removable_flat)
    owned = [
        (ADDED_KEYWORDS, [k for k in owned_flat if k.lower() not in reviewed_lower]),
        (REVIEWED_KEYWORDS, [k for k in owned_flat if k.lower() in reviewed_lower]),
    ]
    for prop in TREES:
        wanted = [prop.entry((REVIEWED, k), parent) for k in reviewed] + [prop.entry((AUTO, k), parent) for k in auto]
        wanted_lower = {e.lower() for e in wanted}
        stale_auto = {prop.entry((AUTO, k), parent).lower() for k in reviewed}

        def removable(entry: str, prop: TreeProperty = prop, wanted_lower: set[str] = wanted_lower, stale_auto: set[str] = stale_auto) -> bool:
            if replace:
                return entry.lower() not in wanted_lower
            return (prop.nodes(entry) or [""])[-1].lower() in rejected_lower or entry.lower() in stale_auto

        owned.append((prop.record, _update_bag(sidecar.bag(prop.tag), wanted, lzt_owns(sidecar, prop, parent), removable)))
    _record(sidecar, owned)


def _recorded(sidecar: Sidecar, tag: str) -> set[str]:
    return {k.lower() for k in property_items(sidecar, tag)}


# --- the writer --------------------------------------------------------------------------------


class XmpWriter:
    """Writes or merges one sidecar per tagged image. The image itself is never opened.

    on_existing: `skip` leaves an existing sidecar alone; `overwrite` replaces lzt's keywords
    (others' stay); `append` adds new keywords and removes none. A sidecar that cannot be parsed
    or written raises SidecarError and is left untouched; the next image goes on normally.
    parent, tree, with_parents: as OutputOptions' xmp_parent, tree and with_parents."""

    def __init__(
        self, on_existing: OnExisting | str = OnExisting.overwrite, naming: XmpNaming | str = XmpNaming.full, parent: str = "",
        tree: KeywordTree | None = None, with_parents: bool = False,
    ):
        self.on_existing = OnExisting(on_existing)
        self.naming = XmpNaming(naming)
        self.parent = parent.strip().strip("|")
        self.tree = tree or KeywordTree()
        self.with_parents = with_parents
        self.written = 0
        self.skipped = 0

    def write(self, record: Record) -> None:
        if record.error is not None or record.tags is None or record.path is None:
            return  # nothing was learned about this image; its sidecar stays as it is
        keywords = [label for label, _ in record.tags]
        replace = self.on_existing == OnExisting.overwrite
        merge = lambda sidecar: merge_keywords(sidecar, keywords, self.parent, replace, self.tree, self.with_parents)  # noqa: E731
        if self.update(Path(record.path), merge, bool(keywords)):
            self.written += 1

    def update(self, image: Path, merge: Callable[[Sidecar], None], has_keywords: bool) -> bool:
        """Merge into the sidecar of `image` (or a new one) with `merge`, written atomically;
        False when `on_existing` is skip and a sidecar exists, or when there is nothing to write."""
        target = sidecar_path(image, self.naming)
        if target.is_symlink():
            target = target.resolve()  # update the file the link points to, keep the link
        if self.on_existing == OnExisting.skip and (target.exists() or target.is_symlink()):
            self.skipped += 1
            return False
        existing = self._read(target)
        if existing is None and not has_keywords:
            return False  # no sidecar full of nothing
        sidecar = existing or Sidecar.new()
        try:
            merge(sidecar)
            data = sidecar.serialise()
        except RecursionError as exc:  # ElementTree's indent and serialiser recurse
            raise SidecarError(target, "existing sidecar is nested too deeply; left unchanged") from exc
        try:
            atomic_write(target, lambda tmp: tmp.write_bytes(data))
        except OSError as exc:
            raise SidecarError(target, f"cannot write sidecar: {exc.strerror or exc}") from exc
        return True

    def write_review(self, image: Path, reviewed: list[str], auto: list[str], rejected: list[str]) -> bool:
        """`lzt apply`: merge a review's outcome into the sidecar of `image` (see
        merge_reviewed_keywords); True when the sidecar was written."""
        replace = self.on_existing == OnExisting.overwrite
        written = self.update(
            Path(image), lambda sidecar: merge_reviewed_keywords(sidecar, reviewed, auto, rejected, self.parent, replace),
            bool(reviewed or auto),
        )
        self.written += int(written)
        return written

    def _read(self, target: Path) -> Sidecar | None:
        """The existing sidecar to merge into; None when there is none."""
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SidecarError(target, f"cannot read existing sidecar: {exc.strerror or exc}; left unchanged") from exc
        if not data.strip():
            return Sidecar.new()  # an empty file holds nothing to keep
        try:
            return Sidecar.parse(data)
        except (ValueError, LookupError, ET.ParseError) as exc:  # ParseError is a SyntaxError; LookupError: unknown encoding
            raise SidecarError(target, f"existing sidecar is not valid XMP ({exc}); left unchanged") from exc

    def close(self) -> None:
        pass


register_format(Format(
    "xmp", "an XMP sidecar beside each image (merged, never rebuilt)",
    lambda options: XmpWriter(options.on_existing, options.xmp_naming, options.xmp_parent, options.tree, options.with_parents),
    stream=False,
))
