"""Every entry of every registry builds from a tiny config, runs once and gives a sane output.

Each registry has a table below saying how to build each of its names (options, tiny inputs).
The tests are parametrised by the registered names, so a new entry is picked up by itself, and a
registered name missing from its table FAILS: registering a component means adding its line here.
A table entry whose name is no longer registered fails too, so the tables cannot go stale.
"""
from __future__ import annotations

import csv
import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from semcom_sim.channel import CHANNELS, snr_db_to_noise_var
from semcom_sim.data import SOURCES, MultimodalData
from semcom_sim.data.captions import tokenize
from semcom_sim.encoders import ENCODERS, build_encoder
from semcom_sim.links import LINKS, monte_carlo
from semcom_sim.receiver.decoders import DECODERS, fit_decoder
from semcom_sim.receiver.heads import HEADS, score
from semcom_sim.transmitter.schemes import SCHEMES, get_scheme

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
HERE = "tests/test_registries.py"


@pytest.fixture(autouse=True)
def one_thread():
    # tiny problems: thread hand-offs cost more than the maths (and the file is timed on one core)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _params(registry, table: dict) -> list:
    """One param per (registered name, variant of its table entry); a name without an entry gets
    one param that fails, so the gap shows up as a failure, not as a missing test."""
    out = []
    for name in registry.names():
        variants = table.get(name)
        if variants is None:
            out.append(pytest.param(name, None, id=f"{name}-MISSING"))
        else:
            out += [pytest.param(name, v, id=f"{name}-{v}") for v in variants]
    return out


def _entry(registry, table: dict, name: str, variant: str | None):
    if variant is None:
        pytest.fail(f"{registry.kind} {name!r} is registered but has no entry in the {registry.kind} table of "
                    f"{HERE}: add one saying how to build it from a tiny config")
    return table[name][variant]


# ------------------------------------------------------------------------------------------- data sources

def _write_idx(path: Path, a: np.ndarray) -> None:
    """uint8 array -> gzipped IDX file (type code 0x08)."""
    header = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + a.tobytes())


def _mnist_dir(tmp_path: Path) -> Path:
    """Tiny MNIST in the official IDX layout: two train images and one test image per digit."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split, per_class in (("train", 2), ("t10k", 1)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return folder


def _fsdd_dir() -> str:
    if not FSDD.is_dir():
        pytest.skip(f"FSDD recordings not found at {FSDD} (the shared test data copy)")
    return str(FSDD)


def _embeddings_npz(tmp_path: Path, multi_hot: bool) -> Path:
    rng = np.random.default_rng(0)
    n, d, c = 40, 6, 4
    labels = np.arange(n) % c
    centres = rng.normal(size=(c, d))
    arrays = {m: (centres[labels] + 0.3 * rng.normal(size=(n, d))).astype(np.float32) for m in ("image", "text")}
    arrays["labels"] = (rng.random((n, c)) < 0.5).astype(np.int8) if multi_hot else labels
    arrays["split"] = np.where(np.arange(n) % 5 == 0, "test", "train")
    path = tmp_path / "emb.npz"
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _image_caption_csv(tmp_path: Path, multilabel: bool) -> Path:
    from PIL import Image

    colours = {"red": (220, 30, 30), "blue": (30, 40, 220), "green": (30, 200, 40)}
    names = list(colours)
    folder = tmp_path / "pairs"
    folder.mkdir()
    rows = []
    for i in range(18):
        picked = [names[i % 3]] + ([names[(i + 1) % 3]] if multilabel and i % 2 else [])
        img = np.zeros((8, 8, 3), dtype=np.uint8)
        for j, c in enumerate(picked):
            img[:, j * 8 // len(picked):(j + 1) * 8 // len(picked)] = colours[c]
        Image.fromarray(img).save(folder / f"{i}.png")
        rows.append({"filepath": f"{i}.png", "title": f"a {' and '.join(picked)} square", "label": "|".join(picked)})
    with open(folder / "pairs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["filepath", "title", "label"], delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    return folder / "pairs.csv"


# name -> variant -> tmp_path -> (constructor options, load keywords besides cache_dir and seed)
SOURCE_TABLE = {
    "digits": {
        "sklearn-espeak": lambda tmp: ({}, {"test_fraction": 0.25, "limit": 30}),
        "mnist-espeak": lambda tmp: ({"image": "mnist", "image_dir": str(_mnist_dir(tmp))},
                                     {"test_fraction": 0.25, "limit": None}),
        "sklearn-fsdd-speaker": lambda tmp: ({"audio": "fsdd", "audio_dir": _fsdd_dir(), "split": "speaker"},
                                             {"test_fraction": 0.25, "limit": 30}),
    },
    "embeddings": {
        "single-label": lambda tmp: ({"npz_path": str(_embeddings_npz(tmp, False))},
                                     {"test_fraction": 0.2, "limit": None}),
        "multi-hot": lambda tmp: ({"npz_path": str(_embeddings_npz(tmp, True))},
                                  {"test_fraction": 0.2, "limit": None}),
    },
    "numbers": {
        "espeak-number": lambda tmp: ({"instances": 250}, {"test_fraction": 0.4, "limit": None}),
        "espeak-digits-label": lambda tmp: ({"label": "digits", "instances": 1000},
                                            {"test_fraction": 0.2, "limit": 220}),
        "fsdd-number": lambda tmp: ({"audio": "fsdd", "audio_dir": _fsdd_dir(), "instances": 250},
                                    {"test_fraction": 0.4, "limit": None}),
    },
    "image_caption": {
        "single-label": lambda tmp: ({"csv_path": str(_image_caption_csv(tmp, False)), "image_size": 8,
                                      "context_length": 8}, {"test_fraction": 0.25, "limit": None}),
        "multi-label": lambda tmp: ({"csv_path": str(_image_caption_csv(tmp, True)), "image_size": 8,
                                     "context_length": 8}, {"test_fraction": 0.25, "limit": None}),
    },
}


def _check_split(data: MultimodalData, source, class_names: tuple[str, ...]) -> None:
    n = len(data)
    assert n > 0
    assert data.class_names == class_names
    assert set(data.modalities) == set(source.modalities)
    shapes = source.input_shapes()
    for m, x in data.inputs.items():
        assert tuple(x.shape) == (n, *shapes[m]), m  # the shapes encoders are built for, known before loading
        if x.is_floating_point():
            assert torch.isfinite(x).all(), m
        assert isinstance(data.raw_sizes[m], int) and data.raw_sizes[m] > 0, m
    c = len(class_names)
    if data.labels.dim() == 2:  # multi-hot float [N, C]: heads become one-vs-rest
        assert data.labels.dtype.is_floating_point and tuple(data.labels.shape) == (n, c)
        assert set(data.labels.unique().tolist()) <= {0.0, 1.0}
    else:  # int64 class [N]
        assert data.labels.dtype == torch.int64 and tuple(data.labels.shape) == (n,)
        assert 0 <= int(data.labels.min()) and int(data.labels.max()) < c


@pytest.mark.parametrize("name,variant", _params(SOURCES, SOURCE_TABLE))
def test_data_source_loads(name, variant, tmp_path):
    options, load = _entry(SOURCES, SOURCE_TABLE, name, variant)(tmp_path)
    SOURCES.check_options(name, options, source=HERE, field="data.options")
    source = SOURCES[name](**options)
    train, test = source.load(tmp_path / "cache", 0, **load)
    # what the run budgets with before loading is what loading gives
    assert source.instance_counts(load["test_fraction"], load["limit"]) == (len(train), len(test))
    _check_split(train, source, train.class_names)
    _check_split(test, source, train.class_names)
    if train.labels.dim() == 1:  # the head is fitted on train: every test class must occur there
        assert set(test.labels.tolist()) <= set(train.labels.tolist())


# ------------------------------------------------------------------------------------------- encoders

def _captions(n: int, length: int) -> torch.Tensor:
    words = ("zero", "one", "two", "three")
    return tokenize([f"a photo of a {words[i % 4]}" for i in range(n)], length)


# name -> variant -> (embedding dim, one instance's input shape, options, make inputs [N, *shape])
ENCODER_TABLE = {
    "small_cnn": {"8x8": (8, (1, 8, 8), {"width": 4}, lambda n: torch.rand(n, 1, 8, 8))},
    "logmel_cnn": {"1024-samples": (8, (1024,), {"width": 8, "n_mels": 16, "n_fft": 128, "hop": 64},
                                    lambda n: 0.1 * torch.randn(n, 1024))},
    "openclip_text": {"L16": (8, (16,), {"width": 8, "heads": 2, "layers": 1}, lambda n: _captions(n, 16))},
    "identity": {"D6": (6, (6,), {}, lambda n: torch.randn(n, 6))},
    "clip_image": {"rgb-frozen": (8, (3, 16, 16), {"model": "semcom-tiny-clip", "freeze": True},
                                  lambda n: torch.rand(n, 3, 16, 16)),
                   "grey": (8, (1, 8, 8), {"model": "semcom-tiny-clip"}, lambda n: torch.rand(n, 1, 8, 8))},
    "clip_text": {"L12": (8, (12,), {"model": "semcom-tiny-clip"}, lambda n: _captions(n, 12))},
}


@pytest.mark.parametrize("name,variant", _params(ENCODERS, ENCODER_TABLE))
def test_encoder_builds_and_embeds(name, variant):
    dim, shape, options, make = _entry(ENCODERS, ENCODER_TABLE, name, variant)
    torch.manual_seed(0)
    ENCODERS.check_options(name, options, source=HERE, field="encoders.x.options")
    cls = ENCODERS[name]
    cls.check(dim, shape, **options)  # what `validate` runs: must accept what builds
    enc = build_encoder(name, dim, shape, options)
    count = cls.parameter_count(dim, shape, **options)
    if count is not None:  # the memory budget's count without building must be the real one
        assert count == sum(p.numel() for p in enc.parameters())
    x = make(5)
    enc.train()
    z = enc(x)
    assert z.shape == (5, dim) and torch.isfinite(z).all()
    assert torch.allclose(z.norm(dim=-1), torch.ones(5), atol=1e-5)
    trainable = [p for p in enc.parameters() if p.requires_grad]
    if trainable:  # training reaches the weights
        (z[:, 0].sum() - z[:, -1].sum()).backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
    enc.eval()
    with torch.no_grad():  # training and evaluation apply prepare once, then embed_prepared
        assert torch.allclose(enc.embed_prepared(enc.prepare(x)), enc(x), atol=1e-6)


# ------------------------------------------------------------------------------------------- heads

def _separable(kind: str, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Features [n, 6] and labels (3 classes, or 3 multi-hot tags) that a linear model separates."""
    directions = 3.0 * torch.eye(3, 6)
    if kind == "single":
        y = torch.arange(n) % 3
        return directions[y] + 0.3 * torch.randn(n, 6, generator=g), y
    y = (torch.rand(n, 3, generator=g) < 0.5).float()
    y[:, 0] = torch.where(y.sum(1) == 0, 1.0, y[:, 0])  # every instance has a tag, so precision@1 is defined
    return y @ directions - 1.5 + 0.3 * torch.randn(n, 6, generator=g), y


# name -> variant -> (l2, label kind): every head is fitted on single-label and on multi-hot data,
# because the run hands it whichever the data source gives
HEAD_TABLE = {
    "logistic": {"single": (1e-3, "single"), "multi-hot": (1e-3, "multi")},
}


@pytest.mark.parametrize("name,variant", _params(HEADS, HEAD_TABLE))
def test_head_fits_separable_data(name, variant):
    l2, kind = _entry(HEADS, HEAD_TABLE, name, variant)
    g = torch.Generator().manual_seed(0)
    x_tr, y_tr = _separable(kind, 90, g)
    x_te, y_te = _separable(kind, 60, g)
    head = HEADS[name](x_tr, y_tr, l2)
    logits = head.logits(x_te)
    assert logits.shape == (60, 3) and torch.isfinite(logits).all()
    # batched: leading SNR / Monte-Carlo dimensions pass through
    assert torch.allclose(head.logits(torch.stack([x_te, x_te]))[1], logits, atol=1e-5)
    metrics = score(logits, y_te)
    chance = 1 / 3 if kind == "single" else float(y_te.mean())
    assert float(metrics["acc_top1"]) > max(0.9, chance + 0.2)
    if kind == "multi":
        assert float(metrics["map"]) > 0.9 and float(metrics["micro_f1"]) > 0.8


# ------------------------------------------------------------------------------------------- decoders

# name -> variant -> (modality, make raw inputs [N, ...], options); targets come from the decoder's target_for
DECODER_TABLE = {
    "image_mlp": {"8x8": ("image", lambda n: torch.rand(n, 1, 8, 8), {"hidden": 16, "layers": 1})},
    "logmel_mlp": {"1024-samples": ("audio", lambda n: 0.1 * torch.randn(n, 1024), {"hidden": 16, "layers": 1})},
    "caption_tokens": {"L10": ("text", lambda n: _captions(n, 10), {"hidden": 16, "layers": 1})},
    "field_mlp": {"video-4x3x6x6": ("video", lambda n: 2.0 * torch.randn(n, 4, 3, 6, 6), {"hidden": 16}),
                  "embedding-12": ("text", lambda n: torch.randn(n, 12), {"hidden": 16, "layers": 1})},
}


@pytest.mark.parametrize("name,variant", _params(DECODERS, DECODER_TABLE))
def test_decoder_fits_and_decodes_to_its_target_shape(name, variant):
    modality, make, options = _entry(DECODERS, DECODER_TABLE, name, variant)
    assert DECODERS[name].modality in (modality, "")  # "": any modality whose inputs fit
    DECODERS.check_options(name, options, source=HERE, field="receiver.decoders.x.options")
    torch.manual_seed(0)
    inputs = make(32)
    targets = DECODERS[name].target_for(inputs)
    assert tuple(targets.shape[1:]) == DECODERS[name].target_shape_for(tuple(inputs.shape[1:]))
    features = torch.randn(32, 6)

    def fit(epochs: int):
        return fit_decoder(name, features, targets, options=options, epochs=epochs, lr=1e-2, batch_size=16,
                           generator=torch.Generator().manual_seed(0))

    untrained, dec = fit(0), fit(25)
    out = dec.decode(features[:5])
    assert out.shape == targets[:5].shape and out.dtype.is_floating_point == targets.dtype.is_floating_point
    if out.is_floating_point():
        assert torch.isfinite(out).all()
    # leading SNR / Monte-Carlo dimensions pass through, as the receiver applies it to every channel output
    assert dec.decode(features[:5].expand(2, 5, 6)).shape == (2, *targets[:5].shape)
    raw = dec(features[:5])
    assert raw[0].numel() == dec.output_values and torch.isfinite(raw).all()
    with torch.no_grad():  # its own loss, on the training data, went down
        before = untrained.loss(untrained(features), targets)
        after = dec.loss(dec(features), targets)
    assert before.dim() == 0 and torch.isfinite(before) and float(after) < float(before)
    # its metrics kind scores its outputs, in columns named after the modality
    labels = torch.arange(32) % 2
    scores = DECODERS[name].metrics.fit(modality, targets, labels)(dec(features), targets, labels)
    assert {f"mae_{modality}", f"mse_{modality}", f"acc_recon_{modality}"} <= set(scores)
    assert all(v.shape == () and 0.0 <= float(v) <= (100.0 if k.startswith("psnr_") else 1.0)
               for k, v in scores.items()), scores


# ------------------------------------------------------------------------------------------- schemes

# name -> variant -> {M modalities: V vectors the scheme sends}
SCHEME_TABLE = {
    "conventional": {"M1-M3": {1: 1, 3: 3}},
    "centroid": {"M1-M3": {1: 1, 3: 1}},
    "centroid_residual": {"M1-M3": {1: 2, 3: 2}},
    "receiver_centroid": {"M1-M3": {1: 1, 3: 3}},
    "media": {"M1-M3": {1: 1, 3: 3}},  # the training side: the embeddings its head learns on
}


@pytest.mark.parametrize("name,variant", _params(SCHEMES, SCHEME_TABLE))
def test_scheme_payload_is_v_by_t(name, variant):
    vectors = _entry(SCHEMES, SCHEME_TABLE, name, variant)
    scheme = get_scheme(name)
    g = torch.Generator().manual_seed(0)
    n, d = 7, 12
    idx = torch.tensor([0, 3, 4, 9, 11])
    for m, v in vectors.items():
        z = {f"mod{i}": torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1) for i in range(m)}
        assert scheme.vectors(m) == v
        p = scheme.payload(z, idx)
        assert p.shape == (n, v, len(idx)) and torch.isfinite(p).all()
        # RFS cuts the full payload: the kept coordinates are the same whichever set is sent
        assert torch.allclose(p, scheme.payload(z, torch.arange(d))[..., idx])
        assert all(0 <= scheme.decoder_vector(k, m) < v for k in range(m))
        bits = scheme.side_bits(m)
        assert isinstance(bits, int) and bits >= 0


# ------------------------------------------------------------------------------------------- channels

# name -> variant -> options (as a preset's ``options`` gives them; see channels/)
CHANNEL_TABLE = {
    "awgn": {"plain": {}},
    "rayleigh": {"block": {"fading": "block"}, "fast": {"fading": "fast"},
                 "fast-3rx": {"fading": "fast", "num_rx_ant": 3},
                 "block-2rx-estimated": {"fading": "block", "num_rx_ant": 2, "csi": "estimated", "pilots": 4,
                                         "pilot_snr_offset_db": 20.0}},
    "rician": {"block-K10": {"k_factor_db": 10.0, "fading": "block"},
               "fast-K0-2rx": {"k_factor_db": 0.0, "fading": "fast", "num_rx_ant": 2},
               "block-estimated": {"k_factor_db": 3.0, "fading": "block", "csi": "estimated", "pilots": 2,
                                   "pilot_snr_offset_db": 20.0}},
    "tdl": {"C-estimated": {"model": "C", "delay_spread_ns": 300.0, "fft_size": 24},
            "A-perfect-empty": {"model": "A", "delay_spread_ns": 30.0, "fft_size": 12, "num_ofdm_symbols": 2,
                                "pilot_pattern": "empty", "csi": "perfect"}},
}


@pytest.mark.parametrize("name,variant", _params(CHANNELS, CHANNEL_TABLE))
def test_channel_is_transparent_at_60_db(name, variant):
    from sionna.phy import config

    options = _entry(CHANNELS, CHANNEL_TABLE, name, variant)
    CHANNELS.check_options(name, options, source=HERE, field="options", exclude=("device", "precision"))
    CHANNELS[name].check(**options)
    config.seed = 1234
    channel = CHANNELS[name](device="cpu", precision="single", **options)
    g = torch.Generator().manual_seed(0)
    shape = (2, 6, 2, 8)  # [S SNR points, N, V vectors, L channel uses]
    x = torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)) / math.sqrt(2)
    snr_db = torch.tensor([60.0, 0.0])
    no = snr_db_to_noise_var(snr_db)
    x_u, no_eff = channel(x, no)  # digital link: unbiased estimate and its noise variance
    y, w = channel.mmse(x, no)  # analog link: w * y is the MMSE estimate
    assert x_u.shape == x.shape and y.shape == x.shape
    assert torch.broadcast_shapes(no_eff.shape, x.shape) == x.shape
    assert torch.broadcast_shapes(w.shape, x.shape) == x.shape
    for est in (x_u, w * y):
        assert torch.isfinite(torch.view_as_real(est)).all()
        rms = (est - x).abs().square().mean((1, 2, 3)).sqrt()
        assert float(rms[0]) < 1e-2  # 60 dB: the symbols come through
        assert float(rms[1]) > 0.1  # 0 dB: noise was added
    assert (no_eff >= 0).all() and torch.isfinite(no_eff).all()
    # the capacity reference every model must give (None: no reference known)
    p = channel.delivery_probability(64, 16, 10 ** (snr_db.double() / 10))
    if p is not None:
        assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all() and p[0] >= p[1]


# ------------------------------------------------------------------------------------------- links

# name -> variant -> (T values per vector, the link's options, whether the link carries bits)
LINK_TABLE = {"analog": {"plain": (15, {}, False)},
              "digital": {"qpsk": (16, {"bits_per_symbol": 2, "ldpc_iterations": 10}, True)},
              "nr": {"mcs5": (8, {"mcs_index": 5, "ldpc_iterations": 10}, True)},
              "aircomp": {"estimated-csi": (15, {"csi": "estimated", "pilots": 4}, False)}}


@pytest.mark.parametrize("name,variant", _params(LINKS, LINK_TABLE))
def test_link_delivers_the_clean_payload_at_60_db(name, variant):
    from sionna.phy import config

    t, options, carries_bits = _entry(LINKS, LINK_TABLE, name, variant)
    cls = LINKS[name]
    opts = cls.Options.model_validate(options)
    g = torch.Generator().manual_seed(0)
    train = torch.nn.functional.normalize(torch.randn(40, 2, t, generator=g), dim=-1)
    test = torch.nn.functional.normalize(torch.randn(6, 2, t, generator=g), dim=-1)
    link = cls.fit(train, opts)
    assert link.channel_uses >= 1 and (link.info_bits > 0) == carries_bits
    bits = link.capacity_bits()
    assert bits is None or bits > 0  # None: no single-user reference (aircomp)
    # what the budgets count without building the link is what the fitted link uses
    cost = cls.cost(opts, t)
    assert cost.uses == link.channel_uses and (cost.decoded_bits * cost.iterations > 0) == carries_bits
    assert cls.chunk_bytes(opts, 1000, 3, 5000, 4) > 0
    cls.check(opts, t)
    assert hash(link.receiver_key) is not None
    for mode in ("bits", "code_rate"):  # a link spends extra bandwidth its own way, or not at all
        spent = cls.spend(opts, mode, 3)
        assert spent is None or cls.cost(spent, t).uses > cost.uses
    clean = link.clean(test)  # what arrives without noise: V vectors, or their sum's centroid (aircomp)
    out_shape = (test.shape[0], link.vectors_out(test.shape[1]), t)
    expected = test if link.vectors_out(2) == 2 else test.mean(1, keepdim=True)
    assert clean.shape == out_shape and float((clean - expected).abs().max()) < 0.2
    config.seed = 5
    channel = CHANNELS["awgn"](device="cpu", precision="single")
    no = snr_db_to_noise_var(torch.tensor([60.0, -5.0]))
    seen = []

    def measure(p_hat, _draws):  # [S, r, N, V, T] -> per-draw error against the clean payload
        seen.append(p_hat.shape)
        return {"err": (p_hat - clean).abs().amax((-3, -2, -1))}

    out = monte_carlo(link, test, channel, no, 3, measure)
    assert all(s[0] == 2 and s[2:] == out_shape for s in seen) and sum(s[1] for s in seen) == 3
    assert float(out["err"][0]) < 1e-2 < float(out["err"][1])  # through at 60 dB, not at -5 dB
    for v in out.values():
        assert v.shape == (2,) and torch.isfinite(v).all()


# ------------------------------------------------------------------------------------------- the tables

@pytest.mark.parametrize("registry,table", [
    pytest.param(SOURCES, SOURCE_TABLE, id="sources"), pytest.param(ENCODERS, ENCODER_TABLE, id="encoders"),
    pytest.param(HEADS, HEAD_TABLE, id="heads"), pytest.param(DECODERS, DECODER_TABLE, id="decoders"),
    pytest.param(SCHEMES, SCHEME_TABLE, id="schemes"), pytest.param(CHANNELS, CHANNEL_TABLE, id="channels"),
    pytest.param(LINKS, LINK_TABLE, id="links")])
def test_every_table_entry_names_a_registered_component(registry, table):
    stale = sorted(set(table) - set(registry.names()))
    assert not stale, f"{HERE} builds {registry.kind}(s) {stale} that are not registered (renamed or removed?)"
