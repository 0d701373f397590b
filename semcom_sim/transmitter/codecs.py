"""The standard codecs of the ``media`` scheme: one modality's data of one instance <-> the bytes of
one file, container and headers included (every byte crosses the channel).

images: float [C, H, W] in [0, 1], C = 1 or 3, stored as 8-bit samples (what a camera gives:
        round(255 x)); PNG (lossless, of the 8-bit image), JPEG and WebP at a quality (Pillow);
audio:  float [L] waveform, clipped to [-1, 1]; FLAC of 16-bit PCM (lossless, of the 16-bit
        samples) and Ogg/Opus at a bitrate (libsndfile through ``soundfile``);
text:   the caption as UTF-8, as it is or zstd or brotli compressed at their highest levels, no
        trained dictionary (the bytes are the caption's own).

Decoding raises on anything that is not a valid file of the expected shape; the caller counts that
as an erasure.
"""
from __future__ import annotations

import io

import numpy as np

IMAGE_CODECS = ("png", "jpeg", "webp")
AUDIO_CODECS = ("flac", "opus")
TEXT_CODECS = ("utf8", "zstd", "brotli")
# libsndfile's Opus encoder takes only these rates; its compression level maps linearly onto
# 256 kbit/s (level 0) .. 6 kbit/s (level 1) per channel (libsndfile ogg_opus.c)
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
OPUS_KBPS = (6.0, 256.0)
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
# Bounds on one file's bytes from the input's shape alone, for the budgets (before any data is read).
# Measured on white noise, the least compressible input (tests/transmitter/test_media.py): PNG stores it
# as raw rows plus 68 bytes of chunks and zlib framing; JPEG/WebP at quality 100 stay under 1.5
# bytes a sample plus their headers (JPEG: about 340 grey, 680 RGB); FLAC falls back to verbatim
# 16-bit frames, 2 bytes a sample plus about 100; Ogg/Opus spends its nominal bitrate plus Ogg pages
# and the codec's floor (1 s at 8 kHz: 2.4 kB at 6 kbit/s, 33.6 kB at 256 kbit/s); a caption has at most
# as many BPE tokens as the context, each at most 32 UTF-8 bytes (open_clip's vocabulary).
LOSSY_IMAGE_BYTES_PER_SAMPLE, LOSSY_IMAGE_HEADER = 2, 700
OPUS_SLACK_KBPS, OPUS_PAGES_BYTES = 12.0, 1000
TOKEN_BYTES, TEXT_FRAME_BYTES = 32, 32


def opus_available() -> bool:
    """libsndfile built with Ogg/Opus (1.0.29 and later)."""
    import soundfile

    return "OPUS" in soundfile.available_subtypes("OGG")


def max_image_bytes(codec: str, shape: tuple[int, ...]) -> int:
    """At most this many bytes for an image input of ``shape`` [C, H, W] (see the bounds above)."""
    samples = shape[0] * shape[1] * shape[2]
    if codec == "png":
        return samples + shape[1] + 68  # one filter byte a row
    return LOSSY_IMAGE_BYTES_PER_SAMPLE * samples + LOSSY_IMAGE_HEADER


def max_audio_bytes(codec: str, samples: int, bitrate_kbps: float) -> int:
    """At most this many bytes for ``samples`` audio samples; Opus's duration is bounded at its
    lowest sample rate, 8 kHz, so the bound needs no sample rate."""
    if codec == "flac":
        return 2 * samples + 128 + samples // 256
    seconds = samples / OPUS_RATES[0]
    return int((bitrate_kbps + OPUS_SLACK_KBPS) * 125 * seconds) + OPUS_PAGES_BYTES


def max_text_bytes(tokens: int) -> int:
    """At most this many bytes for a caption of ``tokens`` token ids (start and end included)."""
    return TOKEN_BYTES * max(0, tokens - 2) + TEXT_FRAME_BYTES


def encode_image(x: np.ndarray, codec: str, quality: int | None) -> bytes:
    from PIL import Image

    pixels = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels[0]) if pixels.shape[0] == 1 else Image.fromarray(pixels.transpose(1, 2, 0), "RGB")
    out = io.BytesIO()
    if codec == "png":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, _PIL_FORMAT[codec], quality=quality)
    return out.getvalue()


def decode_image(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image.convert("L" if shape[0] == 1 else "RGB"), dtype=np.float32) / 255.0
    pixels = pixels[None] if shape[0] == 1 else pixels.transpose(2, 0, 1)
    if pixels.shape != tuple(shape):
        raise ValueError(f"decoded image has shape {pixels.shape}, expected {tuple(shape)}")
    return pixels


def encode_audio(x: np.ndarray, codec: str, bitrate_kbps: float | None, sample_rate: int) -> bytes:
    import soundfile

    out = io.BytesIO()
    wave = np.clip(x, -1.0, 1.0).astype(np.float32)
    if codec == "flac":
        soundfile.write(out, wave, sample_rate, format="FLAC", subtype="PCM_16")
    else:
        lo, hi = OPUS_KBPS
        soundfile.write(out, wave, sample_rate, format="OGG", subtype="OPUS",
                        compression_level=(hi - bitrate_kbps) / (hi - lo))
    return out.getvalue()


def decode_audio(data: bytes, length: int) -> np.ndarray:
    """The waveform, cut or zero-padded to ``length`` samples (Opus frames round the length up)."""
    import soundfile

    wave, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if wave.ndim != 1:
        raise ValueError(f"decoded audio has {wave.shape[1]} channels, expected 1")
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(wave))] = wave[:length]
    return out


def encode_text(text: str, codec: str) -> bytes:
    data = text.encode("utf-8")
    if codec == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=22).compress(data)
    if codec == "brotli":
        import brotli

        return brotli.compress(data, quality=11)
    return data


def decode_text(data: bytes, codec: str) -> str:
    if codec == "zstd":
        import zstandard

        data = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 20)
    elif codec == "brotli":
        import brotli

        data = brotli.decompress(data)
    return data.decode("utf-8")


def char_errors(sent: str, got: str) -> int:
    """Levenshtein distance (characters inserted, deleted or substituted)."""
    row = list(range(len(got) + 1))
    for i, a in enumerate(sent, 1):
        prev, row[0] = row[0], i
        for j, b in enumerate(got, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (a != b))
    return row[-1]
