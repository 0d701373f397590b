"""Every registered encoder builds from a tiny config and returns unit-norm D-dim embeddings."""
import torch

from semcom_sim.encoders import ENCODERS, build_encoder

TINY_INPUTS = {
    "image": ((1, 8, 8), lambda n: torch.rand(n, 1, 8, 8)),
    "audio": ((4000,), lambda n: torch.randn(n, 4000) * 0.1),
    "text": ((12,), lambda n: torch.randint(1, 49000, (n, 12))),
    "": ((6,), lambda n: torch.randn(n, 6)),  # an encoder of any modality (identity: embeddings)
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


def test_two_class_head_scores_both_classes():
    """sklearn keeps one logit for two classes; the head must still give each class its own."""
    from semcom_sim.receiver.heads import HEADS, score

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (200,), generator=g)
    x = torch.randn(200, 4, generator=g) + 3.0 * y.unsqueeze(1).float()
    head = HEADS["logistic"](x, y, 1e-3)
    assert head.weight.shape == (2, 4)
    assert float(score(head.logits(x), y)["acc_top1"]) > 0.95  # separable: both classes recognised
