"""The ``clip_image`` and ``clip_text`` encoders: CLIP image and text towers built from open_clip
model configs, optionally with pretrained weights.

``model`` names an open_clip config ("ViT-B-32", "RN50", ..., or ``semcom-tiny-clip`` shipped in
``model_configs/`` for tests and CPU runs); ``pretrained`` is an open_clip tag
("laion2b_s34b_b79k") or a local checkpoint file. Each encoder keeps one tower and adds a
trainable linear map from the CLIP embedding to ``dim``.
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import ENCODERS
from .base import Encoder

_CLIP_VOCAB_SIZE = 49408  # open_clip.tokenize's BPE vocabulary
# One metadata request decides whether the hub answers; hf_hub_download itself retries a failed
# connection five times with backoff (about 25 s measured here) before giving up.
_PROBE_TIMEOUT_S = 5.0


@functools.cache
def load_open_clip():
    """open_clip with our bundled configs added; imported on first use because it pulls in
    torchvision and timm (seconds), which a CLI call that builds no CLIP tower never needs."""
    import open_clip

    open_clip.add_model_config(Path(__file__).parent / "model_configs")
    return open_clip


def _model_config(model: str) -> dict:
    open_clip = load_open_clip()
    if model not in open_clip.list_models():
        raise ValueError(f"unknown open_clip model config {model!r}: open_clip.list_models() gives the "
                         f"{len(open_clip.list_models())} known names (e.g. ViT-B-32, RN50, semcom-tiny-clip)")
    cfg = open_clip.get_model_config(model)
    if "multimodal_cfg" in cfg:
        raise ValueError(f"model {model!r} is a CoCa captioner, whose towers also return tokens; "
                         "use a contrastive CLIP config")
    return cfg


def _hub_offline() -> bool:
    from huggingface_hub.constants import is_offline_mode

    # huggingface_hub reads HF_HUB_OFFLINE once, at import; read it again so a later setting counts
    return is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


def _unfetchable(model: str, tag: str, why: str) -> ValueError:
    return ValueError(f"pretrained tag {tag!r} of model {model!r} could not be fetched ({why}): download it "
                      "elsewhere and give its local path as pretrained: /path/to/open_clip_pytorch_model.bin")


def _fetch_tag(model: str, tag: str, cfg: dict) -> str:
    """Local file of a pretrained tag's checkpoint: from the Hugging Face cache, else downloaded."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url, try_to_load_from_cache
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    if not cfg.get("hf_hub"):
        raise _unfetchable(model, tag, "the tag names no Hugging Face repository")
    repo_id, filename = os.path.split(cfg["hf_hub"])  # "org/repo/" or "org/repo/file"
    filename = filename or HF_WEIGHTS_NAME
    # open_clip fetches the safetensors twin of a checkpoint when the repository has one
    twin = HF_SAFE_WEIGHTS_NAME if filename == HF_WEIGHTS_NAME else str(Path(filename).with_suffix(".safetensors"))
    for name in (twin, filename):
        cached = try_to_load_from_cache(repo_id, name)
        if isinstance(cached, str):
            return cached
    if _hub_offline():
        raise _unfetchable(model, tag, "not in the Hugging Face cache and HF_HUB_OFFLINE is set")
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, filename), timeout=_PROBE_TIMEOUT_S)
    except Exception as e:  # the transport's error types differ between huggingface_hub releases
        first_line = (str(e).splitlines() or [type(e).__name__])[0]
        raise _unfetchable(model, tag, f"no network? {first_line}") from e
    return load_open_clip().download_pretrained(cfg)


def _checkpoint(model: str, pretrained: str) -> tuple[str, dict]:
    """The checkpoint file ``pretrained`` stands for, and its tag's settings ({} for a file)."""
    open_clip = load_open_clip()
    tag_cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if tag_cfg:
        return _fetch_tag(model, pretrained, tag_cfg), tag_cfg
    path = Path(pretrained).expanduser()
    if path.is_file():
        return str(path), {}
    tags = open_clip.list_pretrained_tags_by_model(model)
    raise ValueError(f"pretrained {pretrained!r} of model {model!r} is neither a file nor a known tag "
                     f"(tags: {', '.join(tags) or 'none'})")


def _not_random_init_notice(record: logging.LogRecord) -> bool:
    # open_clip warns on the root logger whenever no checkpoint is loaded; without ``pretrained``
    # a random start is what was asked for
    return not record.getMessage().startswith("No pretrained weights loaded")


def _load_clip(model: str, pretrained: str | None) -> nn.Module:
    """An open_clip CustomTextCLIP on the CPU, random or loaded from ``pretrained``."""
    path, tag_cfg = _checkpoint(model, pretrained) if pretrained else (None, {})
    root = logging.getLogger()
    root.addFilter(_not_random_init_notice)
    try:
        # force_custom_text puts every config's text tower in one module (clip.text); open_clip
        # converts plain-CLIP checkpoints to that layout as it loads them (torch.load, weights_only).
        # A tag's mean/std and QuickGELU belong to the tag, not to the file it resolved to.
        return load_open_clip().create_model(model, pretrained=path, force_custom_text=True,
                                      force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
                                      force_preprocess_cfg=tag_cfg)
    finally:
        root.removeFilter(_not_random_init_notice)


class _Pixels(nn.Module):
    """[N, C, H, W] in [0, 1], C = 1 or 3 -> [N, 3, *size], normalised as the tower expects."""

    def __init__(self, size: int | tuple[int, int], mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.mean, self.std = tuple(mean), tuple(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # antialias only acts when shrinking (large photos); 8x8 or 28x28 digits are enlarged
        x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        x = x.expand(-1, 3, -1, -1)
        return (x - x.new_tensor(self.mean).view(1, 3, 1, 1)) / x.new_tensor(self.std).view(1, 3, 1, 1)


class _PadTokens(nn.Module):
    """int64 [N, L] -> [N, context_length] zero-padded: the tower's causal mask is sized for its
    full context, and the padding never moves the pooled end-of-text token (the largest id)."""

    def __init__(self, context_length: int):
        super().__init__()
        self.context_length = context_length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, self.context_length - x.shape[1]))


class _ClipTower(Encoder):
    """front end -> CLIP tower -> linear map to ``dim``.

    With ``freeze`` the tower is a fixed function (no gradients, always in eval mode, so BatchNorm
    statistics and dropout never change), so ``prepare`` runs it once per data set and each
    training step only runs the projection; otherwise ``prepare`` passes inputs through and the
    front end runs per batch (a data set resized to 224x224 RGB would not fit in memory).
    """

    def __init__(self, dim: int, front: nn.Module, tower: nn.Module, embed_dim: int, freeze: bool):
        super().__init__()
        self.front = front
        self.tower = tower
        self.proj = nn.Linear(embed_dim, dim)
        self.freeze = bool(freeze)
        if self.freeze:
            self.tower.requires_grad_(False)
            self.tower.eval()

    def train(self, mode: bool = True) -> "_ClipTower":
        super().train(mode)
        if self.freeze:
            self.tower.eval()
        return self

    @torch.no_grad()
    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return self.tower(self.front(x)) if self.freeze else x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x if self.freeze else self.tower(self.front(x)))


@ENCODERS.register("clip_image")
class ClipImage(_ClipTower):
    """input [N, C, H, W] in [0, 1], C = 1 or 3, any H x W -> [N, D].

    Bilinear resize to the tower's image size, grey repeated to RGB, normalisation with the mean/std
    of the model's preprocessing config (the tag's, else open_clip's OpenAI defaults).
    """

    modality = "image"

    def __init__(self, dim: int, input_shape: tuple[int, ...], *, model: str, pretrained: str | None = None,
                 freeze: bool = False):
        if len(input_shape) != 3 or input_shape[0] not in (1, 3):
            raise ValueError(f"clip_image expects [C, H, W] images with 1 or 3 channels, got shape {input_shape}")
        embed_dim = _model_config(model)["embed_dim"]
        clip = _load_clip(model, pretrained)
        pp = clip.visual.preprocess_cfg
        super().__init__(dim, _Pixels(pp["size"], pp["mean"], pp["std"]), clip.visual, embed_dim, freeze)


@ENCODERS.register("clip_text")
class ClipText(_ClipTower):
    """input int64 [N, L] token ids from ``open_clip.tokenize(texts, context_length=L)``, L up to the
    model's context length -> [N, D]."""

    modality = "text"

    def __init__(self, dim: int, input_shape: tuple[int, ...], *, model: str, pretrained: str | None = None,
                 freeze: bool = False):
        if len(input_shape) != 1:
            raise ValueError(f"clip_text expects [L] token ids, got shape {input_shape}")
        from open_clip.model import CLIPTextCfg

        cfg = _model_config(model)
        text_cfg = CLIPTextCfg(**cfg["text_cfg"])  # the config's values over open_clip's defaults
        if (text_cfg.hf_model_name or text_cfg.hf_tokenizer_name or text_cfg.vocab_size != _CLIP_VOCAB_SIZE
                or text_cfg.pool_type != "argmax"):
            raise ValueError(f"model {model!r} reads another tokenizer's ids; clip_text needs a CLIP-BPE text tower "
                             "(open_clip.tokenize), such as ViT-B-32's")
        (length,) = input_shape
        if not 1 <= length <= text_cfg.context_length:
            raise ValueError(f"token length {length} is outside 1..{text_cfg.context_length}, "
                             f"the context length of {model!r}")
        clip = _load_clip(model, pretrained)
        super().__init__(dim, _PadTokens(text_cfg.context_length), clip.text, cfg["embed_dim"], freeze)
