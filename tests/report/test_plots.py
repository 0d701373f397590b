"""Plots drawn from results rows: every requested SNR point is drawn, none silently dropped."""
import math

import matplotlib

matplotlib.use("Agg")

from semcom_sim.report import plots  # noqa: E402


def test_bandwidth_plot_draws_every_picked_snr(tmp_path, monkeypatch):
    rows = [dict(scheme="centroid", link="analog", channel="none" if math.isinf(s) else "awgn", snr_db=s,
                 tti=10, channel_uses=5, acc_top1=0.5, rfs_keep=1.0)
            for s in [math.inf, 0.0, 5.0, 10.0, 15.0, 20.0]]
    drawn = []
    real_plot = matplotlib.axes.Axes.plot

    def spy(self, *args, **kwargs):
        drawn.append((kwargs["label"], tuple(kwargs["color"]) if not isinstance(kwargs["color"], str)
                      else kwargs["color"]))
        return real_plot(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", spy)
    plots.plot_accuracy_vs_bandwidth(rows, tmp_path / "bw.png", snrs_db=(0, 5, 10, 15, 20))
    assert (tmp_path / "bw.png").is_file()
    labels = [label for label, _ in drawn]
    assert len(drawn) == 6 and all(f"{s:g} dB" in " ".join(labels) for s in (0, 5, 10, 15, 20))
    assert len({color for _, color in drawn}) == 6  # noiseless plus five distinct SNR colours
