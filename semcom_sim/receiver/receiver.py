"""The receiver: a classification head and, optionally, one decoder per modality, applied together
to whatever payload arrives (clean, or every SNR point and channel draw at once)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn

from ..errors import UserError
from ..transmitter.schemes import Scheme
from .decoders import DECODERS, Decoder
from .fit_cache import cached_decoder, cached_head
from .heads import HEAD_TOL, HEADS, LinearHead, fit_linear_head, score
from .reconstruction import BoundMetrics, ReconstructionMetrics
from .retrieval import QueryPlan, identification, unit_rows

# decoder output values per chunk of payload slices (SNR points x draws): large enough for matrix
# products near the BLAS's speed, small enough that a log-mel decoder's outputs (2,016 values per
# instance) stay at 64 MiB in float32 however many SNR points and draws
DECODER_VALUES_PER_CHUNK = 1 << 24


@dataclass
class Receiver:
    head: LinearHead
    labels: torch.Tensor  # test labels [N]
    # modality -> (index of the payload vector it reads, its decoder, its metrics, test targets)
    decoders: dict[str, tuple[int, Decoder, ReconstructionMetrics, torch.Tensor]] = field(default_factory=dict)
    # unit-norm clean test payloads [N, V*T] (entry i: instance i): the retrieval gallery of r1/r5;
    # None: no retrieval columns
    gallery: torch.Tensor | None = None
    # which test instances query the gallery in each draw; None: all of them
    queries: QueryPlan | None = None
    # the scheme's head_reads: what the head and decoders read of the vectors that arrive
    reads: Callable[[torch.Tensor], torch.Tensor] | None = None
    # which test instances the decoders score in each draw; None: all of them
    recon_plan: QueryPlan | None = None
    # modality -> ((metrics, targets, labels), the metrics bound to them): built on first use
    _bound: dict[str, tuple[tuple, BoundMetrics]] = field(default_factory=dict, init=False, repr=False,
                                                          compare=False)

    def _metrics(self, modality: str, metrics: ReconstructionMetrics, targets: torch.Tensor) -> BoundMetrics:
        key = (metrics, targets, self.labels)
        cached = self._bound.get(modality)
        if cached is None or any(a is not b for a, b in zip(cached[0], key)):
            cached = self._bound[modality] = (key, metrics.bind(targets, self.labels))
        return cached[1]

    def measure(self, payload: torch.Tensor, draws: range | None = None, total: int = 1) -> dict[str, torch.Tensor]:
        """payload [..., N, V, T] as it arrives -> every results.csv metric, each of shape [...].
        ``draws``: which of ``total`` draws per SNR point the payload's dimension -4 holds (they
        choose the retrieval queries and the instances the decoders score, each a ``QueryPlan``);
        None: one payload without a draw dimension."""
        if self.reads is not None:
            payload = self.reads(payload)
        out = score(self.head.logits(payload.flatten(-2)), self.labels)
        if self.gallery is not None:
            rows = None if self.queries is None else self.queries.rows(draws or range(1), total)
            if rows is not None and draws is None:
                rows = rows[0]
            out.update(identification(payload, self.gallery, rows))
        if self.decoders:
            out.update(self._reconstruction(payload, draws, total))
        return out

    def _reconstruction(self, payload: torch.Tensor, draws: range | None, total: int) -> dict[str, torch.Tensor]:
        """Every decoder's metrics of payload [..., N, V, T] (as ``measure``), each [...]: where
        ``recon_plan`` samples, each draw decodes its own rows only."""
        lead, (n, v, t) = payload.shape[:-3], payload.shape[-3:]
        rows = None if self.recon_plan is None else self.recon_plan.rows(draws or range(1), total)
        if rows is None:
            out = self._decoded(payload.reshape(-1, n, v, t), None)
        elif draws is None:
            out = self._decoded(payload[..., rows[0].to(payload.device), :, :].reshape(-1, rows.shape[1], v, t), rows[0])
        else:
            by_draw = payload.reshape(-1, len(draws), n, v, t)
            per_draw = [self._decoded(by_draw[:, j, r.to(payload.device)], r) for j, r in enumerate(rows)]
            out = {k: torch.stack([d[k] for d in per_draw], -1) for k in per_draw[0]}
        return {k: val.reshape(lead) for k, val in out.items()}

    def _decoded(self, slices: torch.Tensor, rows: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """slices [B, n, V, T] of the test instances ``rows`` [n] (None: all, in order) -> every
        decoder's metrics [B], in chunks of whole slices: every decoder and metric runs batched over
        a chunk."""
        widest = max(decoder.output_values for _, decoder, _, _ in self.decoders.values())
        step = max(1, DECODER_VALUES_PER_CHUNK // (slices.shape[1] * widest))
        parts: dict[str, list[torch.Tensor]] = {}
        with torch.no_grad():
            for m, (vector, decoder, metrics, targets) in self.decoders.items():
                bound = (self._metrics(m, metrics, targets) if rows is None
                         else metrics.bind(targets[rows.to(targets.device)], self.labels[rows.to(self.labels.device)]))
                for start in range(0, slices.shape[0], step):
                    p = slices[start:start + step, :, vector, :]
                    for k, val in bound(decoder(p), overwrite=True).items():
                        parts.setdefault(k, []).append(val)
        return {k: torch.cat(val) for k, val in parts.items()}

    @torch.no_grad()
    def reconstruct(self, payload: torch.Tensor) -> dict[str, torch.Tensor]:
        """payload [..., N, V, T] as it arrives -> each modality's decoded reconstruction (tokens for text)."""
        if self.reads is not None:
            payload = self.reads(payload)
        return {m: decoder.decode(payload[..., vector, :]) for m, (vector, decoder, _, _) in self.decoders.items()}


@dataclass(frozen=True)
class ReconstructionTargets:
    """Per-modality decoder targets of both splits, the metrics fixed on the training split and
    which test instances the decoders score in each draw (``plan``; None: all)."""

    train: dict[str, torch.Tensor]
    test: dict[str, torch.Tensor]
    metrics: dict[str, ReconstructionMetrics]
    plan: QueryPlan | None = None

    @classmethod
    def fit(cls, scenario, train, test, encoders: Mapping[str, nn.Module],
            cache_dir: Path | None = None, plan: QueryPlan | None = None) -> "ReconstructionTargets":
        """Each decoder's targets of its modality (its ``target_for``), from the raw inputs and
        ``encoders`` (modality -> trained encoder: the audio's log-mel comes from its front end),
        and the metrics its ``metrics`` kind fixes on the training targets (their classifiers
        through the cache in ``cache_dir``, receiver/fit_cache.py; None: not cached); ``plan``: the
        test instances the decoders score in each draw (None: all)."""
        tr, te, metrics = {}, {}, {}
        for m, spec in scenario.receiver.reconstruction.decoders.items():
            decoder = DECODERS[spec.name]
            try:
                tr[m] = decoder.target_for(train.inputs[m], encoders[m])
                te[m] = decoder.target_for(test.inputs[m], encoders[m])
            except ValueError as e:  # what validation cannot see without data (token ids or real values)
                raise UserError(f"{spec.name!r}: {e}", source=scenario.name,
                                field=f"receiver.reconstruction.decoders.{m}") from None
            metrics[m] = decoder.metrics.fit(m, tr[m], train.labels,
                                             fit_head=partial(cached_head, cache_dir, fit_linear_head))
        return cls(tr, te, metrics, plan)


def build_receiver(scheme: Scheme, stream: str, payload_dims: int, p_train: torch.Tensor,
                   train_labels: torch.Tensor, test_labels: torch.Tensor, recon: ReconstructionTargets | None,
                   scenario, runtime, p_test: torch.Tensor | None = None, repeats: int = 1,
                   queries: QueryPlan | None = None, cache_dir: Path | None = None) -> Receiver:
    """Head and decoders fitted on the training payloads ``p_train`` of ``scheme`` (``stream``
    names it in the decoders' random streams); the scheme says which payload vector each
    modality's decoder reads (the centroid for the centroid, its own for the conventional). ``repeats``: ``p_train`` holds that
    many copies of the training set one after the other (noisy copies for a noise-aware receiver),
    so the decoders' targets repeat alike. ``p_test`` [N, V, T], the clean test payloads of the same
    scheme and RFS set, is the retrieval gallery (r1, r5); without it the receiver reports no
    retrieval; ``queries`` the test instances that query it in each draw (None: all). The
    head and decoders are fitted on what they read of the payloads (the scheme's ``head_reads``).
    The head and the decoders go through the cache in ``cache_dir`` (receiver/fit_cache.py; None:
    fitted, not cached)."""
    p_train = scheme.head_reads(p_train)
    head = cached_head(cache_dir, HEADS[scenario.receiver.head], p_train.flatten(1), train_labels,
                       scenario.receiver.l2, HEAD_TOL)
    gallery = None if p_test is None else unit_rows(scheme.head_reads(p_test).flatten(1))
    receiver = Receiver(head, test_labels, gallery=gallery, queries=queries, reads=scheme.head_reads)
    if recon is None:
        return receiver
    cfg = scenario.receiver.reconstruction
    modalities = list(scenario.data.modalities)
    for m, spec in cfg.decoders.items():
        vector = scheme.decoder_vector(modalities.index(m), len(modalities))
        gen = runtime.torch_generator("decoder", stream, payload_dims, m, device=torch.device("cpu"))
        targets = recon.train[m].repeat(repeats, *([1] * (recon.train[m].dim() - 1)))
        decoder = cached_decoder(cache_dir, spec.name, p_train[:, vector, :], targets, options=spec.options,
                                 epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, generator=gen)
        receiver.decoders[m] = (vector, decoder, recon.metrics[m], recon.test[m])
    receiver.recon_plan = recon.plan
    return receiver
