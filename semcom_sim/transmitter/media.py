"""The ``media`` scheme, the separation baseline: each instance's own data, compressed per modality
by a standard codec (:mod:`.codecs`), crosses a link that carries whole files (the nr link: one
transport block per file, a file arrives whole or is lost); the receiver decodes what arrived and
runs the trained encoders on it, then the conventional head.

Because a file arrives bit-exact or not at all, what the receiver reads of modality m is either the
embedding of the decoded file or nothing: the codecs and the encoders on the decoded media run once
per test instance and codec setting (:func:`send_media`), never per draw or SNR point, and the
channel only decides which files are lost. A lost file, or one the codec cannot decode, is an
erasure: that modality's vector is the training mean of its embedding (what the nr link's ``erase``
delivers). The head is the conventional one, fitted on the embeddings of the original training
data (the training set is never compressed).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import codecs
from .schemes import SCHEMES, Conventional, SchemeOptions

_FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ImageCodec(BaseModel):
    model_config = _FROZEN
    codec: Literal["png", "jpeg", "webp"] = Field("png", description=(
        "png: lossless (of the 8-bit image); jpeg, webp: lossy at ``quality`` (Pillow)"))
    quality: int | None = Field(None, ge=1, le=100, description=(
        "JPEG/WebP quality 1..100 (Pillow's scale; default 75); not for png"))

    @model_validator(mode="after")
    def _quality(self) -> "ImageCodec":
        if self.codec == "png" and self.quality is not None:
            raise ValueError("png is lossless and takes no quality; use jpeg or webp for a quality")
        return self


class AudioCodec(BaseModel):
    model_config = _FROZEN
    codec: Literal["flac", "opus"] = Field("flac", description=(
        "flac: lossless (of 16-bit PCM); opus: lossy at ``bitrate_kbps`` (Ogg/Opus, libsndfile >= 1.0.29)"))
    bitrate_kbps: float | None = Field(None, ge=codecs.OPUS_KBPS[0], le=codecs.OPUS_KBPS[1], description=(
        "Opus target bitrate in kbit/s, 6..256 (default 24); not for flac"))

    @model_validator(mode="after")
    def _bitrate(self) -> "AudioCodec":
        if self.codec == "flac" and self.bitrate_kbps is not None:
            raise ValueError("flac is lossless and takes no bitrate_kbps; use opus for a bitrate")
        if self.codec == "opus" and not codecs.opus_available():
            raise ValueError("opus needs libsndfile >= 1.0.29 built with Ogg/Opus; this one has no OPUS subtype")
        return self


class TextCodec(BaseModel):
    model_config = _FROZEN
    codec: Literal["utf8", "zstd", "brotli"] = Field("utf8", description=(
        "the caption as UTF-8 bytes, as they are or zstd (level 22) / brotli (quality 11) compressed, no dictionary"))


class MediaOptions(SchemeOptions):
    image: ImageCodec = Field(ImageCodec(), description="codec of the image modality")
    audio: AudioCodec = Field(AudioCodec(), description="codec of the audio modality")
    text: TextCodec = Field(TextCodec(), description="codec of the text modality (captions)")


@SCHEMES.register("media")
class Media(Conventional):
    """Sends each modality's data as a file (see the module docstring); V = M, one file per modality.
    Its payload is the conventional one of the embeddings, what the head learns on and what the
    decoded files' embeddings replace at the receiver."""

    Options = MediaOptions
    sends_files = True

    def check_scenario(self, scenario, source, shapes: dict[str, tuple[int, ...]]) -> None:
        if not getattr(source, "media", True):
            raise ValueError(f"data source {scenario.data.source!r} holds embeddings, no media: the media scheme "
                             "has nothing to compress")
        if scenario.receiver.train_snr_db is not None:
            raise ValueError("the media scheme's receiver reads decoded files, not noisy embeddings: it takes no "
                             "noise-aware receiver (receiver.train_snr_db)")
        for m in scenario.data.modalities:
            shape = shapes[m]
            if m == "image" and not (len(shape) == 3 and shape[0] in (1, 3)):
                raise ValueError(f"image inputs of shape {shape} are not [1 or 3, H, W]: no image codec reads them")
            if m == "audio":
                rate = getattr(source, "sample_rate", None)
                if len(shape) != 1 or rate is None:
                    raise ValueError(f"audio inputs of shape {shape} are not one waveform with a sample rate")
                if self.options.audio.codec == "opus" and rate not in codecs.OPUS_RATES:
                    raise ValueError(f"opus takes sample rates {codecs.OPUS_RATES}, the data has {rate} Hz")
            if m not in ("image", "audio", "text"):
                raise ValueError(f"modality {m!r} has no codec (image, audio, text)")

    def max_file_bytes(self, shapes: dict[str, tuple[int, ...]]) -> list[int]:
        """Per modality (in ``shapes``' order), a bound on one instance's file: what the budgets count
        before the files exist (the run's allocation, the largest file, is at most this)."""
        o = self.options
        bound = {"image": lambda s: codecs.max_image_bytes(o.image.codec, s),
                 "audio": lambda s: codecs.max_audio_bytes(o.audio.codec, s[-1], o.audio.bitrate_kbps or 24.0),
                 "text": lambda s: codecs.max_text_bytes(s[-1])}
        return [bound[m](s) for m, s in shapes.items()]


@dataclass
class MediaFiles:
    """One codec setting's files of the test instances and what the receiver makes of them."""

    files: dict[str, list[bytes]]  # modality -> one file per instance
    embeddings: dict[str, torch.Tensor]  # modality -> [N, D] embeddings of the decoded files
    undecodable: torch.Tensor  # bool [N, M]: files the codec could not decode (always erased)
    stats: dict[str, dict[str, float]]  # modality -> mean_bytes, alloc_bytes, distortion, codec_s


def decode_file(modality: str, data: bytes, options: MediaOptions, like: np.ndarray, context_length: int):
    """A file's bytes -> the encoder's input (numpy), or None where the codec fails: an erasure."""
    try:
        if modality == "image":
            return codecs.decode_image(data, like.shape)
        if modality == "audio":
            return codecs.decode_audio(data, like.shape[-1])
        from ..data.captions import tokenize

        return tokenize([codecs.decode_text(data, options.text.codec)], context_length)[0].numpy()
    except Exception:  # noqa: BLE001 - any failure of a codec on received bytes is an erasure
        return None


def caption_of(ids: np.ndarray) -> str:
    """The caption a row of open_clip token ids spells (start, BPE tokens, end, zero padding)."""
    import open_clip

    tok = open_clip.tokenizer._tokenizer
    body = [int(i) for i in ids if int(i) not in (0, tok.encoder["<start_of_text>"], tok.encoder["<end_of_text>"])]
    return tok.decode(body).strip()


def _encode(modality: str, x: np.ndarray, options: MediaOptions, sample_rate: int | None) -> bytes:
    if modality == "image":
        quality = options.image.quality or 75
        return codecs.encode_image(x, options.image.codec, None if options.image.codec == "png" else quality)
    if modality == "audio":
        return codecs.encode_audio(x, options.audio.codec, options.audio.bitrate_kbps or 24.0, sample_rate)
    return codecs.encode_text(caption_of(x), options.text.codec)


def _distortion(modality: str, sent: np.ndarray, got: np.ndarray) -> float:
    """PSNR [dB] of images (peak 1), SNR [dB] of audio, character error rate of text."""
    if modality == "image":
        mse = float(np.mean((sent - got) ** 2))
        return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)
    if modality == "audio":
        err = float(np.sum((sent - got) ** 2))
        return float("inf") if err == 0 else 10.0 * np.log10(float(np.sum(sent ** 2)) / err)
    ref, out = caption_of(sent), caption_of(got)
    return codecs.char_errors(ref, out) / max(1, len(ref))


def send_media(options: MediaOptions, test, encoders, sample_rate: int | None) -> MediaFiles:
    """Encode every test instance's data once, decode it as the receiver does when nothing is lost,
    and embed the decoded media with the trained ``encoders`` (``test``: MultimodalData)."""
    from ..data.dataset import MultimodalData
    from ..training import embed

    files, decoded, undecodable, stats = {}, {}, [], {}
    for m, x in test.inputs.items():
        raw = x.detach().cpu().numpy()
        start = time.perf_counter()
        files[m] = [_encode(m, row, options, sample_rate) for row in raw]
        got = [decode_file(m, f, options, row, raw.shape[-1]) for f, row in zip(files[m], raw)]
        seconds = time.perf_counter() - start
        undecodable.append(torch.tensor([g is None for g in got]))
        got = np.stack([row if g is None else g.astype(raw.dtype) for g, row in zip(got, raw)])
        decoded[m] = torch.from_numpy(got).to(x.device, x.dtype)
        sizes = [len(f) for f in files[m]]
        dist = [_distortion(m, a, b) for a, b in zip(raw, got)]
        stats[m] = {"mean_bytes": float(np.mean(sizes)), "alloc_bytes": float(max(sizes)),
                    "distortion": float(np.mean(dist)), "codec_s": seconds}
    data = MultimodalData(decoded, test.labels, test.class_names, test.raw_sizes)
    with torch.no_grad():
        z = embed(encoders, data)
    return MediaFiles(files, z, torch.stack(undecodable, 1), stats)


def file_bytes(files: list[bytes]) -> torch.Tensor:
    """uint8 [N, L]: each file zero-padded to the largest (the modality's fixed allocation)."""
    out = np.zeros((len(files), max(len(f) for f in files)), dtype=np.uint8)
    for i, f in enumerate(files):
        out[i, : len(f)] = np.frombuffer(f, dtype=np.uint8)
    return torch.from_numpy(out)
