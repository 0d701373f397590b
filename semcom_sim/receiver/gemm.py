"""The receiver's large matrix products: the heads' logits and retrieval's similarities.

On the CPU in float32 they go to oneDNN's GEMM (shipped inside torch, on torch's own OpenMP
threads) rather than torch's default BLAS, MKL, which on AMD CPUs takes a slower path: on the
2-core AMD EPYC of docs/development/speed.md, the logits of 28,000 received payloads of 1,536
values over 100 classes took 48 ms against 76 ms, retrieval's 1,400 x 1,536 by 1,536 x 4,000
product 83 ms against 96 ms (medians of 15, in turn, idle). numpy's OpenBLAS is as fast alone but
slower in a run: its threads and torch's contend for the cores. The values differ from MKL's only in
the rounding of float32 sums (tested).
"""
from __future__ import annotations

import torch


def _onednn(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32 and not x.requires_grad
            and not weight.requires_grad and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x [..., F], weight [G, F], bias [G] or None -> x weight^T + bias [..., G].

    >>> import torch
    >>> from semcom_sim.receiver.gemm import linear
    >>> linear(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([0.5, 0.0]))
    tensor([[1.5000, 3.0000]])
    """
    if _onednn(x, weight):
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight.contiguous(), bias, "none", [], "")
    if bias is None:
        return torch.matmul(x, weight.T)
    return torch.addmm(bias, x.reshape(-1, x.shape[-1]), weight.T).reshape(*x.shape[:-1], -1)
