"""Run: python scripts/media_lost_modality.py SCENARIO.yaml (docs/guide/media.md).
Lost modalities: the conventional head with a lost modality's vector = its training mean, against
the centroid head on the centroid of what arrived; every subset of lost modalities, tiny scenario."""
import itertools, sys, torch
from semcom_sim.scenario import load_scenario
from semcom_sim.pipeline import load_data, default_cache_dir
from semcom_sim.runtime import Runtime
from semcom_sim.training import train_or_load, embed
from semcom_sim.receiver.heads import HEADS
s = load_scenario(sys.argv[1])
rt = Runtime.create(s.device, s.dtype, s.seed, source="x")
cache = default_cache_dir(s)
train, test = load_data(s, rt, cache)
enc = train_or_load(s, train, rt, cache).encoders
zt, ze = embed(enc, train), embed(enc, test)
ms = list(s.data.modalities)
conv_tr = torch.stack([zt[m] for m in ms], 1)
conv = HEADS[s.receiver.head](conv_tr.flatten(1), train.labels, s.receiver.l2)
cent = HEADS[s.receiver.head](conv_tr.mean(1), train.labels, s.receiver.l2)
mean = conv_tr.mean(0)
y = test.labels
acc = lambda head, x: float((head.logits(x).argmax(-1) == y).float().mean())
for k in range(len(ms) + 1):
    for lost in itertools.combinations(range(len(ms)), k):
        x = torch.stack([ze[m] for m in ms], 1)
        xm = x.clone(); xm[:, list(lost)] = mean[list(lost)]
        arrived = [i for i in range(len(ms)) if i not in lost]
        c = acc(cent, x[:, arrived].mean(1)) if arrived else 1.0 / len(train.class_names)
        print("lost", [ms[i] for i in lost], "mean-fill conv %.3f" % acc(conv, xm.flatten(1)), "centroid-of-arrived %.3f" % c)
