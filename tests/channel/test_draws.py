"""Large Gaussian draws in two seeded streams (channel/base.py ``gaussian_``)."""
import pytest
import torch

import semcom_sim.channel.base as base
from semcom_sim.channel.base import gaussian_


def _draw(n: int, threads: int, seed: int = 3, std: float = 0.5) -> torch.Tensor:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return gaussian_(torch.empty(n), std, torch.Generator().manual_seed(seed))
    finally:
        torch.set_num_threads(previous)


def test_a_large_draw_is_the_same_on_one_or_two_threads_and_has_the_asked_distribution():
    n = base.PARALLEL_DRAW_VALUES + 1001  # an odd size: the parts differ by one value
    one, two = _draw(n, 1), _draw(n, 2)
    assert torch.equal(one, two)
    assert not torch.equal(one, _draw(n, 2, seed=4))
    # 4.2 M values of N(0, 0.25): the mean's standard error 2.4e-4, the variance's 1.7e-4
    assert abs(float(one.mean())) < 5 * 0.5 / n**0.5
    assert float(one.var()) == pytest.approx(0.25, abs=5 * 0.25 * (2 / n) ** 0.5)
    half = n // 2 + 1  # the two parts are not the same stream, nor one stream's continuation
    assert not torch.equal(one[:100], one[half:half + 100])
    assert abs(float(torch.corrcoef(torch.stack([one[:half - 1], one[half:2 * half - 1]]))[0, 1])) < 5 / n**0.5


def test_a_small_draw_is_one_normal_call():
    n = 1000
    plain = torch.empty(n).normal_(0.0, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(_draw(n, 2), plain)


def test_a_part_that_fails_raises_instead_of_leaving_values_undrawn(monkeypatch):
    calls = []
    original = torch.Tensor.normal_

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("no memory for the second part")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "normal_", failing)
    with pytest.raises(RuntimeError, match="second part"):
        _draw(base.PARALLEL_DRAW_VALUES, 2)


@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (1, 1, 7), (2, 0, 3), (5,)])
def test_pieces_cover_every_index_once(shape):
    seen = torch.zeros(shape, dtype=torch.int64)
    for at in base.pieces(torch.Size(shape), 4, limit=24):  # 24 bytes: 6 values a piece
        seen[at] += 1
        assert seen[at].numel() <= 6 or len(at) == len(shape)
    assert bool((seen == 1).all())


def test_faded_symbols_with_noise_formed_piece_by_piece_equal_h_x_formed_whole(monkeypatch):
    """add_noise(x, no, h) forms h x piece by piece into the noise's buffer (no tensor the size of
    y but the noise's): bit for bit add_noise(h * x, no) from the same generator state."""
    from sionna.phy import config

    monkeypatch.setattr(base, "PIECE_BYTES", 4096)  # many pieces, cut along three dimensions
    g = torch.Generator().manual_seed(0)
    for h_shape, x_shape in [((4, 3, 50, 2, 1, 1), (50, 2, 16, 1)),  # block fading: one h per vector
                             ((4, 3, 50, 2, 16, 2), (50, 2, 16, 1))]:  # fast, two receive antennas
        h = torch.randn(h_shape, dtype=torch.complex64, generator=g)
        x = torch.randn(x_shape, dtype=torch.complex64, generator=g)
        no = torch.rand(4, 1, 1, 1, 1, 1, generator=g) + 0.1
        config.seed = 11
        whole = base.add_noise(h * x, no)
        config.seed = 11
        assert torch.equal(base.add_noise(x, no, h), whole)


def test_scratch_hands_out_a_buffer_again_only_once_nothing_views_it(monkeypatch):
    monkeypatch.setattr(base, "POOLED_BYTES", 1024)
    assert base.scratch((64, 8), torch.float32, "cpu").numel() == 512  # outside the scope: torch.empty
    with base.reused_buffers():
        first = base.scratch((64, 8), torch.float32, "cpu")
        ptr = first.data_ptr()
        view = torch.view_as_complex(first.view(64, 4, 2))[:3]  # a view of it is still held
        del first
        second = base.scratch((64, 8), torch.float32, "cpu")
        assert second.data_ptr() != ptr  # never the memory a tensor still views
        del view
        again = base.scratch((32, 8), torch.float32, "cpu")  # smaller: a view of the first buffer
        assert again.data_ptr() == ptr and again.shape == (32, 8)
        assert base.scratch((64, 8), torch.float64, "cpu").data_ptr() not in (ptr, second.data_ptr())
        tiny = base.scratch((4,), torch.float32, "cpu")  # below POOLED_BYTES: not pooled
        assert tiny.data_ptr() not in (ptr, second.data_ptr())
    with base.reused_buffers():  # each scope its own pool
        assert base.scratch((64, 8), torch.float32, "cpu").data_ptr() != second.data_ptr()


def test_monte_carlo_reuses_the_chunks_memory_and_draws_what_fresh_memory_would(monkeypatch):
    """Chunks of draws write their noise into the memory of the chunk before (no fresh block, no
    page faults): the metrics are those of fresh buffers to the bit, and a measure that keeps the
    payload it was given still sees its own values."""
    from sionna.phy import config

    from semcom_sim.blocks import Analog, SnrPoints, channel_from_preset, monte_carlo
    import semcom_sim.links.analog as analog

    monkeypatch.setattr(analog, "SYMBOLS_PER_CHUNK", 1)  # one draw per chunk
    monkeypatch.setattr(base, "POOLED_BYTES", 1024)
    payload = torch.randn(40, 2, 16, generator=torch.Generator().manual_seed(0))
    link, snr = Analog.fit(payload), SnrPoints.of([0.0, 10.0], torch.float32, "cpu")
    kept, pointers = [], []

    def measure(p, at):
        pointers.append(p.data_ptr())
        return {"mse": (p - payload).square().mean((-3, -2, -1))}

    def run(channel):
        config.seed = 5
        return monte_carlo(link, payload, channel, snr.no, 6, measure)["mse"]

    for preset in ("awgn", "rayleigh_fast"):
        channel = channel_from_preset(preset)
        pooled = run(channel)
        assert len(set(pointers)) == 1  # every chunk in the same memory
        monkeypatch.setattr(base, "POOLED_BYTES", 1 << 62)  # nothing pooled: fresh memory each chunk
        assert torch.equal(run(channel), pooled)
        monkeypatch.setattr(base, "POOLED_BYTES", 1024)
        pointers.clear()

    def keeping(p, at):
        kept.append((p, p.clone()))
        return {"mse": p.square().mean((-3, -2, -1))}

    config.seed = 5
    monte_carlo(link, payload, channel_from_preset("awgn"), snr.no, 6, keeping)
    assert all(torch.equal(p, copy) for p, copy in kept)  # nothing it kept was overwritten
    assert len({p.data_ptr() for p, _ in kept}) == 6
