"""CLIP towers from open_clip configs: the tiny shipped config, local checkpoints, freezing, and
pretrained tags without network."""
import time

import huggingface_hub.constants
import pytest
import torch

from semcom_sim.encoders import ENCODERS, build_encoder
from semcom_sim.encoders.clip import ClipImage, ClipText, load_open_clip

open_clip = load_open_clip()  # open_clip with the bundled configs registered

TINY = "semcom-tiny-clip"
CAPTIONS = ["the digit 3", "a handwritten seven", "number 0", "someone saying nine", "a one"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A plain open_clip CLIP (not the custom-text layout the encoders use), saved as a state dict."""
    torch.manual_seed(123)
    model = open_clip.create_model(TINY).eval()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path, model


def test_tiny_config_is_registered():
    assert TINY in open_clip.list_models()
    cfg = open_clip.get_model_config(TINY)
    assert cfg["vision_cfg"]["image_size"] == 32 and cfg["text_cfg"]["context_length"] == 16
    assert ENCODERS["clip_image"] is ClipImage and ClipImage.modality == "image"
    assert ENCODERS["clip_text"] is ClipText and ClipText.modality == "text"


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 40, 50)])
def test_image_tower_embeds_unit_norm(shape):
    torch.manual_seed(0)
    enc = build_encoder("clip_image", 12, shape, {"model": TINY}).eval()
    x = torch.rand(6, *shape)
    pixels = enc.front(x)
    assert pixels.shape == (6, 3, 32, 32)
    z = enc(x)
    assert z.shape == (6, 12) and z.dtype == torch.float32
    assert torch.allclose(z.norm(dim=-1), torch.ones(6), atol=1e-5)


def test_grey_image_is_repeated_and_normalised_with_openai_stats():
    enc = ClipImage(4, (1, 8, 8), model=TINY)
    x = torch.full((2, 1, 8, 8), 0.25)
    pixels = enc.front(x)
    expected = (0.25 - torch.tensor(open_clip.OPENAI_DATASET_MEAN)) / torch.tensor(open_clip.OPENAI_DATASET_STD)
    assert torch.allclose(pixels, expected.view(1, 3, 1, 1).expand(2, 3, 32, 32), atol=1e-6)
    assert pixels.dtype == torch.float32
    assert enc.front(x.double()).dtype == torch.float64  # dtype comes from the input


def test_text_tower_embeds_ids_of_length_16_and_12_alike():
    ids16 = open_clip.tokenize(CAPTIONS, context_length=16)
    ids12 = open_clip.tokenize(CAPTIONS, context_length=12)
    assert ids16.shape == (5, 16) and ids12.shape == (5, 12)
    encs = []
    for length in (16, 12):
        torch.manual_seed(0)
        encs.append(build_encoder("clip_text", 8, (length,), {"model": TINY}).eval())
    z16, z12 = encs[0](ids16), encs[1](ids12)
    assert z16.shape == (5, 8) and z12.shape == (5, 8)
    assert torch.allclose(z16.norm(dim=-1), torch.ones(5), atol=1e-5)
    # zero padding to the context length leaves the pooled end-of-text token unchanged
    assert torch.allclose(z16, z12, atol=1e-6)
    assert not torch.allclose(z16[0], z16[1])


def test_text_length_beyond_context_is_rejected():
    with pytest.raises(ValueError, match="outside 1..16"):
        ClipText(8, (20,), model=TINY)


def test_local_checkpoint_loads_the_same_towers(checkpoint):
    path, model = checkpoint
    x = torch.rand(4, 1, 8, 8)
    ids = open_clip.tokenize(CAPTIONS[:4], context_length=16)
    with torch.no_grad():
        ref_image = model.encode_image(ClipImage(4, (1, 8, 8), model=TINY).front(x))
        ref_text = model.encode_text(ids)
    outs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        image = ClipImage(4, (1, 8, 8), model=TINY, pretrained=str(path)).eval()
        text = ClipText(4, (16,), model=TINY, pretrained=str(path)).eval()
        with torch.no_grad():
            outs.append((image.tower(image.front(x)), text.tower(text.front(ids)), image.proj.weight.clone()))
    (img1, txt1, proj1), (img2, txt2, proj2) = outs
    assert torch.equal(img1, img2) and torch.equal(txt1, txt2)
    assert torch.allclose(img1, ref_image, atol=1e-6) and torch.allclose(txt1, ref_text, atol=1e-6)
    assert img1.shape == (4, 64) and txt1.shape == (4, 64)
    assert not torch.equal(proj1, proj2)  # only the projection follows the seed


def test_cached_tag_loads_from_the_hub_cache_without_network(checkpoint, tmp_path, monkeypatch):
    path, model = checkpoint
    sha = "0" * 40
    repo = tmp_path / "models--semcom--tiny-clip"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    (repo / "snapshots" / sha).mkdir(parents=True)
    (repo / "snapshots" / sha / "open_clip_pytorch_model.bin").write_bytes(path.read_bytes())
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY,
                        {"cached": {"hf_hub": "semcom/tiny-clip/", "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}})
    enc = ClipImage(4, (1, 8, 8), model=TINY, pretrained="cached").eval()
    x = torch.rand(3, 1, 8, 8)
    pixels = enc.front(x)
    assert torch.allclose(pixels[:, 0], (torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear",
                                                                          antialias=True)[:, 0] - 0.5) / 0.25,
                          atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(enc.tower(pixels), model.encode_image(pixels), atol=1e-6)


def test_freeze_trains_only_the_projection_and_stays_in_eval():
    for enc, x in ((ClipImage(6, (1, 8, 8), model=TINY, freeze=True), torch.rand(5, 1, 8, 8)),
                   (ClipText(6, (12,), model=TINY, freeze=True), open_clip.tokenize(CAPTIONS, context_length=12))):
        trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
        assert trainable == ["proj.weight", "proj.bias"]
        frozen = sum(p.numel() for p in enc.parameters() if not p.requires_grad)
        assert frozen == sum(p.numel() for p in enc.tower.parameters()) > 80_000
        enc.train()
        assert enc.training and enc.proj.training
        assert not any(m.training for m in enc.tower.modules())
        prepared = enc.prepare(x)  # the frozen tower runs once per data set
        assert prepared.shape == (5, 64) and not prepared.requires_grad
        enc.embed_prepared(prepared).sum().backward()
        assert enc.proj.weight.grad is not None
        assert all(p.grad is None for p in enc.tower.parameters())
        assert torch.allclose(enc.eval()(x), enc.embed_prepared(prepared), atol=1e-6)


def test_unfrozen_tower_trains_and_follows_train_mode():
    enc = ClipImage(6, (1, 8, 8), model=TINY)
    assert all(p.requires_grad for p in enc.parameters())
    enc.train()
    assert all(m.training for m in enc.tower.modules())
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(enc.prepare(x), x)
    enc.embed_prepared(enc.prepare(x)).sum().backward()
    assert enc.tower.conv1.weight.grad is not None


def test_unreachable_tag_fails_fast_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # nothing cached
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(ValueError) as err:
        ClipImage(8, (1, 8, 8), model="ViT-B-32", pretrained="laion2b_s34b_b79k")
    assert time.monotonic() - start < 5.0
    message = str(err.value)
    assert "\n" not in message
    assert "'laion2b_s34b_b79k'" in message and "'ViT-B-32'" in message
    assert "local path" in message and "pretrained: /path/to/" in message


def test_unknown_model_and_bad_pretrained_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match=r"open_clip\.list_models\(\)"):
        ClipImage(8, (1, 8, 8), model="ViT-Q-99")
    with pytest.raises(ValueError, match="neither a file nor a known tag"):
        ClipText(8, (16,), model=TINY, pretrained=str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="another tokenizer"):
        ClipText(8, (16,), model="ViT-B-16-SigLIP")
    with pytest.raises(ValueError, match="1 or 3 channels"):
        ClipImage(8, (2, 8, 8), model=TINY)


def test_build_is_deterministic_under_a_seed():
    states = []
    for _ in range(2):
        torch.manual_seed(7)
        states.append(ClipText(4, (16,), model=TINY).state_dict())
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
