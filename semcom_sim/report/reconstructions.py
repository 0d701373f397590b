"""Original vs reconstructed test instances, saved as data and drawn from that file."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def reconstruction_examples(shown: dict, originals: dict, preset, snr_db: tuple[float, ...], payload_dims: int,
                            runtime, count: int = 8) -> dict:
    """The first ``count`` test instances decoded by each scheme (``payload_dims`` = T kept
    coordinates, channel ``preset``) at the SNRs ``snr_db``: what the example picture shows.
    ``shown`` maps each scheme, in the order shown, to (test payload, fitted link, fitted receiver)."""
    from ..channel import build_channel, snr_db_to_noise_var
    from ..links import by_link

    out = {"snr_db": list(snr_db), "channel": preset.name, "original": {m: t[:count] for m, t in originals.items()}}
    no = snr_db_to_noise_var(torch.tensor(snr_db, dtype=torch.float64)).to(runtime.device, runtime.dtype)
    for scheme, (p_test, link, receiver) in shown.items():
        runtime.seed_sionna("examples", scheme, payload_dims)
        channel = build_channel(preset, runtime.device, runtime.sionna_precision)
        # a link that adapts its rate sends each SNR at its own rate (one group otherwise)
        parts, order = [], []
        for lk, idx in by_link(link.at_snr(list(snr_db), False, p_test.shape[1])):
            parts.append(lk.receive(channel, lk.send(p_test[:count]), no[idx], 1)[0])
            order += idx
        payload_hat = torch.cat(parts)[torch.tensor(order).argsort()]
        out[scheme] = receiver.reconstruct(payload_hat.squeeze(1))
    return out

def save_reconstructions(path: Path, examples: dict) -> None:
    arrays = {"snr_db": np.asarray(examples["snr_db"], dtype=float), "channel": np.asarray(examples["channel"])}
    arrays.update({f"original_{m}": t.cpu().numpy() for m, t in examples["original"].items()})
    schemes = [k for k in examples if k not in ("snr_db", "channel", "original")]
    arrays["schemes"] = np.asarray(schemes)
    for scheme in schemes:
        for m, t in examples[scheme].items():
            arrays[f"{scheme}_{m}"] = t.cpu().numpy()  # [2 SNRs, count, ...]
    np.savez_compressed(path, **arrays)


def _drawable(shape: tuple[int, ...]) -> bool:
    """Whether one instance of this shape can be drawn: [C, H, W] with 1 or 3 channels, or 2-D."""
    return len(shape) == 2 or (len(shape) == 3 and shape[0] in (1, 3))


def _draw(ax, x: np.ndarray, low: float, high: float) -> None:
    """One instance: [1, H, W] as gray pixels, [3, H, W] as colour (scaled with the originals'
    range [low, high]), a 2-D field [rows, columns] as a heat map with its first row at the bottom
    (a log-mel spectrogram: low frequencies down)."""
    if x.ndim == 2:
        ax.imshow(x, cmap="magma", origin="lower", aspect="auto")
    elif x.shape[0] == 1:
        ax.imshow(x[0], cmap="gray", origin="upper", aspect="auto")
    else:
        ax.imshow(np.clip((x.transpose(1, 2, 0) - low) / max(high - low, 1e-12), 0.0, 1.0), origin="upper",
                  aspect="auto")


def plot_reconstructions(npz: Path, path: Path) -> None:
    """Rows: the originals, then each scheme at each SNR; columns: test instances of each modality
    whose target can be drawn (``_draw``: images as pixels, 2-D fields such as the log-mel
    spectrogram the audio decoder rebuilds as heat maps); the others (captions) are left out."""
    f = np.load(npz)
    snrs, channel = f["snr_db"], str(f["channel"])
    shown = [k[len("original_"):] for k in f.files
             if k.startswith("original_") and _drawable(f[k].shape[1:])]
    if not shown:
        return
    schemes = [str(x) for x in f["schemes"]]
    rows = [("original", None)] + [(s, i) for s in schemes if any(f"{s}_{m}" in f.files for m in shown)
                                   for i in range(len(snrs))]
    count = f[f"original_{shown[0]}"].shape[0]
    fig, axes = plt.subplots(len(rows), count * len(shown), figsize=(1.1 * count * len(shown), 1.15 * len(rows)),
                             squeeze=False)
    for b, m in enumerate(shown):
        original = f[f"original_{m}"]
        low, high = float(original.min()), float(original.max())
        for r, (scheme, i) in enumerate(rows):
            data = original if scheme == "original" else f[f"{scheme}_{m}"][i]
            for c in range(count):
                ax = axes[r][b * count + c]
                _draw(ax, data[c], low, high)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[r][b * count].set_ylabel("original" if scheme == "original" else f"{scheme}\n{snrs[i]:g} dB",
                                          fontsize=7)
    fig.suptitle(f"test instances and their reconstructions over {channel} (left to right: {', '.join(shown)})",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
