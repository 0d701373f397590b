"""Run: python scripts/media_files.py SCENARIO.yaml (docs/guide/media.md).
Per codec setting: mean/allocated bytes, distortion, codec seconds, and the conventional head's
top-1 on the decoded media (no channel), tiny scenario."""
import sys, time, torch
from semcom_sim.scenario import load_scenario
from semcom_sim.pipeline import load_data, default_cache_dir
from semcom_sim.runtime import Runtime
from semcom_sim.training import train_or_load, embed
from semcom_sim.receiver.heads import HEADS
from semcom_sim.transmitter.media import MediaOptions, send_media
s = load_scenario(sys.argv[1])
rt = Runtime.create(s.device, s.dtype, s.seed, source="x")
cache = default_cache_dir(s)
train, test = load_data(s, rt, cache)
enc = train_or_load(s, train, rt, cache).encoders
zt, ze = embed(enc, train), embed(enc, test)
ms = list(s.data.modalities)
head = HEADS[s.receiver.head](torch.stack([zt[m] for m in ms], 1).flatten(1), train.labels, s.receiver.l2)
acc = lambda x: float((head.logits(x.flatten(1)).argmax(-1) == test.labels).float().mean())
print("conventional clean top-1", acc(torch.stack([ze[m] for m in ms], 1)))
for opts in [{}, {"image": {"codec": "jpeg", "quality": 50}, "audio": {"codec": "opus", "bitrate_kbps": 16}, "text": {"codec": "brotli"}},
             {"image": {"codec": "webp", "quality": 20}, "audio": {"codec": "opus", "bitrate_kbps": 6}, "text": {"codec": "zstd"}}]:
    t = time.perf_counter()
    f = send_media(MediaOptions.model_validate(opts), test, enc, 8000)
    print(opts or "lossless", "top-1 %.3f" % acc(torch.stack([f.embeddings[m] for m in ms], 1)),
          "undecodable", int(f.undecodable.sum()), "s %.1f" % (time.perf_counter() - t))
    for m, st in f.stats.items():
        print("  ", m, {k: round(v, 3) for k, v in st.items()})
