"""The cache of fitted decoders and reconstruction classifiers (receiver/fit_cache.py)."""
import logging
import shutil
from pathlib import Path

import torch
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.receiver.decoders import fit_decoder
from semcom_sim.receiver.fit_cache import cached_decoder, cached_head
from semcom_sim.receiver.heads import fit_linear_head

runner = CliRunner()
FIT = dict(options={"hidden": 16}, epochs=3, lr=1e-2, batch_size=16)


def _data():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(64, 6, generator=g)
    return features, torch.rand(64, 1, 4, 4, generator=g), torch.randint(0, 3, (64,), generator=g)


def _states_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_cached_decoder_is_the_fitted_one_and_a_corrupt_entry_is_refitted(tmp_path, caplog):
    features, targets, _ = _data()
    fresh = fit_decoder("image_mlp", features, targets, generator=torch.Generator().manual_seed(1), **FIT)
    first = cached_decoder(tmp_path, "image_mlp", features, targets, generator=torch.Generator().manual_seed(1), **FIT)
    (entry,) = (tmp_path / "decoders").glob("*.pt")
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return fit_decoder(*args, **kwargs)

    import semcom_sim.receiver.fit_cache as fit_cache

    original = fit_cache.fit_decoder
    fit_cache.fit_decoder = counting
    try:
        loaded = cached_decoder(tmp_path, "image_mlp", features, targets, generator=torch.Generator().manual_seed(1),
                                **FIT)
        assert calls == []  # loaded, not fitted
        assert _states_equal(loaded, fresh) and _states_equal(first, fresh)
        assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
        # another seed, other data: other entries
        cached_decoder(tmp_path, "image_mlp", features, targets, generator=torch.Generator().manual_seed(2), **FIT)
        cached_decoder(tmp_path, "image_mlp", features + 1, targets, generator=torch.Generator().manual_seed(1),
                       **FIT)
        assert len(calls) == 2 and len(list((tmp_path / "decoders").glob("*.pt"))) == 3
        entry.write_bytes(entry.read_bytes()[:-10])  # truncated
        with caplog.at_level(logging.WARNING, logger="semcom_sim.cache"):
            healed = cached_decoder(tmp_path, "image_mlp", features, targets,
                                    generator=torch.Generator().manual_seed(1), **FIT)
        assert len(calls) == 3 and "discarding unreadable cache entry" in caplog.text
        assert _states_equal(healed, fresh)
    finally:
        fit_cache.fit_decoder = original


def test_a_cached_head_is_the_fitted_one(tmp_path):
    features, targets, labels = _data()
    x = targets.flatten(1)
    fresh = fit_linear_head(x, labels, 1.0, 1e-4)
    for _ in range(2):  # fitted and stored, then loaded
        head = cached_head(tmp_path, fit_linear_head, x, labels, 1.0, 1e-4)
        assert torch.equal(head.weight, fresh.weight) and torch.equal(head.bias, fresh.bias)
    assert len(list((tmp_path / "heads").glob("*.pt"))) == 1


def test_a_run_with_cached_decoders_writes_the_same_results(tiny_raw, write_scenario, tmp_path):
    tiny_raw["receiver"] = {"reconstruction": {"decoders": {"image": {"name": "image_mlp"},
                                                            "text": {"name": "caption_tokens"}}, "epochs": 2}}
    tiny_raw["transmitter"]["rfs_keep"] = [1.0]
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [0.0, 10.0], "mc_draws": 2}
    path = write_scenario(tiny_raw)
    cache = Path(tiny_raw["data"]["cache_dir"])
    for folder in ("decoders", "heads"):  # the first run starts without them: it fits every one
        shutil.rmtree(cache / folder, ignore_errors=True)
    outs, entries = [], []
    for i in range(2):  # the first run fits the decoders and the classifiers, the second loads them
        outs.append(tmp_path / f"out{i}")
        res = runner.invoke(app, ["run", str(path), "--out", str(outs[-1])])
        assert res.exit_code == 0, res.output + res.stderr
        entries.append(sorted(p.name for p in (*cache.glob("decoders/*.pt"), *cache.glob("heads/*.pt"))))
    assert entries[0] == entries[1]  # the second run added nothing: it loaded every entry
    # the receiver's heads too: one per scheme (the tiny scenario's RFS 1.0), besides the classifiers
    heads = [e for e in entries[0] if not e.startswith(("image_mlp-", "caption_tokens-"))]
    assert len(heads) >= 2 + 2
    assert sum(e.startswith("image_mlp-") for e in entries[0]) >= 2  # both schemes
    assert sum(e.startswith("caption_tokens-") for e in entries[0]) >= 2
    assert (outs[0] / "results.csv").read_bytes() == (outs[1] / "results.csv").read_bytes()
