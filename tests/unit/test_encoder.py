"""Loading open_clip models (random weights, checkpoints, errors), text and image encoding, the
local branch, larger inputs; and that loading leaves the host process's state alone."""

import logging
import os
import warnings

import pytest
import torch

from lzt.errors import LztError, LztWarning, UsageError, WeightsUnavailable
from lzt.model import InputConfig, load_encoder, resolve_device
from lzt.model.dense import encode_global_and_local, local_branch_support

SENTENCES = [
    "a photo of a dog.",
    "A man riding a horse next to a red car on a sunny afternoon in a crowded city park.",
    "cat",
    "two giraffes, an elephant and a zebra drinking at a water hole under a tree at dusk",
]


def quiet_load(name: str, pretrained: str = "none"):
    """load_encoder on the CPU without the random-weights warning (tested on its own below)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LztWarning)
        return load_encoder(name, pretrained, "cpu")


@pytest.fixture(scope="module")
def tiny_vit(tiny_encoder):
    """The session's tiny ViT (random weights, CPU): read only here."""
    return tiny_encoder


@pytest.fixture(scope="module")
def tiny_rn():
    return quiet_load("lzt-tiny-rn")


def test_trimmed_text_encoding_equals_full_context(tiny_vit):
    assert tiny_vit.can_trim_text()
    trimmed = tiny_vit.encode_texts(SENTENCES * 3, batch_size=5, trim=True)
    full = tiny_vit.encode_texts(SENTENCES * 3, batch_size=5, trim=False)
    assert torch.allclose(trimmed, full, atol=1e-5)
    assert torch.allclose(trimmed.norm(dim=1), torch.ones(len(trimmed)), atol=1e-5)


@pytest.mark.slow
def test_real_architecture_vit_b32_trimming_and_shapes():
    encoder = quiet_load("ViT-B-32")
    assert encoder.embed_dim == 512 and encoder.preprocess.image_size == 224
    trimmed = encoder.encode_texts(SENTENCES, trim=True)
    full = encoder.encode_texts(SENTENCES, trim=False)
    assert torch.allclose(trimmed, full, atol=1e-5)
    pixels = torch.randint(0, 256, (2, 3, 224, 224), dtype=torch.uint8)
    assert encoder.encode_pixels(pixels).shape == (2, 512)


@pytest.mark.parametrize("fixture", ["tiny_vit", "tiny_rn"])
def test_dense_global_equals_encode_image(fixture, request):
    encoder = request.getfixturevalue(fixture)
    size = encoder.preprocess.image_size
    pixels = torch.randint(0, 256, (3, 3, size, size), dtype=torch.uint8)
    global_features, tokens = encoder.encode_pixels_dense(pixels)
    assert torch.allclose(global_features, encoder.encode_pixels(pixels), atol=1e-6)
    assert tokens.shape[0] == 3 and tokens.shape[2] == encoder.embed_dim and tokens.shape[1] > 1
    assert local_branch_support(encoder.model) in {"vit", "resnet"}


def test_vit_local_tokens_follow_the_value_path(tiny_vit):
    """Re-derive the ViT local branch by hand: ln_1 -> value projection -> out_proj -> ln_post -> proj."""
    visual = tiny_vit.model.visual
    x = tiny_vit.normalise_pixels(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    h = visual._embeds(x)
    for block in visual.transformer.resblocks[:-1]:
        h = block(h)
    last = visual.transformer.resblocks[-1]
    width = last.attn.embed_dim
    value = last.ln_1(h) @ last.attn.in_proj_weight[2 * width :].T + last.attn.in_proj_bias[2 * width :]
    expected = visual.ln_post(last.attn.out_proj(value)[:, 1:]) @ visual.proj
    _, tokens = encode_global_and_local(tiny_vit.model, x)
    assert torch.allclose(tokens, torch.nn.functional.normalize(expected, dim=-1), atol=1e-5)


def test_larger_input_size_interpolates_position_embeddings():
    encoder = quiet_load("lzt-tiny-vit")  # its own: set_input changes the model
    encoder.set_input(InputConfig(64, "letterbox"))
    assert encoder.preprocess.image_size == 64 and encoder.preprocess.resize_mode == "letterbox"
    _, tokens = encoder.encode_pixels_dense(torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8))
    assert tokens.shape[1] == (64 // 8) ** 2
    with pytest.raises(UsageError, match="multiple of the patch size"):
        encoder.set_input(InputConfig(60, "shortest"))


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(UsageError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(UsageError):
        resolve_device("tpu")


def test_unknown_model_and_tag_are_usage_errors():
    with pytest.raises(UsageError, match="did you mean ViT-B-32"):
        quiet_load("ViT-B-33")
    with pytest.raises(UsageError, match="neither a file nor a pretrained tag"):
        quiet_load("ViT-B-32", "no-such-tag")


def test_random_weights_warn_loudly():
    with pytest.warns(LztWarning, match="RANDOM WEIGHTS"):
        load_encoder("lzt-tiny-vit", "none", "cpu")


def test_local_checkpoint_file_loads(tmp_path):
    from safetensors.torch import save_file

    source = quiet_load("lzt-tiny-vit")  # its own: changed below
    with torch.no_grad():
        source.model.logit_scale.fill_(3.0)
    save_file({k: v.contiguous() for k, v in source.model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    loaded = quiet_load("lzt-tiny-vit", str(tmp_path / "w.safetensors"))
    assert loaded.pretrained_id == "w.safetensors"
    assert torch.equal(loaded.model.logit_scale, source.model.logit_scale)
    (tmp_path / "junk.bin").write_bytes(b"junk")
    with pytest.raises(LztError):
        quiet_load("lzt-tiny-vit", str(tmp_path / "junk.bin"))


# --- no process-wide side effects -----------------------------------------------------------------


def test_random_weights_leave_the_global_rng_alone_and_are_the_same_every_time():
    generator_state = torch.random.get_rng_state()
    first = quiet_load("lzt-tiny-vit")
    assert torch.equal(torch.random.get_rng_state(), generator_state)
    torch.random.manual_seed(1234)  # whatever the host program's RNG holds
    state = torch.random.get_rng_state()
    again = quiet_load("lzt-tiny-vit")
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.random.set_rng_state(generator_state)
    # The random weights come from their own seed: a classifier built on them matches the text
    # tower that a later process recreates.
    for (name, a), (_, b) in zip(first.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_loading_adds_no_handler_to_the_root_logger():
    # Under pytest the root logger holds pytest's capture handlers, so open_clip's module-level
    # logging calls would not configure anything anyway: remove them to see what a program that
    # never set up logging gets (without lzt's guard, open_clip adds a stderr StreamHandler).
    root = logging.getLogger()
    saved = root.handlers[:]
    for handler in saved:
        root.removeHandler(handler)
    try:
        quiet_load("lzt-tiny-rn")
        assert root.handlers == []
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)


def test_loading_sets_no_environment_variable(tmp_path, monkeypatch):
    # No weights in this (empty) weights folder and no network: the offline path, which used to
    # set HF_HUB_OFFLINE for the whole process.
    monkeypatch.setenv("LZT_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr("lzt.model.loading.hub_reachable", lambda timeout=3.0: False)
    before = dict(os.environ)
    quiet_load("lzt-tiny-vit")
    with pytest.raises(WeightsUnavailable, match="could not fetch weights ViT-B-32/openai"):
        quiet_load("ViT-B-32", "openai")
    assert dict(os.environ) == before  # HF_HUB_OFFLINE included
