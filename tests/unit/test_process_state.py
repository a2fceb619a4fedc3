"""The library leaves the host program's process as it found it: its alarms, its warning
filters; and a classifier built with one activation warns when used with the other."""

from __future__ import annotations

import signal
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import lzt
from lzt.model.encoder import ClipEncoder
from lzt.tagging.decoding import decode_image


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 60, 3), 120, np.uint8)).save(path)
    return path


def test_decoding_keeps_the_hosts_alarm_and_warning_filters(photo, tiny_encoder):
    filters = list(warnings.filters)
    fired = []

    def handler(signum, frame):
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        decode_image(photo, tiny_encoder.preprocess, lzt.DecodeOptions(decode_timeout=5))
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90 < remaining <= 100  # still the host's timer, not cancelled, not replaced by ours
        assert signal.getsignal(signal.SIGALRM) is handler and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert list(warnings.filters) == filters


def test_encoder_identity_names_the_activation(tiny_encoder):
    assert tiny_encoder.activation == "gelu" and "|gelu|" in tiny_encoder.identity


def test_a_classifier_and_an_encoder_with_other_activations_warn(tiny_encoder, tiny_classifier):
    import open_clip

    built = lzt.load_classifier(tiny_classifier)
    assert built.activation == "gelu"  # recorded when built (and covered by the file's checksum)
    with torch.random.fork_rng(devices=[]):
        model = open_clip.create_model("lzt-tiny-vit", force_quick_gelu=True)
    quick = ClipEncoder(model.eval(), tiny_encoder.tokenizer, "lzt-tiny-vit", "none", torch.device("cpu"))
    assert quick.activation == "quickgelu" and quick.identity != tiny_encoder.identity
    with pytest.warns(lzt.LztWarning, match="text embeddings use gelu, the image encoder quickgelu"):
        lzt.Tagger(quick, built)
    built.activation = None  # as in a file written by lzt 0.1
    with pytest.warns(lzt.LztWarning, match="built by lzt 0.1"):
        lzt.Tagger(quick, built)
    with warnings.catch_warnings():
        warnings.simplefilter("error", lzt.LztWarning)
        lzt.Tagger(tiny_encoder, built)  # 0.1 files with GELU towers stay silent
