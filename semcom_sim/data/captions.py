"""Caption text for class words, tokenised with open_clip's bundled BPE tokenizer."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

# {w}: the class word ("three"), {d}: the digit ("3")
DIGIT_TEMPLATES: tuple[str, ...] = (
    "{w}",
    "the digit {d}",
    "a handwritten {w}",
    "the number {w}",
    "a picture of the digit {w}",
    "someone saying {w}",
    "digit {d} written by hand",
    "the spoken word {w}",
    "a {w}",
    "number {d}",
)


def sample_captions(labels: np.ndarray, words: Sequence[str], rng: np.random.Generator,
                    templates: Sequence[str] = DIGIT_TEMPLATES,
                    fields: Sequence[Mapping[str, object]] | None = None) -> list[str]:
    """One caption per label, its template drawn uniformly from ``templates``; a template may use
    ``{w}`` (``words[y]``), ``{d}`` (the label) and, where ``fields`` is given, the keys of
    ``fields[y]`` (more per-class values, e.g. a number's digits)."""
    choice = rng.integers(0, len(templates), size=len(labels))
    if fields is None:
        return [templates[t].format(w=words[y], d=y) for t, y in zip(choice, labels)]
    return [templates[t].format(w=words[y], d=y, **fields[y]) for t, y in zip(choice, labels)]


def token_count(templates: Sequence[str], words: Sequence[str], context_length: int,
                fields: Sequence[Mapping[str, object]] | None = None) -> int:
    """Distinct token ids (padding included) among every caption the templates can give for every
    class, as tokenised: what a caption decoder's vocabulary can hold at most, known without data."""
    texts = [t.format(w=w, d=y, **(fields[y] if fields is not None else {}))
             for y, w in enumerate(words) for t in templates]
    return int(tokenize(texts, context_length).unique().numel())


def tokenize(texts: Sequence[str], context_length: int) -> torch.Tensor:
    """int64 [len(texts), context_length] token ids (start, BPE tokens, end, zero padding)."""
    import open_clip

    return open_clip.tokenize(list(texts), context_length=context_length)
