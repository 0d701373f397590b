#!/usr/bin/env python3
"""Write a small example file for the ``embeddings`` data source (scenarios/embeddings_example.yaml).

Stand-in embeddings of three modalities (``image``, ``audio``, ``text``) for ``--classes`` classes:
each class has a random direction in D dimensions, each modality adds its own fixed offset (so the
modality gap is visible in the latent measures), and every row adds Gaussian noise. The file holds
``image``, ``audio``, ``text`` [N, D] float32, ``labels`` [N] int64 and ``split`` [N] ('train' /
'test', a stratified 80/20 split). With the defaults it is about 230 kB.

Real embeddings go into the same layout, e.g. from CLIP:
``numpy.savez(path, image=clip_image_embeddings, text=clip_text_embeddings, labels=classes)``.

    python scripts/make_embeddings_example.py            # writes runs/embeddings_example.npz
    semcom-sim run scenarios/embeddings_example.yaml
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODALITIES = ("image", "audio", "text")


def make(n: int, dim: int, classes: int, seed: int, noise: float = 1.0, offset: float = 0.5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    centres = rng.normal(size=(classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out: dict[str, np.ndarray] = {}
    for m in MODALITIES:
        shift = rng.normal(size=dim)
        shift *= offset / np.linalg.norm(shift)
        x = centres[labels] + shift + noise / np.sqrt(dim) * rng.normal(size=(n, dim))
        out[m] = x.astype(np.float32)
    split = np.full(n, "train")
    for c in range(classes):  # a stratified 20 % test split
        rows = rng.permutation(np.flatnonzero(labels == c))
        split[rows[: max(1, round(0.2 * len(rows)))]] = "test"
    out["labels"] = labels.astype(np.int64)
    out["split"] = split
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "embeddings_example.npz", help="file to write")
    ap.add_argument("--n", type=int, default=600, help="instances")
    ap.add_argument("--dim", type=int, default=32, help="embedding dimension D")
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    arrays = make(args.n, args.dim, args.classes, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as f:  # an open file: savez would otherwise append .npz to other names
        np.savez(f, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB: {args.n} instances, D = {args.dim}, "
          f"{args.classes} classes, modalities {', '.join(MODALITIES)})")


if __name__ == "__main__":
    main()
