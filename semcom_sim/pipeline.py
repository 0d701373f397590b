"""One run of a scenario: data -> encoders -> training -> transmitter -> channel -> receiver -> report.

Everything is written into a temporary folder beside the output folder and moved into place at
the end, so a failed or interrupted run leaves nothing half written.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from .cache import check_writable, entry_is_valid
from .channel import build_channel, mmse_gain, snr_db_to_noise_var
from .config import ChannelPreset, Scenario, check_encoders_build, load_channel_preset
from .data import SOURCES, MultimodalData
from .errors import UserError
from .latent import latent_summary
from .receiver import HEADS
from .receiver.decoders import fit_decoder, target_for
from .receiver.receiver import Receiver
from .receiver.reconstruction import ReconstructionMetrics
from .report.reconstructions import plot_reconstructions, save_reconstructions
from .report import NullReporter, Reporter, write_results
from .report.latent_plot import plot_latent_pca, save_embeddings
from .report.folders import check_target, staged
from .report.plots import plot_run
from .report.results import NOISELESS
from .runtime import Runtime, stream_seed
from .training import embed, train_or_load
from .training.trainer import encoder_cache_path
from .transmitter import AnalogLink, DigitalLink, build_payload, capacity_delivery_probability, rfs_indices
from .transmitter.schemes import get_scheme
from .transmitter.plan import Transmission, transmissions

# channel symbols per Monte-Carlo chunk: bounds memory whatever the data size
_SYMBOLS_PER_CHUNK = 1 << 24


@dataclass
class RunResult:
    out_dir: Path
    rows: list[dict]
    summary: dict
    timings: dict[str, float]


def default_cache_dir(scenario: Scenario) -> Path:
    if scenario.data.cache_dir:
        return Path(scenario.data.cache_dir).expanduser()
    env = os.environ.get("SEMCOM_SIM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "semcom-sim"


def scenario_yaml(scenario: Scenario) -> str:
    """The resolved scenario as a run saves it; a sweep compares it to tell a finished cell."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False)


def load_data(scenario: Scenario, runtime: Runtime, cache_dir: Path) -> tuple[MultimodalData, MultimodalData]:
    source = SOURCES[scenario.data.source](**scenario.data.options)
    train, test = source.load(cache_dir, stream_seed(runtime.seed, "data"), scenario.data.test_fraction,
                              scenario.data.limit)
    modalities = scenario.data.modalities
    return (train.select(modalities).to(runtime.device, runtime.dtype),
            test.select(modalities).to(runtime.device, runtime.dtype))


def sweep_channel(link: AnalogLink, payload: torch.Tensor, receiver: Receiver, channel,
                  snr_db: tuple[float, ...], mc_draws: int, runtime: Runtime) -> dict[str, torch.Tensor]:
    """Each metric of the receiver, [S] per SNR point, averaged over ``mc_draws`` channel realisations.

    payload [N, V, T] is encoded once; all SNR points and draws go through the channel together.
    """
    x = link.modulate(payload)  # [N, V, L]
    no = snr_db_to_noise_var(torch.tensor(snr_db, dtype=runtime.dtype, device=runtime.device))
    s = len(snr_db)
    per_draw = s * x.numel()
    chunk = max(1, min(mc_draws, _SYMBOLS_PER_CHUNK // max(1, per_draw)))
    sums: dict[str, torch.Tensor] = {}
    for start in range(0, mc_draws, chunk):
        r = min(chunk, mc_draws - start)
        xs = x.expand(s, r, *x.shape)  # [S, R, N, V, L], no copy
        x_u, no_eff = channel(xs, no)
        p_hat = link.demodulate(x_u, mmse_gain(no_eff))  # [S, R, N, V, T]
        for k, v in receiver.measure(p_hat).items():  # v: [S, R]
            sums[k] = sums.get(k, 0.0) + v.sum(1)
    return {k: v / mc_draws for k, v in sums.items()}


def build_link(tx: Transmission, p_train: torch.Tensor, scenario: Scenario, source: str):
    if tx.link == "analog":
        return AnalogLink.fit(p_train)
    try:
        return DigitalLink.fit(p_train, bits=tx.bits, code_rate=tx.code_rate,
                               bits_per_symbol=scenario.transmitter.digital.bits_per_symbol,
                               ldpc_iterations=scenario.transmitter.digital.ldpc_iterations)
    except ValueError as e:  # check_scenario already refused impossible codes; this guards the rest
        raise UserError(f"{tx.scheme} at rfs_keep {tx.keep:g}: {e}", source=source,
                        field="transmitter.digital") from None


def _bits(payload_bits: int, side_bits: int) -> int | str:
    """results.csv ``bits``: information bits per instance, the scheme's side information included;
    empty for an analog payload without side information (its values are not bits)."""
    return payload_bits + side_bits if payload_bits or side_bits else ""


def evaluate(tx: Transmission, p_train, p_test, receiver: Receiver, presets, snrs, scenario: Scenario,
             runtime: Runtime, toi: int, rep: Reporter) -> list[dict]:
    """results.csv rows of one transmission: its noiseless reference and every channel x SNR point."""
    link = build_link(tx, p_train, scenario, scenario.name)
    v, t = p_test.shape[1], p_test.shape[2]
    digital = tx.link == "digital"
    base = {"scheme": tx.scheme, "link": tx.link, "rfs_keep": tx.keep, "payload_dims": t, "tti": v * t,
            "toi": toi, "tti_toi": v * t / toi, "channel_uses": v * link.channel_uses, "n_test": p_test.shape[0],
            "bits": _bits(v * link.info_bits if digital else 0, get_scheme(tx.payload_scheme).side_bits(
                len(scenario.data.modalities)))}
    # noiseless: a digital link delivers exactly the quantised payload
    clean_payload = link.dequantize(link.quantize(p_test), p_test.dtype) if digital else p_test
    clean = {k: float(val) for k, val in receiver.measure(clean_payload).items()}
    rows = [{**base, "channel": NOISELESS, "snr_db": float("inf"), "mc_draws": 1, **clean}]
    # the physical limit: a capacity-achieving code in the same channel uses carrying b bits per value
    ref_bits, ref_uses = (link.info_bits, link.channel_uses) if digital else (t * tx.bits, link.channel_uses)
    chance = 1.0 / receiver.head.weight.shape[0]
    snr_t = torch.tensor(snrs, dtype=torch.float64)
    draws = scenario.channel.mc_draws
    for preset in presets:
        runtime.seed_sionna("channel", preset.name, tx.scheme, tx.keep, tx.link)
        channel = build_channel(preset, runtime.device, runtime.sionna_precision)
        delivered = capacity_delivery_probability(ref_bits, ref_uses, snr_t, preset.fading) ** v
        if digital:
            res = link.transmit(p_test, channel, snr_db_to_noise_var(snr_t.to(runtime.device, runtime.dtype)), draws)
            metrics = {k: val.mean(1) for k, val in receiver.measure(res.payload_hat).items()}
            metrics.update(ber=res.ber, bler=res.bler)
        else:
            metrics = sweep_channel(link, p_test, receiver, channel, snrs, draws, runtime)
        for i, snr in enumerate(snrs):
            ref = float(delivered[i]) * clean["acc_top1"] + (1.0 - float(delivered[i])) * chance
            rows.append({**base, "channel": preset.name, "snr_db": float(snr), "mc_draws": draws,
                         **{k: float(val[i]) for k, val in metrics.items()}, "acc_top1_capacity": ref})
        rep.sweep_advance(f"{tx.scheme} keep={tx.keep:g} {tx.link} {preset.name}")
    return rows


@dataclass(frozen=True)
class ReconstructionTargets:
    """Per-modality decoder targets of both splits and the metrics fixed on the training split."""

    train: dict[str, torch.Tensor]
    test: dict[str, torch.Tensor]
    metrics: dict[str, ReconstructionMetrics]

    @classmethod
    def fit(cls, scenario: Scenario, train: MultimodalData, test: MultimodalData) -> "ReconstructionTargets":
        mods = list(scenario.receiver.reconstruction.decoders)
        tr = {m: target_for(m, train.inputs[m]) for m in mods}
        te = {m: target_for(m, test.inputs[m]) for m in mods}
        return cls(tr, te, {m: ReconstructionMetrics.fit(m, tr[m], train.labels) for m in mods})


def build_receiver(tx: Transmission, p_train: torch.Tensor, train_labels: torch.Tensor, test_labels: torch.Tensor,
                   recon: ReconstructionTargets | None, scenario: Scenario, runtime: Runtime) -> Receiver:
    """Head and decoders fitted on clean training payloads; the scheme says which payload vector
    each modality's decoder reads (the centroid for the centroid, its own for the conventional)."""
    head = HEADS[scenario.receiver.head](p_train.flatten(1), train_labels, scenario.receiver.l2)
    receiver = Receiver(head, test_labels)
    if recon is None:
        return receiver
    cfg = scenario.receiver.reconstruction
    modalities = list(scenario.data.modalities)
    for m, spec in cfg.decoders.items():
        vector = get_scheme(tx.payload_scheme).decoder_vector(modalities.index(m), len(modalities))
        gen = runtime.torch_generator("decoder", tx.payload_scheme, tx.keep, m, device=torch.device("cpu"))
        decoder = fit_decoder(spec.name, p_train[:, vector, :], recon.train[m], options=spec.options,
                              epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, generator=gen)
        receiver.decoders[m] = (vector, decoder, recon.metrics[m], recon.test[m])
    return receiver


def reconstruction_examples(receivers: dict, recon: ReconstructionTargets, preset: ChannelPreset, snrs,
                            scenario: Scenario, runtime: Runtime, count: int = 8) -> dict:
    """The first ``count`` test instances decoded by each scheme (analog link, first RFS fraction,
    first channel) at two SNRs: what the example picture shows."""
    keep = scenario.transmitter.rfs_keep[0]
    pick = scenario.receiver.reconstruction.example_snr_db or (min(snrs), max(snrs))
    out = {"snr_db": list(pick), "channel": preset.name, "original": {m: t[:count] for m, t in recon.test.items()}}
    for scheme in scenario.transmitter.schemes:
        p_train, p_test, receiver = receivers[scheme, keep]
        link = AnalogLink.fit(p_train)
        runtime.seed_sionna("examples", scheme, keep)
        channel = build_channel(preset, runtime.device, runtime.sionna_precision)
        no = snr_db_to_noise_var(torch.tensor(pick, dtype=runtime.dtype, device=runtime.device))
        x_u, no_eff = channel(link.modulate(p_test[:count]).expand(len(pick), count, -1, -1), no)
        out[scheme] = receiver.reconstruct(link.demodulate(x_u, mmse_gain(no_eff)))
    return out


def run(scenario: Scenario, out_dir: str | Path, *, scenario_path: Path | None = None,
        reporter: Reporter | None = None) -> RunResult:
    """Run ``scenario`` and write results.csv, summary.json, scenario.yaml and plots into ``out_dir``."""
    rep = reporter or NullReporter()
    out_dir = Path(out_dir)
    src = str(scenario_path or "scenario")
    # every user-input check happens before anything is written
    runtime = Runtime.create(scenario.device, scenario.dtype, scenario.seed, source=src)
    presets: list[ChannelPreset] = [load_channel_preset(p, scenario_path) for p in scenario.channel.presets]
    check_encoders_build(scenario, scenario_path)
    check_target(out_dir, "run")
    cache_dir = default_cache_dir(scenario)
    if not entry_is_valid(encoder_cache_path(scenario, cache_dir)):  # a read-only cache that holds them is fine
        check_writable(cache_dir)
    snrs = scenario.channel.snr_values()
    modalities = scenario.data.modalities

    with rep.stage("data"):
        train, test = load_data(scenario, runtime, cache_dir)
        rep.message(f"data: {len(train)} train / {len(test)} test instances, modalities {', '.join(modalities)}")
    with rep.stage("training"):
        trained = train_or_load(scenario, train, runtime, cache_dir, progress=rep.epoch)
        if trained.cached:
            rep.message(f"encoders loaded from cache {trained.cache_path}")
    with rep.stage("embedding"):
        z_train, z_test = embed(trained.encoders, train), embed(trained.encoders, test)
        latent = latent_summary(z_test, test.labels)

    toi = sum(train.raw_sizes[m] for m in modalities)
    plan = transmissions(scenario)
    recon = ReconstructionTargets.fit(scenario, train, test) if scenario.receiver.reconstruction.decoders else None
    receivers: dict[tuple[str, float], tuple] = {}
    rows: list[dict] = []
    with rep.stage("channel sweep"):
        rep.sweep_start(len(plan) * len(presets))
        for tx in plan:
            if (tx.payload_scheme, tx.keep) not in receivers:
                idx = rfs_indices(scenario.embedding_dim, tx.keep, runtime.np_rng("rfs", tx.keep))
                p_train = build_payload(z_train, tx.payload_scheme, idx)
                receivers[tx.payload_scheme, tx.keep] = (
                    p_train, build_payload(z_test, tx.payload_scheme, idx),
                    build_receiver(tx, p_train, train.labels, test.labels, recon, scenario, runtime))
            p_train, p_test, receiver = receivers[tx.payload_scheme, tx.keep]
            rows += evaluate(tx, p_train, p_test, receiver, presets, snrs, scenario, runtime, toi, rep)
    examples = reconstruction_examples(receivers, recon, presets[0], snrs, scenario, runtime) if recon else None

    summary = {
        "scenario": scenario.name,
        "device": str(runtime.device),
        "n_train": len(train), "n_test": len(test),
        "modalities": list(modalities),
        "raw_sizes": train.raw_sizes, "toi": toi,
        "encoders_cached": trained.cached, "encoders_cache_key": trained.cache_path.stem,
        "training_history": trained.history,
        "latent_test": latent,
    }
    with rep.stage("report"):
        with staged(out_dir, "run") as tmp:
            write_results(rows, tmp / "results.csv")
            (tmp / "scenario.yaml").write_text(scenario_yaml(scenario))
            save_embeddings(tmp / "embeddings_test.npz", z_test, test.labels)
            if examples is not None:
                save_reconstructions(tmp / "reconstructions.npz", examples)
                plot_reconstructions(tmp / "reconstructions.npz", tmp / "reconstructions.png")
            plot_run(tmp)
            plot_latent_pca([(f"{scenario.name}, tau={scenario.training.temperature:g}", tmp / "embeddings_test.npz")],
                            tmp / "latent_pca.png")
            summary["timings_s"] = {k: round(v, 3) for k, v in rep.timings.items()}
            (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    return RunResult(out_dir, rows, summary, dict(rep.timings))
