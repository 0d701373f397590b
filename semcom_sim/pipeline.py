"""One run of a scenario: data -> encoders -> training -> transmitter -> channel -> receiver -> report.

Everything is written into a temporary folder beside the output folder and moved into place at
the end, so a failed or interrupted run leaves nothing half written.
"""
from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from .cache import check_writable, entry_is_valid
from .channel import SnrPoints, build_channel
from .data import SOURCES, MultimodalData
from .errors import UserError
from .latent import latent_summary
from .links import Link, by_link, monte_carlo
from .receiver.noise_aware import describe, draw_snr_db, noisy_copies
from .receiver.receiver import Receiver, ReconstructionTargets, build_receiver
from .receiver.retrieval import QueryPlan, query_sample
from .report.reconstructions import plot_reconstructions, reconstruction_examples, save_reconstructions
from .report import NullReporter, Reporter, write_results
from .report.latent_plot import plot_latent_pca, save_embeddings
from .report.folders import check_apart, check_target, staged
from .report.plots import plot_run
from .report.results import NOISELESS
from .runtime import Runtime, stream_seed
from .scenario import ChannelPreset, Scenario, check_encoders_build, load_channel_preset
from .training import embed, train_or_load
from .training.trainer import encoder_cache_path
from .transmitter.payload import build_payload, rfs_indices, rfs_size
from .transmitter.plan import Transmission, transmissions
from .transmitter.media import MediaFiles, file_bytes, send_media


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


def _bits(payload_bits: int, side_bits: int) -> int | str:
    """results.csv ``bits``: information bits per instance, the scheme's side information included;
    empty for an analog payload without side information (its values are not bits)."""
    return payload_bits + side_bits if payload_bits or side_bits else ""


def fit_link(tx: Transmission, p_train: torch.Tensor, source: str) -> Link:
    try:
        return tx.link.fit(p_train)
    except ValueError as e:  # the checks already refused impossible codes; this guards the rest
        raise UserError(f"{tx.scheme} at rfs_keep {tx.keep:g}: {e}", source=source, field="transmitter.links") from None


def _snr_of(tx_uses: int, snr: SnrPoints, scenario: Scenario, runtime: Runtime) -> tuple[SnrPoints, list[float]]:
    """(per-symbol SNR points, E_inst/N0 in dB) of a transmission of ``tx_uses`` channel uses per
    instance: with snr_reference ``instance`` the run's SNR values are E_inst/N0 and the per-symbol
    SNR is lower by 10 log10(uses) (unit energy per channel use), else the reverse."""
    offset = 10.0 * math.log10(tx_uses)
    if scenario.channel.snr_reference == "instance":
        return SnrPoints.of([x - offset for x in snr.db], runtime.dtype, runtime.device), list(snr.db)
    return snr, [x + offset for x in snr.db]


def files_link(tx: Transmission, p_train: torch.Tensor, test: MultimodalData, encoders, media: dict,
               scenario: Scenario, path: str) -> tuple[torch.Tensor, Link]:
    """A scheme that sends files: its test payload (the embeddings of the decoded files) and the
    link carrying the files. The codecs and the encoders on the decoded media run once per codec
    setting (``media``, keyed by the payload), whatever the links, channels and SNR points."""
    if tx.payload.key not in media:
        source = SOURCES[scenario.data.source](**scenario.data.options)
        media[tx.payload.key] = send_media(tx.payload.scheme.options, test, encoders,
                                           getattr(source, "sample_rate", None))
    files = media[tx.payload.key]
    try:
        link = tx.link.cls.carry_files(tx.link.options, [file_bytes(f) for f in files.files.values()],
                                       p_train.mean(0), files.undecodable)
    except ValueError as e:
        raise UserError(f"{tx.scheme}: {e}", source=path, field="transmitter.links") from None
    return torch.stack(list(files.embeddings.values()), 1), link


def evaluate(tx: Transmission, link: Link, p_test, receiver_for, presets, snr: SnrPoints, scenario: Scenario,
             runtime: Runtime, toi: int, rep: Reporter) -> list[dict]:
    """results.csv rows of one transmission over its fitted ``link``: its noiseless reference and
    every channel x SNR point. ``receiver_for(preset)`` gives the receiver facing that channel (the
    noiseless row: the first preset's). The SNR points go in groups, one per link ``link.at_snr``
    chooses for them (one group but for a link that adapts its rate): each row carries its own
    link's channel uses, bits, per-symbol SNR and capacity reference."""
    v, t = p_test.shape[1], p_test.shape[2]
    per_instance = scenario.channel.snr_reference == "instance"
    side_bits = tx.payload.scheme.side_bits(len(scenario.data.modalities))

    def base(lk: Link) -> dict:
        return {"scheme": tx.scheme, "link": tx.link.label, "rfs_keep": tx.keep, "payload_dims": t, "tti": v * t,
                "toi": toi, "tti_toi": v * t / toi, "channel_uses": lk.instance_uses(v), "n_test": p_test.shape[0],
                "bits": _bits(lk.instance_bits(v), side_bits), "rx_train": describe(scenario.receiver.train_snr_db)}
    reads = tx.payload.scheme.head_reads
    clean_read = reads(link.clean(p_test))

    def measure(payload_hat: torch.Tensor, receiver: Receiver, at: range | None = None) -> dict[str, torch.Tensor]:
        """The receiver's metrics and payload_mse: mean squared error per value of what the head
        reads; ``at``: the draws payload_hat holds (None: one payload, no draw dimension)."""
        # the noiseless row is one payload: its budget is the pairs of one draw
        out = receiver.measure(payload_hat, at, 1 if at is None else scenario.channel.mc_draws)
        out["payload_mse"] = _mean_square_error(reads, payload_hat, clean_read)
        return out

    receiver = receiver_for(presets[0])
    clean = {k: float(val) for k, val in measure(link.clean(p_test), receiver).items()}
    # the noiseless row: the link an adapting one chooses without noise
    rows = [{**base(link.at_snr([math.inf], per_instance, v)[0]), "channel": NOISELESS, "snr_db": float("inf"),
             "snr_instance_db": float("inf"), "mc_draws": 1, **clean}]
    chance = 1.0 / receiver.head.weight.shape[0]
    draws = scenario.channel.mc_draws
    # the energy of every device counts: v vectors of channel_uses uses each, sent apart or at once
    groups = [(lk, idx, *_snr_of(lk.energy_uses(v), SnrPoints.of([snr.db[i] for i in idx], runtime.dtype,
                                                                    runtime.device), scenario, runtime))
              for lk, idx in by_link(link.at_snr(list(snr.db), per_instance, v))]
    for preset in presets:
        receiver = receiver_for(preset)
        # streams are keyed by T, the kept coordinates, not by the float keep fraction (see run)
        runtime.seed_sionna("channel", preset.name, tx.scheme, t, tx.link.label)
        channel = build_channel(preset, runtime.device, runtime.sionna_precision)
        at: dict[int, dict] = {}
        for lk, idx, points, instance_db in groups:
            metrics = monte_carlo(lk, p_test, channel, points.no, draws, lambda p, at, r=receiver: measure(p, r, at))
            # the physical limit: a capacity-achieving code in the same channel uses (every vector delivered)
            delivered = lk.delivered(channel, v, points.linear)
            for j, snr_db in enumerate(points.db):
                ref = ("" if delivered is None else
                       float(delivered[j]) * clean["acc_top1"] + (1.0 - float(delivered[j])) * chance)
                at[idx[j]] = {**base(lk), "channel": preset.name, "snr_db": float(snr_db),
                              "snr_instance_db": instance_db[j], "mc_draws": draws,
                              **{k: float(val[j]) for k, val in metrics.items()}, "acc_top1_capacity": ref}
        rows += [at[i] for i in sorted(at)]
        rep.channel_advance(f"{tx.scheme} keep={tx.keep:g} {tx.link.label} {preset.name}")
    return rows


def _mean_square_error(reads, payload_hat: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """payload_hat [..., N, V, T] -> [...]: the mean squared error per value of what the head reads
    (``reads``) against ``clean``, one (SNR point, draw) slice at a time into one buffer: a difference
    the size of every slice at once would be a fresh block of memory, with its page faults, in every
    chunk of draws. The values are those of the difference formed whole (the norm reads each slice
    alike)."""
    lead = payload_hat.shape[:-3]
    out = torch.empty(lead, dtype=clean.dtype, device=clean.device)
    diff = torch.empty_like(clean)
    for at in itertools.product(*map(range, lead)):
        out[at] = torch.linalg.vector_norm(torch.sub(reads(payload_hat[at]), clean, out=diff)).square_()
    return out / clean.numel()


def receiver_key(tx: Transmission, t: int, link: Link, preset: ChannelPreset, train_preset: ChannelPreset | None,
                 scenario: Scenario) -> tuple:
    """Which transmissions share a receiver: a clean-trained one depends on the payload only; a
    noise-aware one also on the link (it trains through it: the link's ``receiver_key``) and the
    channel it trains on."""
    if scenario.receiver.train_snr_db is None:
        return (tx.payload.key, t)
    return (tx.payload.key, t, link.receiver_key, (train_preset or preset).name)


def fit_receiver(tx: Transmission, t: int, link: Link, preset: ChannelPreset, p_train, p_test, train, test, recon,
                 scenario: Scenario, runtime: Runtime, queries: QueryPlan | None = None,
                 cache_dir: Path | None = None) -> Receiver:
    """Fitted on the clean training payloads, or (noise-aware) on ``train_draws`` noisy copies of
    them that crossed ``preset`` at the training SNRs; ``queries``: the test instances that query the
    retrieval gallery (None: all); decoders through the cache in ``cache_dir``."""
    cfg = scenario.receiver
    if cfg.train_snr_db is None:
        return build_receiver(tx.payload.scheme, tx.payload.key, t, p_train, train.labels, test.labels, recon,
                              scenario, runtime, p_test=p_test, queries=queries, cache_dir=cache_dir)
    stream = ("train_channel", preset.name, tx.payload.key, t, tx.link.key)
    n = p_train.shape[0] * cfg.train_draws
    snr_db = draw_snr_db(cfg.train_snr_db, n, runtime.np_rng("train_snr", *stream))
    runtime.seed_sionna(*stream)
    channel = build_channel(preset, runtime.device, runtime.sionna_precision)
    noisy = noisy_copies(link, p_train, channel, snr_db, cfg.train_draws, scenario.channel.snr_reference == "instance")
    return build_receiver(tx.payload.scheme, tx.payload.key, t, noisy, train.labels.repeat(cfg.train_draws, *([1] * (train.labels.dim() - 1))),
                          test.labels, recon, scenario, runtime, p_test=p_test, repeats=cfg.train_draws,
                          queries=queries, cache_dir=cache_dir)


def run(scenario: Scenario, out_dir: str | Path, *, scenario_path: Path | None = None,
        reporter: Reporter | None = None) -> RunResult:
    """Run ``scenario`` and write results.csv, summary.json, scenario.yaml and plots into ``out_dir``."""
    rep = reporter or NullReporter()
    out_dir = Path(out_dir)
    src = str(scenario_path or "scenario")
    # every user-input check happens before anything is written
    runtime = Runtime.create(scenario.device, scenario.dtype, scenario.seed, source=src)
    presets: list[ChannelPreset] = [load_channel_preset(p, scenario_path) for p in scenario.channel.presets]
    train_preset = (load_channel_preset(scenario.receiver.train_channel, scenario_path)
                    if scenario.receiver.train_channel else None)
    check_encoders_build(scenario, scenario_path)
    check_target(out_dir, "run")
    cache_dir = default_cache_dir(scenario)
    check_apart(out_dir, cache_dir)
    if not entry_is_valid(encoder_cache_path(scenario, cache_dir, scenario_path)):  # a read-only cache that holds them is fine
        check_writable(cache_dir)
    snr = SnrPoints.of(scenario.channel.snr_values(), runtime.dtype, runtime.device)  # N0 once per run
    modalities = scenario.data.modalities

    with rep.stage("data"):
        train, test = load_data(scenario, runtime, cache_dir)
        rep.message(f"data: {len(train)} train / {len(test)} test instances, modalities {', '.join(modalities)}")
    with rep.stage("training"):
        trained = train_or_load(scenario, train, runtime, cache_dir, progress=rep.epoch, scenario_path=scenario_path)
        if trained.cached:
            rep.message(f"encoders loaded from cache {trained.cache_path}")
    with rep.stage("embedding"):
        z_train, z_test = embed(trained.encoders, train), embed(trained.encoders, test)
        sample = query_sample(len(test), scenario.receiver.retrieval_queries, runtime.np_rng("retrieval_queries"))
        latent = latent_summary(z_test, test.labels, seed=runtime.seed, queries=sample)
        # one plan of query instances per draw for every receiver of the run
        queries = QueryPlan.draw(len(test), scenario.receiver.retrieval_queries, runtime.np_rng("retrieval_plan"))

    toi = sum(train.raw_sizes[m] for m in modalities)
    plan = transmissions(scenario)
    recon = None
    if scenario.receiver.reconstruction.decoders:
        with rep.stage("reconstruction targets"):  # targets and the classifiers that score reconstructions
            recon = ReconstructionTargets.fit(
                scenario, train, test, trained.encoders, cache_dir,
                plan=QueryPlan.draw(len(test), scenario.receiver.reconstruction.pairs, runtime.np_rng("reconstruction_plan")))
    payloads: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}
    receivers: dict[tuple, Receiver] = {}
    links: dict[Transmission, Link] = {}
    media: dict[str, MediaFiles] = {}  # a media scheme's files, per codec setting: encoded once
    rows: list[dict] = []
    with rep.stage("channel"):
        rep.channel_start(len(plan) * len(presets))
        for tx in plan:
            # keyed by T, not by the keep fraction: min(1, 3 * 0.1) = 0.30000000000000004 and 0.3 keep
            # the same T coordinates and must draw the same RFS set (and share a receiver)
            t = rfs_size(scenario.embedding_dim, tx.keep)
            if (tx.payload.key, t) not in payloads:
                idx = rfs_indices(scenario.embedding_dim, tx.keep, runtime.np_rng("rfs", t))
                payloads[tx.payload.key, t] = tuple(build_payload(z, tx.payload.scheme, idx) for z in (z_train, z_test))
            p_train, p_test = payloads[tx.payload.key, t]
            if tx.payload.scheme.sends_files:
                p_test, link = files_link(tx, p_train, test, trained.encoders, media, scenario, src)
                links[tx] = link
            else:
                link = links[tx] = fit_link(tx, p_train, scenario.name)

            def receiver_for(preset: ChannelPreset, tx=tx, t=t, link=link, p_train=p_train, p_test=p_test):
                key = receiver_key(tx, t, link, preset, train_preset, scenario)
                if key not in receivers:
                    receivers[key] = fit_receiver(tx, t, link, train_preset or preset, p_train, p_test, train,
                                                  test, recon, scenario, runtime, queries, cache_dir)
                return receivers[key]

            new = evaluate(tx, link, p_test, receiver_for, presets, snr, scenario, runtime, toi, rep)
            if tx.payload.scheme.sends_files:  # the files' mean size, before the fixed allocation pads them
                total = sum(st["mean_bytes"] for st in media[tx.payload.key].stats.values())
                new = [{**r, "media_bytes": total} for r in new]
            rows += new
    examples = None
    if recon is not None:  # first RFS fraction, first link, first channel; two SNRs, by default the first and last SNR points
        pick = scenario.receiver.reconstruction.example_snr_db or (min(snr.db), max(snr.db))
        t0 = rfs_size(scenario.embedding_dim, scenario.transmitter.rfs_keep[0])
        listed = [s.shown for s in scenario.transmitter.schemes]  # not the equal-bandwidth variants
        first_link = plan[0].link.label
        shown = {}
        for tx in plan:
            if tx.link.label == first_link and tx.scheme in listed and rfs_size(scenario.embedding_dim, tx.keep) == t0:
                link = links[tx]
                shown[tx.scheme] = (payloads[tx.payload.key, t0][1], link,
                                    receivers[receiver_key(tx, t0, link, presets[0], train_preset, scenario)])
        examples = reconstruction_examples(shown, recon.test, presets[0], pick, t0, runtime)

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
    if media:  # per codec setting and modality: mean and allocated bytes, distortion, codec seconds
        summary["media"] = {key: files.stats for key, files in media.items()}
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
