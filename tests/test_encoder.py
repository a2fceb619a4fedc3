import pytest
import torch

from lzt.dense import encode_global_and_local, local_branch_support
from lzt.encoder import load_encoder, resolve_device
from lzt.errors import LztError, UsageError

SENTENCES = [
    "a photo of a dog.",
    "A man riding a horse next to a red car on a sunny afternoon in a crowded city park.",
    "cat",
    "two giraffes, an elephant and a zebra drinking at a water hole under a tree at dusk",
]


def quiet(message: str) -> None:
    pass


@pytest.fixture(scope="module")
def tiny_vit():
    return load_encoder("lzt-tiny-vit", "none", "cpu", quiet)


@pytest.fixture(scope="module")
def tiny_rn():
    return load_encoder("lzt-tiny-rn", "none", "cpu", quiet)


def test_trimmed_text_encoding_equals_full_context(tiny_vit):
    assert tiny_vit.can_trim_text()
    trimmed = tiny_vit.encode_texts(SENTENCES * 3, batch_size=5, trim=True)
    full = tiny_vit.encode_texts(SENTENCES * 3, batch_size=5, trim=False)
    assert torch.allclose(trimmed, full, atol=1e-5)
    assert torch.allclose(trimmed.norm(dim=1), torch.ones(len(trimmed)), atol=1e-5)


@pytest.mark.slow
def test_real_architecture_vit_b32_trimming_and_shapes():
    encoder = load_encoder("ViT-B-32", "none", "cpu", quiet)
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
    encoder = load_encoder("lzt-tiny-vit", "none", "cpu", quiet)
    encoder.set_input(64, "letterbox")
    assert encoder.preprocess.image_size == 64 and encoder.preprocess.resize_mode == "letterbox"
    global_features, tokens = encoder.encode_pixels_dense(torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8))
    assert tokens.shape[1] == (64 // 8) ** 2
    with pytest.raises(UsageError, match="multiple of the patch size"):
        encoder.set_input(60, "shortest")


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
        load_encoder("ViT-B-33", "none", "cpu", quiet)
    with pytest.raises(UsageError, match="neither a file nor a pretrained tag"):
        load_encoder("ViT-B-32", "no-such-tag", "cpu", quiet)


def test_random_weights_warn_loudly():
    messages = []
    load_encoder("lzt-tiny-vit", "none", "cpu", messages.append)
    assert any("RANDOM WEIGHTS" in m for m in messages)


def test_local_checkpoint_file_loads(tmp_path):
    from safetensors.torch import save_file

    source = load_encoder("lzt-tiny-vit", "none", "cpu", quiet)
    with torch.no_grad():
        source.model.logit_scale.fill_(3.0)
    save_file({k: v.contiguous() for k, v in source.model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    loaded = load_encoder("lzt-tiny-vit", str(tmp_path / "w.safetensors"), "cpu", quiet)
    assert loaded.pretrained_id == "w.safetensors"
    assert torch.equal(loaded.model.logit_scale, source.model.logit_scale)
    (tmp_path / "junk.bin").write_bytes(b"junk")
    with pytest.raises(LztError):
        load_encoder("lzt-tiny-vit", str(tmp_path / "junk.bin"), "cpu", quiet)
