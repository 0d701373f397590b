"""Image-caption pairs from a CSV file, open_clip's training-data convention.

One row per pair: an image path column (``filepath``), a caption column (``title``), separated by a
tab by default, as open_clip's ``--csv-img-key/--csv-caption-key/--csv-separator``. Relative image
paths are relative to the CSV file. An optional label column gives one class per row (single-label)
or several joined by ``label_sep`` (multi-label, e.g. ``cat|dog``); the receiver's heads need it.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import SOURCES
from .captions import tokenize
from .dataset import MultimodalData
from .source import DataSource


@SOURCES.register("image_caption")
class ImageCaptionSource(DataSource):
    modalities = ("image", "text")

    def __init__(self, *, csv_path: str | None = None, img_key: str = "filepath", caption_key: str = "title",
                 sep: str = "\t", label_key: str = "label", label_sep: str = "|", image_size: int = 32,
                 context_length: int = 32):
        if not csv_path:
            raise ValueError("csv_path: the image-caption source needs a CSV file")
        self.csv_path = Path(csv_path).expanduser()
        if not self.csv_path.is_file():
            raise ValueError(f"csv_path: file {self.csv_path} does not exist")
        if image_size < 4 or context_length < 4:
            raise ValueError("image_size and context_length must be >= 4")
        self.img_key, self.caption_key, self.sep = img_key, caption_key, sep
        self.label_key, self.label_sep = label_key, label_sep
        self.image_size, self.context_length = int(image_size), int(context_length)

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"image": (3, self.image_size, self.image_size), "text": (self.context_length,)}

    def instance_counts(self, test_fraction: float, limit: int | None = None) -> tuple[int, int]:
        """(train, test) sizes that ``load`` returns, from the CSV's rows (no image is read);
        ``semcom_sim.scenario.budget`` budgets a run with them before any work."""
        n = len(self._rows())
        n = min(n, limit) if limit else n
        n_te = math.ceil(test_fraction * n)  # train_test_split's rounding
        return n - n_te, n_te

    def _rows(self) -> list[dict[str, str]]:
        with open(self.csv_path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter=self.sep))
        for key in (self.img_key, self.caption_key, self.label_key):
            if rows and key not in rows[0]:
                raise ValueError(f"{self.csv_path}: no column {key!r} (columns: {', '.join(rows[0])})")
        if len(rows) < 4:
            raise ValueError(f"{self.csv_path}: needs at least 4 rows, has {len(rows)}")
        return rows

    def _image(self, path: str) -> np.ndarray:
        p = Path(path) if Path(path).is_absolute() else self.csv_path.parent / path
        with Image.open(p) as im:
            im = im.convert("RGB").resize((self.image_size, self.image_size), Image.BILINEAR)
            return np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0

    def load(self, cache_dir: Path, seed: int, test_fraction: float,
             limit: int | None = None) -> tuple[MultimodalData, MultimodalData]:
        from sklearn.model_selection import train_test_split  # 0.7 s to import: not at start-up

        rows = self._rows()
        if limit:
            rows = [rows[i] for i in np.sort(np.random.default_rng(seed).permutation(len(rows))[:limit])]
        tags = [[t.strip() for t in r[self.label_key].split(self.label_sep) if t.strip()] for r in rows]
        classes = tuple(sorted({t for ts in tags for t in ts}))
        index = {c: i for i, c in enumerate(classes)}
        multilabel = any(len(ts) != 1 for ts in tags)
        if multilabel:
            labels = torch.zeros(len(rows), len(classes))
            for i, ts in enumerate(tags):
                labels[i, [index[t] for t in ts]] = 1.0
        else:
            labels = torch.tensor([index[ts[0]] for ts in tags], dtype=torch.int64)
        images = torch.from_numpy(np.stack([self._image(r[self.img_key]) for r in rows]))
        data = MultimodalData(
            inputs={"image": images, "text": tokenize([r[self.caption_key] for r in rows], self.context_length)},
            labels=labels, class_names=classes,
            raw_sizes={"image": 3 * self.image_size ** 2, "text": self.context_length},
        )
        idx = np.arange(len(rows))
        stratify = None
        if not multilabel:
            counts = np.bincount(labels.numpy())
            n_te = math.ceil(test_fraction * len(rows))
            # train_test_split stratifies only with two rows per class and every class fitting on both sides
            if counts.min() >= 2 and min(n_te, len(rows) - n_te) >= len(counts):
                stratify = labels.numpy()
        tr, te = train_test_split(idx, test_size=test_fraction, random_state=seed % 2**32, stratify=stratify)
        return data.subset(np.sort(tr)), data.subset(np.sort(te))
