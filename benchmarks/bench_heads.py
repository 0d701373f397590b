"""The receiver's heads against scikit-learn's: top-1 of whole runs, and the time to fit.

The heads (``receiver/heads.py``) solve scikit-learn's ``LogisticRegression`` objective with SciPy's
L-BFGS-B, the loss and gradient computed in torch in the run's dtype. This runs a scenario twice in
one process, once with the heads as shipped and once with ``sklearn_head`` below (scikit-learn's
own fit in float64: the solver the heads replaced, kept here as the reference), each with a cache
of its own but the encoders shared, and prints, over every results.csv row (scheme, RFS fraction,
link, channel, SNR point): the largest difference of ``acc_top1`` in points, where it is, and the
seconds spent fitting heads either way. With ``--self``, scikit-learn against itself instead: its
BLAS on two threads against one, where only the order of the sums differs (the reproducibility
of scikit-learn's own heads, the yardstick of the difference above).

Run: OMP_NUM_THREADS=2 python benchmarks/bench_heads.py [scenarios/three_modality.yaml scenarios/numbers.yaml] [--self]
     python benchmarks/bench_heads.py --smoke   (scenarios/tiny.yaml: the code path, for CI)
"""
from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
KEYS = ("scheme", "rfs_keep", "link", "channel", "snr_db")


def sklearn_head(features: torch.Tensor, labels: torch.Tensor, l2: float, tol: float):
    """scikit-learn's LogisticRegression(C = 1/l2, tol, max_iter 2000), fitted in float64 on the CPU,
    as a LinearHead in the features' dtype and device (single-label data)."""
    from sklearn.linear_model import LogisticRegression

    from semcom_sim.receiver.heads import LinearHead

    clf = LogisticRegression(C=1.0 / l2 if l2 > 0 else np.inf, max_iter=2000, tol=tol).fit(
        features.detach().double().cpu().numpy(), labels.cpu().numpy())
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # two classes: one logit, of class 1 against class 0
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return LinearHead(torch.as_tensor(coef, dtype=features.dtype, device=features.device),
                      torch.as_tensor(intercept, dtype=features.dtype, device=features.device))


def sklearn_head_one_thread(features: torch.Tensor, labels: torch.Tensor, l2: float, tol: float):
    """``sklearn_head`` with its BLAS on one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return sklearn_head(features, labels, l2, tol)


def run(scenario: Path, out: Path, cache: Path, fit) -> tuple[dict, float]:
    """results.csv rows keyed by KEYS, and the seconds spent in ``fit``, of one run with ``fit`` as
    the receiver's "logistic" head."""
    from semcom_sim import pipeline
    from semcom_sim.receiver.heads import HEADS
    from semcom_sim.scenario import load_scenario

    spent = [0.0]

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fit(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    raw = yaml.safe_load(scenario.read_text())
    raw.setdefault("data", {})["cache_dir"] = str(cache)
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    shipped = HEADS._entries["logistic"]
    HEADS._entries["logistic"] = timed
    try:
        pipeline.run(load_scenario(path), out, scenario_path=path)
    finally:
        HEADS._entries["logistic"] = shipped
    with open(out / "results.csv", newline="") as f:
        rows = {tuple(r[k] for k in KEYS): float(r["acc_top1"]) for r in csv.DictReader(f)}
    return rows, spent[0]


def compare(scenario: Path, work: Path, against_itself: bool = False) -> dict:
    """Both runs of ``scenario``; the largest top-1 difference in points, where, and the fit times
    (``against_itself``: scikit-learn's heads on two BLAS threads as "shipped", on one as reference)."""
    from semcom_sim.receiver.heads import fit_linear_head

    first = sklearn_head if against_itself else fit_linear_head
    shipped, t_shipped = run(scenario, work / "shipped", work / "cache-shipped", first)
    # the encoders trained by the first run serve the second: only the heads' entries differ
    shutil.copytree(work / "cache-shipped", work / "cache-sklearn", ignore=shutil.ignore_patterns("heads"))
    reference, t_reference = run(scenario, work / "sklearn", work / "cache-sklearn",
                                 sklearn_head_one_thread if against_itself else sklearn_head)
    assert shipped.keys() == reference.keys()
    where = max(shipped, key=lambda k: abs(shipped[k] - reference[k]))
    return {"scenario": scenario.name, "rows": len(shipped),
            "max_diff_points": 100 * abs(shipped[where] - reference[where]), "where": dict(zip(KEYS, where)),
            "fit_s_shipped": t_shipped, "fit_s_sklearn": t_reference}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", type=Path,
                    default=[REPO / "scenarios" / "three_modality.yaml", REPO / "scenarios" / "numbers.yaml"])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--self", dest="against_itself", action="store_true",
                    help="scikit-learn's heads, BLAS on two threads against one")
    args = ap.parse_args()
    scenarios = [REPO / "scenarios" / "tiny.yaml"] if args.smoke else args.scenarios
    for scenario in scenarios:
        with tempfile.TemporaryDirectory() as tmp:
            r = compare(scenario, Path(tmp), args.against_itself)
        names = ("scikit-learn, 2 BLAS threads", "1 thread") if args.against_itself else ("shipped", "scikit-learn")
        print(f"{r['scenario']}: {r['rows']} rows, largest |top-1 difference| {r['max_diff_points']:.3f} points "
              f"at {r['where']}; heads fitted in {r['fit_s_shipped']:.1f} s ({names[0]}) vs "
              f"{r['fit_s_sklearn']:.1f} s ({names[1]})", flush=True)


if __name__ == "__main__":
    main()
