"""Per codec setting: mean/allocated bytes, distortion, codec seconds, and the conventional head's
top-1 on the decoded media (no channel); docs/guide/media.md.

Run: python scripts/media_files.py SCENARIO.yaml   (the guide used scenarios/tiny.yaml)
"""
import math
import sys
import time

import torch

from semcom_sim.links import LINKS
from semcom_sim.pipeline import default_cache_dir, load_data
from semcom_sim.receiver.heads import HEADS
from semcom_sim.runtime import Runtime
from semcom_sim.scenario import load_scenario
from semcom_sim.training import embed, train_or_load
from semcom_sim.transmitter.media import MediaOptions, send_media

SETTINGS = [{}, {"image": {"codec": "jpeg", "quality": 50}, "audio": {"codec": "opus", "bitrate_kbps": 16},
                 "text": {"codec": "brotli"}},
            {"image": {"codec": "webp", "quality": 20}, "audio": {"codec": "opus", "bitrate_kbps": 8},
             "text": {"codec": "zstd"}}]


def trained(path: str):
    """(scenario, train, test, encoders, train embeddings, test embeddings) of a scenario, its
    encoders trained or loaded from the cache as a run would."""
    s = load_scenario(path)
    rt = Runtime.create(s.device, s.dtype, s.seed, source=path)
    cache = default_cache_dir(s)
    train, test = load_data(s, rt, cache)
    enc = train_or_load(s, train, rt, cache).encoders
    return s, train, test, enc, embed(enc, train), embed(enc, test)


def main() -> None:
    s, train, test, enc, zt, ze = trained(sys.argv[1])
    ms = list(s.data.modalities)
    head = HEADS[s.receiver.head](torch.stack([zt[m] for m in ms], 1).flatten(1), train.labels, s.receiver.l2)

    def acc(x):
        return float((head.logits(x.flatten(1)).argmax(-1) == test.labels).float().mean())

    print("conventional clean top-1", acc(torch.stack([ze[m] for m in ms], 1)))
    for opts in SETTINGS:
        t = time.perf_counter()
        f = send_media(MediaOptions.model_validate(opts), test, enc, 8000)
        print(opts or "lossless", "top-1 %.3f" % acc(torch.stack([f.embeddings[m] for m in ms], 1)),
              "undecodable", int(f.undecodable.sum()), "s %.1f" % (time.perf_counter() - t))
        for m, st in f.stats.items():
            print("  ", m, {k: round(v, 3) for k, v in st.items()})
        # the allocations over the nr link at its defaults (MCS 13), as carry_files cuts them
        nr = LINKS["nr"]
        per = [nr.files_cost(nr.Options(), [int(st["alloc_bytes"])]).uses for st in f.stats.values()]
        # a capacity-achieving code delivers a file once log2(1 + SNR) >= its bits per channel use
        cap_db = max(10 * math.log10(2 ** (8 * st["alloc_bytes"] / u) - 1) for st, u in zip(f.stats.values(), per))
        print("   nr channel uses per instance", sum(per), per, "AWGN capacity SNR of the worst file %.2f dB" % cap_db)


if __name__ == "__main__":
    main()
