from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
import threading

import torch

# Gaussian draws of at least PARALLEL_DRAW_VALUES real values on the CPU are split into
# DRAW_STREAMS contiguous parts, each drawn by its own generator, seeded from the calling generator,
# in threads: torch's CPU ``normal_`` runs on one core whatever the thread count (2e8 values: 0.68 s
# on 1 or 2 threads, 0.36 s as two parts in two threads). The number of parts is fixed, not the
# machine's thread count, so the values do not depend on where they are drawn.
DRAW_STREAMS = 2
PARALLEL_DRAW_VALUES = 1 << 22


class Channel:
    """x: complex [S, ..., V, L] symbols (S SNR points first, V vectors of L channel uses),
    no: float [S] noise variance per complex symbol.

    ``__call__`` returns (x_u, no_eff) in Sionna's convention: the unbiased equalised estimate
    x_u = x + e, shape of x, and the variance of e, broadcastable to x (what a demapper needs).

    ``mmse`` returns (y, w) for an analog receiver: y, shape of x, and a weight w broadcastable to
    y such that w * y is the linear MMSE estimate of each unit-energy symbol. A channel keeps w as
    coarse as it can (one per SNR point for AWGN, one per vector for block fading), so that the
    receiver folds w and its own scaling into one pass over the symbols; where w varies per symbol
    the channel may apply it itself and return y = the estimate, w = 1.

    Build one by preset name with :func:`semcom_sim.blocks.channel_from_preset`:

    >>> import torch
    >>> from semcom_sim.blocks import channel_from_preset
    >>> ch = channel_from_preset("awgn", torch.float64)
    >>> x = torch.ones(1, 100_000, dtype=torch.complex128)   # [S=1, L]
    >>> x_u, no_eff = ch(x, torch.tensor([0.5], dtype=torch.float64))
    >>> round(float((x_u - x).abs().square().mean()), 1)     # the noise variance N0
    0.5
    """

    # channel uses a model spends per transmitted vector besides the link's own (pilots for channel
    # estimation): monte_carlo reports them as results.csv's ``pilot_uses``, outside ``channel_uses``
    pilot_uses_per_vector: int = 0
    options: dict = {}  # the model options it was built with, where one_sinr_per_block reads them

    @classmethod
    def one_sinr_per_block(cls, **options) -> bool:
        """Whether every symbol of a transmitted vector sees the same post-equaliser SINR with these
        options (AWGN, block fading; not fast fading nor OFDM): then :meth:`sinr` needs one symbol
        per vector, and the budgets count the nr link's abstraction at one symbol per block."""
        return False

    @classmethod
    def iid_sinr_per_symbol(cls, **options) -> bool:
        """Whether the symbols of a vector see independent, identically distributed SINRs with these
        options (fast flat fading: a coefficient per symbol; not OFDM, whose subcarriers correlate):
        then the nr abstraction may map a long block's SINRs through the EESM by their law
        (``nr_abstraction.effective_sinr``) instead of symbol by symbol."""
        return False

    def sinr(self, shape: tuple[int, ...], no: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Post-equaliser SINR 1 / no_eff (float64) of unit-energy symbols sent as vectors of shape
        [S, ..., L] (complex ``dtype``), broadcastable to ``shape``: [..., 1] where the channel has
        one SINR per vector. The channel is run on zeros, on one symbol per vector where that
        suffices: the equaliser's error variance does not depend on the symbols."""
        if self.one_sinr_per_block(**self.options):
            shape = (*shape[:-1], 1)
        zeros = torch.zeros((), dtype=dtype, device=no.device).expand(shape)
        return 1.0 / self(zeros, no)[1].to(torch.float64)

    @classmethod
    def check(cls, **options) -> None:
        """Raise ValueError for option values the model refuses, without building it (no Sionna
        import): ``validate`` and the scenario checks call it on every preset."""

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def delivery_probability(self, info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor | None:
        """Probability [S] that a capacity-achieving code delivers ``info_bits`` in ``channel_uses``
        uses of this channel at each linear SNR = 1/N0 [S] (float64): the physical limit every link is drawn against.

        Every model must say: there is deliberately no default, so a new model cannot silently
        inherit another's limit. Return None where no reference is known (its column stays empty).
        """
        raise NotImplementedError(f"{type(self).__name__} must define delivery_probability "
                                  "(return None where no capacity reference is known)")

    def mmse(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generic form, from ``__call__``: y = x_u, w = 1 / (1 + no_eff); channels override it."""
        x_u, no_eff = self(x, no)
        return x_u, mmse_gain(no_eff)

    @staticmethod
    def _per_snr(no: torch.Tensor, rank: int) -> torch.Tensor:
        return no.reshape(-1, *([1] * (rank - 1)))


def gaussian_(t: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Fill the contiguous real tensor ``t`` with N(0, std^2) values from ``generator`` (in place).

    On the CPU, from PARALLEL_DRAW_VALUES values up, ``t`` is drawn as DRAW_STREAMS contiguous parts,
    each from its own generator seeded by one draw of ``generator``, the parts in parallel threads
    where torch has more than one (the same values either way); else one ``normal_`` call."""
    if t.device.type != "cpu" or t.numel() < PARALLEL_DRAW_VALUES:
        return t.normal_(0.0, std, generator=generator)
    seeds = torch.randint(0, 2**62, (DRAW_STREAMS,), generator=generator).tolist()
    parts = t.view(-1).chunk(DRAW_STREAMS)
    errors: list[BaseException] = []

    def draw(i: int) -> None:
        try:
            parts[i].normal_(0.0, std, generator=torch.Generator().manual_seed(seeds[i]))
        except BaseException as e:  # raised in the caller: a part left undrawn must not pass as drawn
            errors.append(e)

    if torch.get_num_threads() > 1:  # a thread per further part (no pool: one would not survive a fork)
        others = [threading.Thread(target=draw, args=(i,)) for i in range(1, len(parts))]
        for th in others:
            th.start()
        draw(0)
        for th in others:
            th.join()
    else:
        for i in range(len(parts)):
            draw(i)
    if errors:
        raise errors[0]
    return t


def add_noise(x: torch.Tensor, no: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
    """y = x + n, or y = h x + n with ``h`` (broadcastable to x), n ~ CN(0, N0) per complex symbol
    (``no`` broadcastable to y), drawn from Sionna's seeded generator of x's device, as Sionna's
    ``AWGN`` block draws it.

    Written here rather than calling the block: it makes five passes over the symbols (the real
    parts, the imaginary parts, interleaving them, scaling, adding), this two (one draw of the
    interleaved real and imaginary parts in place, one fused multiply-add into them): 2.2x faster
    on the 2-core CPU at 43 M symbols, and a real ``normal_`` on the interleaved parts draws 1.7x
    faster than ``randn`` of a complex dtype (docs/development/speed.md), in two streams at once
    for large draws (:func:`gaussian_`). Same distribution, another sequence of draws.

    h x is formed piece by piece (:func:`pieces`) into the noise's own buffer, never whole: a
    fresh tensor the size of y would cost its page faults on every call (the allocator maps
    large blocks anew), a piece's memory is reused. The values are those of h x + n formed whole.
    The noise's own buffer is :func:`scratch`'s: within a Monte Carlo loop, the memory of the
    chunk before."""
    from sionna.phy import config

    shape = x.shape if h is None else torch.broadcast_shapes(h.shape, x.shape)
    noise = scratch(shape, x.dtype, x.device)
    gaussian_(torch.view_as_real(noise), math.sqrt(0.5), config.torch_rng(str(x.device)))
    scale = no.sqrt().to(x.real.dtype)
    if torch.is_grad_enabled() and (x.requires_grad or (h is not None and h.requires_grad)):
        return torch.addcmul(x if h is None else h * x, noise, scale)  # an out= result has no gradient
    if h is None:
        return torch.addcmul(x, noise, scale, out=noise)
    h, x, scale = (torch.broadcast_to(t, shape) for t in (h, x, scale))  # views: no copies
    for at in pieces(shape, noise.element_size(), PIECE_BYTES):
        torch.addcmul(h[at] * x[at], noise[at], scale[at], out=noise[at])
    return noise


# buffers of :func:`scratch` within :func:`reused_buffers`: (buffer, its storage's use count when
# nothing but the pool holds it); None outside
_POOL: contextvars.ContextVar[list[tuple[torch.Tensor, int]] | None] = contextvars.ContextVar("scratch", default=None)
# below this size a fresh tensor costs no page faults: glibc serves it from memory already mapped
POOLED_BYTES = 1 << 25


@contextlib.contextmanager
def reused_buffers():
    """Within it, :func:`scratch` hands out again the CPU buffers of its earlier calls that nothing
    holds any more: a Monte Carlo loop's chunks of draws (``links.monte_carlo``) then write their
    noise into the memory of the chunk before instead of a fresh block. glibc maps every block
    above 32 MiB anew and unmaps it when freed, so a fresh one is faulted in page by page: 5.9 M
    page faults and 11-12 s of system time in the N = 20,000 run of docs/development/speed.md."""
    token = _POOL.set([])
    try:
        yield
    finally:
        _POOL.reset(token)


def _use_count(t: torch.Tensor) -> int | None:
    """How many holders t's memory has (every tensor viewing it counts); None where this torch
    does not say (then nothing is reused)."""
    count = getattr(torch._C, "_storage_Use_Count", None)
    return None if count is None else count(t.untyped_storage()._cdata)


def scratch(shape, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialised tensor of ``shape``: ``torch.empty``, except within :func:`reused_buffers`
    on the CPU, where a large one is a view of a buffer of the pool that no tensor views any more
    (its storage's use count is back to what it was when only the pool held it), or a new buffer
    the pool keeps. A buffer still viewed anywhere is never handed out: what it holds is not
    overwritten."""
    pool = _POOL.get()
    numel = math.prod(shape)
    if pool is None or torch.device(device).type != "cpu" or numel * dtype.itemsize < POOLED_BYTES:
        return torch.empty(shape, dtype=dtype, device=device)
    for buf, idle in pool:
        if buf.dtype == dtype and buf.numel() >= numel and _use_count(buf) == idle:
            return buf[:numel].view(shape)
    buf = torch.empty(numel, dtype=dtype, device=device)
    idle = _use_count(buf)
    if idle is not None:
        pool.append((buf, idle))
    return buf.view(shape)


# the bytes of one piece of :func:`pieces`: far below glibc's largest threshold for mapping a block
# anew (32 MiB), so that freed pieces are reused
PIECE_BYTES = 1 << 23


def pieces(shape: torch.Size, itemsize: int, limit: int = PIECE_BYTES):
    """Index tuples cutting a tensor of ``shape`` along its leading dimensions into pieces of at
    most ``limit`` bytes each (or one index of the last dimension, where that is larger)."""
    per = itemsize * math.prod(shape)
    for d, n in enumerate(shape):
        per //= max(n, 1)
        if per <= limit or d == len(shape) - 1:
            rows = max(1, limit // max(per, 1))
            for lead in itertools.product(*(range(m) for m in shape[:d])):
                for s in range(0, n, rows):
                    yield (*lead, slice(s, s + rows))
            return
    yield ()


def mmse_gain(no_eff: torch.Tensor) -> torch.Tensor:
    """Factor turning an unbiased estimate of a unit-energy symbol into its linear MMSE estimate.

    x_mmse = x_u / (1 + no_eff); for flat fading this equals h* y / (|h|^2 + N0): deep fades are
    shrunk towards zero instead of having their noise amplified, which is what an analog receiver
    wants. Returned separately so the receiver can fold it into one pass over the symbols.
    """
    return 1.0 / (1.0 + no_eff)
