import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from semcom_sim.data.captions import DIGIT_TEMPLATES, tokenize
from semcom_sim.data.speech import DIGIT_WORDS
from semcom_sim.receiver.decoders import DECODERS, caption_vocabulary, fit_decoder, token_index
from semcom_sim.receiver.heads import topk_accuracy
from semcom_sim.receiver.reconstruction import (FixedRange, TokenMetrics, Tokens, TrainingRange, fit_field_classifier,
                                                fit_token_classifier, mae, mse, psnr, token_accuracy, token_errors,
                                                unit_scale)

logmel_targets = DECODERS["logmel_mlp"].target_for

FIT = {"options": {"hidden": 128}, "epochs": 30, "lr": 3e-3, "batch_size": 128}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # these problems are tiny: on a shared CI machine thread hand-offs (torch's and the BLAS under
    # scikit-learn) cost more than the maths
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)


def _project(x: torch.Tensor, dim: int, seed: int) -> torch.Tensor:
    """A stand-in frozen encoder: a fixed random projection to ``dim``, then unit norm."""
    p = torch.randn(x.shape[1], dim, generator=torch.Generator().manual_seed(seed))
    return F.normalize(x @ p, dim=-1)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    # shuffled: the bundled order groups writers, so its tail is harder than its head
    perm = torch.randperm(len(d.target), generator=torch.Generator().manual_seed(0))
    images = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)[perm]  # [1797, 1, 8, 8]
    labels = torch.from_numpy(d.target.astype(np.int64))[perm]
    return images[:1200], labels[:1200], images[1200:], labels[1200:]


@pytest.fixture(scope="module")
def image_decoder(digits):
    x_tr, y_tr, x_te, y_te = digits
    z_tr, z_te = _project(x_tr.flatten(1), 16, 0), _project(x_te.flatten(1), 16, 0)
    dec = fit_decoder("image_mlp", z_tr, DECODERS["image_mlp"].target_for(x_tr),
                      generator=torch.Generator().manual_seed(0), **FIT)
    return dec, z_te


def test_image_decoder_beats_the_mean_image(digits, image_decoder):
    x_tr, y_tr, x_te, y_te = digits
    dec, z_te = image_decoder
    recon = dec.decode(z_te)
    assert recon.shape == x_te.shape and recon.min() >= 0 and recon.max() <= 1
    mse = float((recon - x_te).square().mean())
    baseline = float((x_tr.mean(0) - x_te).square().mean())
    assert baseline > 0.07  # the digits vary: the mean image is a poor guess
    assert mse < 0.35 * baseline


def test_reconstruction_error_grows_with_feature_noise(digits, image_decoder):
    x_tr, y_tr, x_te, y_te = digits
    dec, z_te = image_decoder
    sigma = torch.tensor([0.0, 0.2, 0.5]).view(3, 1, 1) * z_te.std()
    noisy = z_te + sigma * torch.randn(3, *z_te.shape, generator=torch.Generator().manual_seed(1))  # [3, N, F]
    metrics = DECODERS["image_mlp"].metrics.fit("image", x_tr, y_tr)
    out = metrics(dec(noisy), x_te, y_te)
    assert set(out) == {"mae_image", "mse_image", "acc_recon_image", "psnr_image"}
    assert all(v.shape == (3,) for v in out.values())
    assert torch.all(out["mse_image"].diff() > 0) and torch.all(out["mae_image"].diff() > 0)
    assert torch.all(out["psnr_image"].diff() < 0)
    assert out["acc_recon_image"][0] > 0.85 and torch.all(out["acc_recon_image"].diff() < -0.05)


def test_each_decoder_names_its_target_and_metrics():
    """What the receiver asks a decoder class: its modality, its target from the raw inputs, with
    and without data, and its metrics kind; inputs it cannot rebuild are refused in words."""
    images, clip = torch.rand(5, 1, 8, 8), torch.rand(5, 4, 3, 6, 6)
    tokens = torch.randint(1, 50, (5, 16))
    field, image, caption = DECODERS["field_mlp"], DECODERS["image_mlp"], DECODERS["caption_tokens"]
    assert field.modality == image.modality == "" and caption.modality == "text"
    assert DECODERS["logmel_mlp"].modality == "audio" and DECODERS["logmel_mlp"].target_from_encoder
    assert field.target_for(clip) is clip and image.target_for(images) is images
    assert caption.target_for(tokens) is tokens
    assert field.target_shape_for((4, 3, 6, 6), "some_encoder", {"width": 8}) == (4, 3, 6, 6)
    assert (field.metrics, image.metrics, caption.metrics) == (TrainingRange(), FixedRange(0.0, 1.0, psnr=True),
                                                               Tokens())
    with pytest.raises(ValueError, match="regresses real values; these inputs are torch.int64"):
        field.target_for(tokens)
    with pytest.raises(ValueError, match="rebuilds token ids; these inputs are torch.float32"):
        caption.target_for(images.flatten(1))
    with pytest.raises(ValueError, match=r"log-mel of \[samples\] waveforms; these inputs are \(4, 3, 6, 6\)"):
        DECODERS["logmel_mlp"].target_shape_for((4, 3, 6, 6))
    with pytest.raises(ValueError, match="expects a 3-d target"):
        image.without_data(8, (4, 3, 6, 6))
    # the largest caption decoder the training captions allow: every position a distinct id, up to CLIP's
    assert caption.without_data(8, (16,), 3, hidden=4).vocabulary.numel() == 48
    assert caption.without_data(8, (16,), 10**6, hidden=4).vocabulary.numel() == 49408


def test_decoder_fit_is_deterministic_given_the_generator(digits):
    x_tr = digits[0][:200]
    z = _project(x_tr.flatten(1), 8, 0)
    fit = dict(FIT, epochs=2)
    a, b, c = (fit_decoder("image_mlp", z, x_tr, generator=torch.Generator().manual_seed(s), **fit)
               for s in (5, 5, 6))
    assert torch.equal(a(z), b(z))
    assert not torch.allclose(a(z), c(z))


def _tones(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[n, 8000] one-second 8 kHz waveforms: a class-dependent tone at a random onset, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    t = torch.arange(8000) / 8000.0
    onset = torch.rand(n, 1, generator=g) * 0.5
    burst = ((t >= onset) & (t < onset + 0.4)).float()
    wav = burst * torch.sin(2 * math.pi * (250.0 + 300.0 * labels[:, None]) * t)
    return wav + 0.05 * torch.randn(n, 8000, generator=g), labels


def test_logmel_decoder_beats_the_mean_spectrogram():
    wav_tr, y_tr = _tones(300, 0)
    wav_te, y_te = _tones(100, 1)
    m_tr, m_te = logmel_targets(wav_tr), logmel_targets(wav_te)
    assert m_tr.shape == (300, 32, 63)  # the logmel_cnn encoder's front end
    z_tr, z_te = _project(m_tr.flatten(1), 16, 0), _project(m_te.flatten(1), 16, 0)
    dec = fit_decoder("logmel_mlp", z_tr, m_tr, generator=torch.Generator().manual_seed(0),
                      **dict(FIT, batch_size=100))
    recon = dec.decode(z_te)
    assert recon.shape == m_te.shape
    mse = float((recon - m_te).square().mean())
    baseline = float((m_tr.mean(0) - m_te).square().mean())
    # the noise floor's texture is unpredictable from 16 features, so some error remains
    assert mse < 0.6 * baseline
    metrics = DECODERS["logmel_mlp"].metrics.fit("audio", m_tr, y_tr)
    assert (metrics.low, metrics.high) == (float(m_tr.min()), float(m_tr.max()))
    out = metrics(recon, m_te, y_te)
    scale = metrics.high - metrics.low
    # scaling is one fixed affine map: the scaled MSE is the raw MSE / range^2, up to the clipping
    assert float(out["mse_audio"]) == pytest.approx(mse / scale**2, rel=0.1)
    assert float(out["acc_recon_audio"]) > 0.9


@pytest.fixture(scope="module")
def captions():
    rng = np.random.default_rng(0)
    labels = np.arange(600) % 10
    templates = rng.integers(0, 4, size=600)
    text = [DIGIT_TEMPLATES[t].format(w=DIGIT_WORDS[y], d=y) for t, y in zip(templates, labels)]
    tokens = tokenize(text, 16)
    # informative features: the (class, template) pair that fixes the caption, projected to 16 dims
    pair = F.one_hot(torch.from_numpy(labels * 4 + templates), 40).float()
    return tokens, torch.from_numpy(labels), _project(pair, 16, 0)


def test_caption_decoder_recovers_tokens(captions):
    tokens, labels, z = captions
    tr, te = slice(0, 450), slice(450, 600)
    dec = fit_decoder("caption_tokens", z[tr], tokens[tr], generator=torch.Generator().manual_seed(0), **FIT)
    assert torch.equal(dec.vocabulary, caption_vocabulary(tokens[tr]))
    logits = dec(z[te])
    assert logits.shape == (150, 16, dec.vocabulary.numel())
    decoded = dec.decode(z[te])
    assert decoded.dtype == torch.int64 and torch.equal(decoded, dec.vocabulary[logits.argmax(-1)])
    assert float(token_accuracy(decoded, tokens[te])) > 0.98
    metrics = DECODERS["caption_tokens"].metrics.fit("text", tokens[tr], labels[tr])
    out = metrics(logits, tokens[te], labels[te])
    assert set(out) == {"mae_text", "mse_text", "acc_recon_text", "token_acc_text"}
    assert float(out["acc_recon_text"]) > 0.98 and float(out["mae_text"]) < 0.05


def test_recon_classifier_knows_clean_digits_and_not_noise(digits, captions):
    x_tr, y_tr, x_te, y_te = digits
    clf = fit_field_classifier(x_tr, y_tr)
    assert float(topk_accuracy(clf.logits(x_te), y_te, 1)) > 0.9
    noise = torch.rand(4, *x_te.shape, generator=torch.Generator().manual_seed(0))  # leading dim kept
    acc_noise = topk_accuracy(clf.logits(noise), y_te, 1)
    assert acc_noise.shape == (4,) and torch.all(acc_noise < 0.2)
    tokens, labels, _ = captions
    text_clf = fit_token_classifier(tokens[:450], labels[:450])
    assert float(topk_accuracy(text_clf.logits(tokens[450:]), labels[450:], 1)) == 1.0


def test_psnr_and_metric_shapes_by_hand():
    target = torch.zeros(2, 1, 2, 2)
    recon = target + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)  # per-image MSE 1e-2 and 1e-4
    assert float(psnr(recon[:1], target[:1])) == pytest.approx(10 * math.log10(1 / 1e-2))
    assert float(psnr(recon, target)) == pytest.approx((20.0 + 40.0) / 2)
    assert float(psnr(target, target)) == pytest.approx(100.0)  # the MSE floor, not infinity
    labels = torch.tensor([0, 1])
    clf_images = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
    metrics = FixedRange(0.0, 1.0, psnr=True).fit("image", clf_images, labels)
    out = metrics(recon.expand(5, 3, *recon.shape), target, labels)
    assert all(v.shape == (5, 3) for v in out.values())
    assert torch.allclose(out["mae_image"], torch.tensor(0.055))
    assert torch.allclose(out["mse_image"], torch.tensor((1e-2 + 1e-4) / 2))


def test_text_errors_by_hand():
    # start, two word tokens, end, padding: the start token and the padding are not counted
    targets = torch.tensor([[49406, 320, 2842, 49407, 0, 0]])
    vocab = torch.tensor([0, 320, 2842, 49406, 49407])
    assert torch.equal(token_index(torch.tensor([2842, 7]), vocab), torch.tensor([2, -1]))
    p = torch.full((1, 6, 5), 0.1)
    p[0, torch.arange(6), token_index(targets[0], vocab)] = 0.6  # p(target) = 0.6 everywhere
    mae, mse = token_errors(p.log(), targets, vocab)
    assert float(mae) == pytest.approx(0.4)
    assert float(mse) == pytest.approx(0.5 * (0.6**2 + 4 * 0.1**2 - 2 * 0.6 + 1))
    # a hard, wrong-at-one-position prediction: MAE = MSE = token error rate = 1/3
    hard = targets.clone()
    hard[0, 2] = 320
    logits = 50.0 * F.one_hot(token_index(hard, vocab), 5).float()
    mae, mse = token_errors(logits, targets, vocab)
    acc = token_accuracy(hard, targets)
    assert float(acc) == pytest.approx(2 / 3)
    assert float(mae) == pytest.approx(1 / 3) and float(mse) == pytest.approx(1 / 3)
    hard[0, 0] = hard[0, 5] = 320  # errors at the start token and the padding do not count
    assert float(token_accuracy(hard, targets)) == pytest.approx(2 / 3)


@pytest.mark.parametrize("name", DECODERS.names())
def test_every_decoder_maps_leading_dims(name):
    shapes = {"image_mlp": (1, 28, 28), "logmel_mlp": (32, 63), "caption_tokens": (16,), "field_mlp": (2, 3, 5, 4)}
    g = torch.Generator().manual_seed(0)
    targets = (torch.randint(0, 5, (8, 16), generator=g) if name == "caption_tokens"
               else torch.rand(8, *shapes[name], generator=g))
    dec = fit_decoder(name, torch.randn(8, 12, generator=g, dtype=torch.float64), targets,
                      options={"hidden": 16}, epochs=1, lr=1e-3, batch_size=4, generator=g)
    out = dec.decode(torch.randn(3, 2, 8, 12, generator=g, dtype=torch.float64))
    assert out.shape == (3, 2, 8, *shapes[name])
    assert out.dtype == (torch.int64 if name == "caption_tokens" else torch.float64)


def _fit_per_batch(name, features, targets, *, options, epochs, lr, batch_size, generator):
    """``fit_decoder`` as first written: each mini-batch indexed from the permutation, Adam's
    per-parameter loop. The faster loop must give bit-identical weights."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        decoder = DECODERS[name].from_targets(features.shape[-1], targets, **options)
    decoder = decoder.to(features.dtype)
    decoder.shift.copy_(features.mean(0))
    decoder.scale.copy_((features - decoder.shift).square().mean().sqrt().clamp_min(1e-12))
    opt = torch.optim.Adam(decoder.parameters(), lr=lr, foreach=False)
    n = features.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            loss = decoder.loss(decoder(features[idx]), targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return decoder


@pytest.mark.parametrize("name", DECODERS.names())
def test_fit_decoder_weights_equal_the_per_batch_loop(name):
    shapes = {"image_mlp": (1, 4, 4), "logmel_mlp": (6, 7), "caption_tokens": (5,), "field_mlp": (3, 2, 4)}
    g = torch.Generator().manual_seed(3)
    targets = (torch.randint(0, 9, (100, 5), generator=g) if name == "caption_tokens"
               else torch.rand(100, *shapes[name], generator=g))
    features = torch.randn(100, 10, generator=g)
    fit = {"options": {"hidden": 16}, "epochs": 3, "lr": 1e-2, "batch_size": 32}  # 32 does not divide 100
    new = fit_decoder(name, features, targets, generator=torch.Generator().manual_seed(8), **fit)
    ref = _fit_per_batch(name, features, targets, generator=torch.Generator().manual_seed(8), **fit)
    for a, b in zip(new.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
    assert new.output_values == math.prod(new(features[:1]).shape[1:])


def _reference_metrics(modality, metrics, outputs, targets, labels):
    """Every column from the module's definitions (unit_scale, mae, mse, psnr, token_errors, ...)."""
    if isinstance(metrics, TokenMetrics):
        tokens = metrics.vocabulary[outputs.argmax(-1)]
        mae_, mse_ = token_errors(outputs, targets, metrics.vocabulary)
        return {f"mae_{modality}": mae_, f"mse_{modality}": mse_,
                f"acc_recon_{modality}": topk_accuracy(metrics.classifier.logits(tokens), labels, 1),
                f"token_acc_{modality}": token_accuracy(tokens, targets)}
    recon, target = unit_scale(outputs, metrics.low, metrics.high), unit_scale(targets, metrics.low, metrics.high)
    out = {f"mae_{modality}": mae(recon, target), f"mse_{modality}": mse(recon, target),
           f"acc_recon_{modality}": topk_accuracy(metrics.classifier.logits(outputs), labels, 1)}
    if metrics.psnr:
        out[f"psnr_{modality}"] = psnr(recon, target)
    return out


# modality, metrics kind, target shape (None: captions), training values' range
KINDS = {
    "image": ("image", FixedRange(0.0, 1.0, psnr=True), (1, 3, 3), (0.0, 1.0)),
    "logmel": ("audio", TrainingRange(), (4, 5), (-3.0, 3.0)),
    "caption": ("text", Tokens(), None, None),
    # any modality, any number of dimensions: a fixed range other than [0, 1], then the training range
    "video-fixed": ("video", FixedRange(-2.0, 2.0, psnr=True), (2, 3, 2, 2), (-2.0, 2.0)),
    "video-training": ("video", TrainingRange(), (2, 3, 2, 2), (-5.0, 1.0)),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_bound_metrics_equal_the_definitions(kind):
    modality, metrics_kind, shape, value_range = KINDS[kind]
    g = torch.Generator().manual_seed(5)
    n_train, n = 120, 40
    labels_train, labels = torch.arange(n_train) % 4, torch.arange(n) % 4
    if shape is None:
        train = torch.randint(1, 12, (n_train, 6), generator=g)
        train[:, 0], train[:, 4:] = 40, 0  # a start token, padding
        targets = torch.randint(1, 12, (n, 6), generator=g)
        targets[:, 0], targets[:, 5:] = 40, 0
        targets[0, 1] = 99  # an id the training captions never had: probability 0
        metrics = metrics_kind.fit(modality, train, labels_train)
        outputs = 3.0 * torch.randn(2, 3, n, 6, metrics.vocabulary.numel(), generator=g)
    else:
        low, high = value_range
        train = low + (high - low) * torch.rand(n_train, *shape, generator=g)
        metrics = metrics_kind.fit(modality, train, labels_train)
        assert (metrics.low, metrics.high) == pytest.approx(value_range, abs=0.1)
        targets = (low + (high - low) * torch.rand(n, *shape, generator=g) if metrics.psnr
                   else 4.0 * torch.randn(n, *shape, generator=g))  # beyond the training range: clipped
        outputs = targets + 0.4 * torch.randn(2, 3, n, *shape, generator=g)  # some outside [low, high]
    ref = _reference_metrics(modality, metrics, outputs, targets, labels)
    kept = outputs.clone()
    got = metrics(outputs, targets, labels)
    assert torch.equal(outputs, kept)  # the public call leaves the outputs alone
    scratch = metrics.bind(targets, labels)(outputs.clone(), overwrite=True)
    assert list(got) == list(ref) == list(scratch)
    for k in ref:
        assert got[k].shape == ref[k].shape == (2, 3), k
        assert torch.allclose(got[k], ref[k], rtol=1e-6, atol=1e-6), (k, got[k], ref[k])
        assert torch.allclose(scratch[k], ref[k], rtol=1e-6, atol=1e-6), k


def test_logmel_defaults_are_the_logmel_cnn_front_end():
    from semcom_sim.encoders.audio import LOGMEL_DEFAULTS, LogMel, LogMelCNN

    plain, cnn = LogMel(), LogMelCNN(16, (8000,)).frontend
    for k in ("sample_rate", "n_fft", "hop", "n_mels"):
        assert getattr(plain, k) == getattr(cnn, k) == LOGMEL_DEFAULTS[k], k
    assert plain.n_mels == 32
    assert torch.equal(plain.fbank, cnn.fbank) and torch.equal(plain.window, cnn.window)
    wav, _ = _tones(4, 2)
    # no encoder (or one without a log-mel front end): the same targets as logmel_cnn's defaults
    assert torch.equal(logmel_targets(wav), cnn(wav))
    assert LogMelCNN.logmel_options() == LOGMEL_DEFAULTS


@pytest.mark.parametrize("options", [{"n_mels": 40}, {"n_mels": 40, "hop": 100, "n_fft": 200},
                                     {"n_mels": 24, "sample_rate": 16000, "hop": 64}])
def test_audio_targets_are_the_encoder_front_end(options):
    from semcom_sim.scenario import EncoderSpec
    from semcom_sim.encoders import build_encoder
    from semcom_sim.scenario.parameters import decoder_target_shape

    encoder = build_encoder("logmel_cnn", 16, (8000,), {"width": 8, **options})
    wav, _ = _tones(6, 3)
    targets = logmel_targets(wav, encoder, batch_size=4)  # two batches
    n_mels, hop = options["n_mels"], options.get("hop", 128)
    assert targets.shape == (6, n_mels, 8000 // hop + 1)
    assert torch.allclose(targets, encoder.prepare(wav), rtol=0, atol=1e-5)
    assert torch.equal(logmel_targets(wav, encoder, batch_size=512), encoder.prepare(wav))
    # the data-free shape (validation, budgets) follows the same options
    spec = EncoderSpec(name="logmel_cnn", options={"width": 8, **options})
    assert decoder_target_shape("logmel_mlp", (8000,), spec) == tuple(targets.shape[1:])
    assert DECODERS["logmel_mlp"].target_shape_for((8000,), "logmel_cnn", spec.options) == tuple(targets.shape[1:])
    # the encoder's front end was copied, not moved
    logmel_targets(wav.double(), encoder)
    assert encoder.frontend.fbank.dtype == torch.float32


def test_audio_targets_of_an_encoder_without_a_log_mel_front_end_use_the_defaults():
    from semcom_sim.scenario import EncoderSpec
    from semcom_sim.encoders import build_encoder
    from semcom_sim.scenario.parameters import decoder_target_shape

    wav, _ = _tones(3, 4)
    identity = build_encoder("identity", 8000, (8000,), {})
    assert torch.equal(logmel_targets(wav, identity), logmel_targets(wav))
    assert decoder_target_shape("logmel_mlp", (8000,), EncoderSpec(name="identity")) == (32, 63)
    with pytest.raises(ValueError, match="n_fft 256 is longer"):  # a 128-value embedding is no waveform
        decoder_target_shape("logmel_mlp", (128,), EncoderSpec(name="identity"))
