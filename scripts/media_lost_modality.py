"""Lost modalities without a channel: the conventional head with a lost modality's vector set to its
training mean (what the media scheme does) against the centroid head on the centroid of what
arrived, for every subset of lost modalities; docs/guide/media.md.

Run: python scripts/media_lost_modality.py SCENARIO.yaml   (the guide used scenarios/tiny.yaml)
"""
import itertools
import sys

import torch

from media_files import trained
from semcom_sim.receiver.heads import HEADS


def main() -> None:
    s, train, test, _, zt, ze = trained(sys.argv[1])
    ms = list(s.data.modalities)
    conv_tr = torch.stack([zt[m] for m in ms], 1)
    conv = HEADS[s.receiver.head](conv_tr.flatten(1), train.labels, s.receiver.l2)
    cent = HEADS[s.receiver.head](conv_tr.mean(1), train.labels, s.receiver.l2)
    mean = conv_tr.mean(0)

    def acc(head, x):
        return float((head.logits(x).argmax(-1) == test.labels).float().mean())

    x = torch.stack([ze[m] for m in ms], 1)
    for k in range(len(ms) + 1):
        for lost in itertools.combinations(range(len(ms)), k):
            filled = x.clone()
            filled[:, list(lost)] = mean[list(lost)]
            arrived = [i for i in range(len(ms)) if i not in lost]
            c = acc(cent, x[:, arrived].mean(1)) if arrived else 1.0 / len(train.class_names)
            print("lost", [ms[i] for i in lost], "mean-fill conv %.3f" % acc(conv, filled.flatten(1)),
                  "centroid-of-arrived %.3f" % c)


if __name__ == "__main__":
    main()
