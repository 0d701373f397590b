"""The receiver's products (receiver/gemm.py): oneDNN's GEMM for float32 on the CPU."""
import torch

from semcom_sim.receiver import gemm


def test_float32_products_are_torchs_to_rounding_and_others_are_torchs_own():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(3, 500, 768, generator=g), torch.randn(100, 768, generator=g), torch.randn(100, generator=g)
    assert gemm._onednn(x, w)  # the path the run takes on this CPU
    exact = (x.double() @ w.double().T + b.double()).float()
    for out, ref in [(gemm.linear(x, w, b), torch.addmm(b, x.reshape(-1, 768), w.T).reshape(3, 500, 100)),
                     (gemm.linear(x, w), x @ w.T)]:
        assert out.shape == ref.shape and out.is_contiguous()
        # both within float32's rounding of a 768-term sum of the exact products
        scale = (x.abs() @ w.abs().T).max()
        assert float((out - ref).abs().max()) < 1e-5 * float(scale)
    assert float((gemm.linear(x, w, b) - exact).abs().max()) < 1e-5 * float((x.abs() @ w.abs().T).max())
    xd, wd = x.double(), w.double()  # float64 and a tensor with a gradient: torch's own product, to the bit
    assert not gemm._onednn(xd, wd) and torch.equal(gemm.linear(xd, wd), xd @ wd.T)
    xg = x.clone().requires_grad_()
    out = gemm.linear(xg, w, b)
    out.sum().backward()
    assert torch.allclose(xg.grad, w.sum(0).expand_as(x), atol=1e-4)
