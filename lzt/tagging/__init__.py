"""Tagging: discover -> decode -> encode -> map (modality gap) -> score -> select; the cache."""

from lzt.config import (
    Calibration,
    DecodeOptions,
    Mapping,
    MappingConfig,
    ScoringConfig,
    Selection,
    parse_label_list,
    read_renames,
    read_thresholds,
)
from lzt.record import Record
from lzt.tagging.batches import default_workers
from lzt.tagging.calibration import calibrate
from lzt.tagging.decoding import HEIF_AVAILABLE
from lzt.tagging.discovery import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS, VIDEO_EXTENSIONS, discover
from lzt.tagging.raw import RAW_EXTENSIONS
from lzt.tagging.selection import select_tags
from lzt.tagging.tagger import Embeddings, Tagger

__all__ = [
    "HEIF_AVAILABLE", "IMAGE_EXTENSIONS", "MEDIA_EXTENSIONS", "RAW_EXTENSIONS", "VIDEO_EXTENSIONS", "Calibration", "DecodeOptions", "Embeddings", "Mapping", "MappingConfig",
    "Record", "ScoringConfig", "Selection", "Tagger", "calibrate", "default_workers", "discover",
    "parse_label_list", "read_renames", "read_thresholds", "select_tags",
]
