"""Every registered encoder builds from a tiny config and returns unit-norm D-dim embeddings."""
import torch

from semcom_sim.encoders import ENCODERS, build_encoder

TINY_INPUTS = {
    "image": ((1, 8, 8), lambda n: torch.rand(n, 1, 8, 8)),
    "audio": ((4000,), lambda n: torch.randn(n, 4000) * 0.1),
    "text": ((12,), lambda n: torch.randint(1, 49000, (n, 12))),
}
TINY_OPTIONS = {"small_cnn": {"width": 4}, "logmel_cnn": {"width": 4}, "openclip_text": {"width": 8, "layers": 1},
                "clip_image": {"model": "semcom-tiny-clip"}, "clip_text": {"model": "semcom-tiny-clip"}}


def test_every_registered_encoder_builds_and_embeds():
    torch.manual_seed(0)
    for name in ENCODERS:
        cls = ENCODERS[name]
        shape, make = TINY_INPUTS[cls.modality]
        enc = build_encoder(name, 6, shape, TINY_OPTIONS.get(name, {})).eval()
        z = enc(make(5))
        assert z.shape == (5, 6), name
        assert torch.allclose(z.norm(dim=-1), torch.ones(5), atol=1e-5), name
