"""results.csv: one row per scheme x channel x RFS fraction x SNR, plus noiseless references."""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path

from .folders import write_atomic

RESULT_COLUMNS = (
    "scheme", "channel", "link", "snr_db", "snr_instance_db", "rx_train", "rfs_keep", "payload_dims", "tti", "toi", "tti_toi",
    "channel_uses", "bits", "acc_top1", "acc_top5", "acc_top1_capacity", "r1", "r5",
    "ber", "bler", "mc_draws", "n_test",
)
NOISELESS = "none"  # channel name of the noiseless reference rows (snr_db = inf)


def _fmt(v) -> str:
    # fixed formatting so that identical numbers give byte-identical files
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.6g}"
    return "" if v is None else str(v)


def write_results(rows: list[dict], path: Path, leading: tuple[str, ...] = RESULT_COLUMNS) -> None:
    """``leading`` columns first, then any further columns the rows carry (e.g. map, micro_f1)."""
    extra = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in leading]
    columns = list(leading) + extra
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r[c]) if c in r else "" for c in columns])
    write_atomic(Path(path), buf.getvalue())  # an interrupted sweep never leaves half a table


def read_results(path: Path, text: Iterable[str] = ()) -> list[dict]:
    """Rows of a table written by :func:`write_results` (results.csv, a sweep's cells.csv), with
    numbers parsed back (ints stay ints, ``inf`` is a float, an empty cell stays ``""``); the
    ``text`` columns keep the string as written, for values that are labels rather than numbers
    (a sweep's grid values: ``1e-05`` stays ``1e-05`` and ``1`` stays ``1``, not ``1.0``)."""
    text = frozenset(text)
    out = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = {}
            for k, v in r.items():
                if k in text:
                    row[k] = v
                    continue
                try:
                    row[k] = int(v)
                except ValueError:
                    try:
                        row[k] = float(v)
                    except ValueError:
                        row[k] = v
            out.append(row)
    return out
