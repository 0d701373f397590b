"""results.csv: one row per scheme x channel x RFS fraction x SNR, plus noiseless references."""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path

from ..errors import UserError
from .atomic import write_atomic

RESULT_COLUMNS = (
    "scheme", "channel", "link", "snr_db", "snr_instance_db", "rx_train", "rfs_keep", "payload_dims", "tti", "toi", "tti_toi",
    "channel_uses", "bits", "acc_top1", "acc_top5", "acc_top1_capacity", "r1", "r5",
    "ber", "bler", "payload_mse", "mc_draws", "n_test",
)
NOISELESS = "none"  # channel name of the noiseless reference rows (snr_db = inf)
_NUMERIC = frozenset(RESULT_COLUMNS) - {"scheme", "channel", "link", "rx_train"}
# filled in every row; the other numeric columns are empty where they do not apply (ber: analog rows)
_REQUIRED = frozenset({"snr_db", "snr_instance_db", "rfs_keep", "payload_dims", "tti", "toi", "tti_toi",
                       "channel_uses", "mc_draws", "n_test"})


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


def _number(v: str) -> int | float | str:
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def read_results(path: Path, text: Iterable[str] = ()) -> list[dict]:
    """Rows of a table written by :func:`write_results` (results.csv, a sweep's cells.csv), with
    numbers parsed back (ints stay ints, ``inf`` is a float, an empty cell stays ``""``); the
    ``text`` columns keep the string as written, for values that are labels rather than numbers
    (a sweep's grid values: ``1e-05`` stays ``1e-05`` and ``1`` stays ``1``, not ``1.0``).

    A row whose cells do not match the header, text in a numeric column of RESULT_COLUMNS, or an
    empty cell in a column every row fills is a UserError naming the file, the line and the column:
    ``compare`` reads tables the user may have edited."""
    text = frozenset(text)
    out = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, [])
            for cells in reader:
                if not cells:  # a blank line, as csv.DictReader skips it
                    continue
                if len(cells) != len(header):
                    raise UserError(f"line {reader.line_num}: {len(cells)} cells, but the header has {len(header)} "
                                    "columns", source=str(path))
                row = {}
                for k, v in zip(header, cells):
                    row[k] = v if k in text else _number(v)
                    if k in text or not isinstance(row[k], str) or k not in _NUMERIC:
                        continue
                    if v or k in _REQUIRED:
                        what = "is empty" if not v else f"holds {v[:40]!r}"
                        raise UserError(f"line {reader.line_num}: {what}, not a number", source=str(path), field=k)
                out.append(row)
        except csv.Error as e:
            raise UserError(f"line {reader.line_num}: not a CSV table ({e})", source=str(path)) from None
    return out
