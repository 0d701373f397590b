"""One run of a scenario: data -> encoders -> training -> transmitter -> channel -> receiver -> report.

Everything is written into a temporary folder beside the output folder and moved into place at
the end, so a failed or interrupted run leaves nothing half written.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from .channel import build_channel, mmse_gain, snr_db_to_noise_var
from .config import ChannelPreset, Scenario, load_channel_preset
from .data import SOURCES, MultimodalData
from .errors import UserError
from .latent import latent_summary
from .receiver import fit_linear_head, score
from .report import NullReporter, Reporter, write_results
from .report.latent_plot import plot_latent_pca, save_embeddings
from .report.plots import plot_run
from .report.results import NOISELESS
from .runtime import Runtime, stream_seed
from .training import embed, train_or_load
from .transmitter import AnalogLink, build_payload, rfs_indices

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


def _check_out_dir(out_dir: Path) -> None:
    # only ever replace a folder that an earlier run wrote, never an arbitrary one
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir())
                                                      and not (out_dir / "scenario.yaml").is_file())):
        raise UserError("exists and is not an earlier run's output folder; choose another --out",
                        source=str(out_dir))


def load_data(scenario: Scenario, runtime: Runtime, cache_dir: Path) -> tuple[MultimodalData, MultimodalData]:
    source = SOURCES[scenario.data.source](**scenario.data.options)
    train, test = source.load(cache_dir, stream_seed(runtime.seed, "data"), scenario.data.test_fraction,
                              scenario.data.limit)
    modalities = scenario.data.modalities
    return (train.select(modalities).to(runtime.device, runtime.dtype),
            test.select(modalities).to(runtime.device, runtime.dtype))


def sweep_channel(link: AnalogLink, payload: torch.Tensor, labels: torch.Tensor, head, channel,
                  snr_db: tuple[float, ...], mc_draws: int, runtime: Runtime) -> dict[str, torch.Tensor]:
    """Each metric of :func:`score`, [S] per SNR point, averaged over ``mc_draws`` channel realisations.

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
        for k, v in score(head.logits(p_hat.flatten(-2)), labels).items():  # v: [S, R]
            sums[k] = sums.get(k, 0.0) + v.sum(1)
    return {k: v / mc_draws for k, v in sums.items()}


def run(scenario: Scenario, out_dir: str | Path, *, scenario_path: Path | None = None,
        reporter: Reporter | None = None) -> RunResult:
    """Run ``scenario`` and write results.csv, summary.json, scenario.yaml and plots into ``out_dir``."""
    rep = reporter or NullReporter()
    out_dir = Path(out_dir)
    src = str(scenario_path or "scenario")
    # every user-input check happens before anything is written
    runtime = Runtime.create(scenario.device, scenario.dtype, scenario.seed, source=src)
    presets: list[ChannelPreset] = [load_channel_preset(p, scenario_path) for p in scenario.channel.presets]
    _check_out_dir(out_dir)
    cache_dir = default_cache_dir(scenario)
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
    rows: list[dict] = []
    with rep.stage("channel sweep"):
        rep.sweep_start(len(scenario.transmitter.rfs_keep) * len(scenario.transmitter.schemes) * len(presets))
        for keep in scenario.transmitter.rfs_keep:
            idx = rfs_indices(scenario.embedding_dim, keep, runtime.np_rng("rfs", keep))
            for scheme in scenario.transmitter.schemes:
                p_train, p_test = build_payload(z_train, scheme, idx), build_payload(z_test, scheme, idx)
                head = fit_linear_head(p_train.flatten(1), train.labels, scenario.receiver.l2)
                link = AnalogLink.fit(p_train)
                v, t = p_test.shape[1], p_test.shape[2]
                base = {"scheme": scheme, "link": scenario.transmitter.link, "rfs_keep": keep,
                        "payload_dims": t, "tti": v * t, "toi": toi, "tti_toi": v * t / toi,
                        "channel_uses": v * link.channel_uses, "n_test": len(test)}
                clean = score(head.logits(p_test.flatten(1)), test.labels)
                rows.append({**base, "channel": NOISELESS, "snr_db": float("inf"), "mc_draws": 1,
                             **{k: float(v) for k, v in clean.items()}})
                for preset in presets:
                    runtime.seed_sionna("channel", preset.name, scheme, keep)
                    channel = build_channel(preset, runtime.device, runtime.sionna_precision)
                    acc = sweep_channel(link, p_test, test.labels, head, channel, snrs,
                                        scenario.channel.mc_draws, runtime)
                    for i, snr in enumerate(snrs):
                        rows.append({**base, "channel": preset.name, "snr_db": float(snr),
                                     "mc_draws": scenario.channel.mc_draws,
                                     **{k: float(v[i]) for k, v in acc.items()}})
                    rep.sweep_advance(f"{scheme} keep={keep:g} {preset.name}")

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
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            write_results(rows, tmp / "results.csv")
            (tmp / "scenario.yaml").write_text(yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False))
            save_embeddings(tmp / "embeddings_test.npz", z_test, test.labels)
            plot_run(tmp)
            plot_latent_pca([(f"{scenario.name}, tau={scenario.training.temperature:g}", tmp / "embeddings_test.npz")],
                            tmp / "latent_pca.png")
            summary["timings_s"] = {k: round(v, 3) for k, v in rep.timings.items()}
            (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
            if out_dir.exists():
                shutil.rmtree(out_dir)
            tmp.replace(out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return RunResult(out_dir, rows, summary, dict(rep.timings))
