import math

import pytest
import torch

from train.model import GPT, GPTConfig, apply_rope, cross_entropy_from_hidden, rope_tables
from train.sizing import count_params

CFG = GPTConfig(vocab_size=512, block_size=32, n_layer=2, n_head=2, n_embd=64)


@pytest.fixture
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(CFG).eval()


def test_shapes(model: GPT) -> None:
    idx = torch.randint(0, 512, (3, 17))
    logits, loss = model(idx)
    assert logits.shape == (3, 17, 512) and loss is None
    logits, loss = model(idx, idx)
    assert logits is None and loss.shape == () and torch.isfinite(loss)  # the head is fused into the loss
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 33, dtype=torch.long))


def test_causal_masking(model: GPT) -> None:
    """Changing token t changes no logit before t, and does change the logits from t on."""
    torch.manual_seed(1)
    idx = torch.randint(0, 512, (2, 32))
    base = model(idx)[0]
    for t in (0, 5, 31):
        changed = idx.clone()
        changed[:, t] = (changed[:, t] + 1) % 512
        out = model(changed)[0]
        assert torch.equal(out[:, :t], base[:, :t])
        assert not torch.allclose(out[:, t], base[:, t])


def test_loss_at_init_is_uniform(model: GPT) -> None:
    torch.manual_seed(2)
    x, y = torch.randint(0, 512, (8, 32)), torch.randint(0, 512, (8, 32))
    loss = model(x, y)[1].item()
    assert abs(loss - math.log(512)) < 0.1


def test_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = GPT(CFG)
    x = torch.randint(0, 512, (2, 32))
    y = torch.roll(x, -1, dims=1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(50):
        loss = model(x, y)[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1  # from ln(512) ≈ 6.2


def test_weight_tying_and_counts(model: GPT) -> None:
    assert model.lm_head.weight is model.wte.weight
    assert model.num_params() == count_params(2, 64, 512)
    assert model.num_params() - model.num_params(non_embedding=True) == 512 * 64
    big = GPTConfig(vocab_size=50304, block_size=1024, n_layer=12, n_head=12, n_embd=768)
    assert count_params(12, 768, 50304) == pytest.approx(124e6, rel=0.01)  # GPT-2 small's size
    n = count_params(2, 64, 512)
    assert model.flops_per_token() == 6 * n + 12 * 2 * 64 * 32
    assert big.mlp_hidden == 2048


def test_rope_is_relative() -> None:
    """Rotated q·k depends only on the distance between positions."""
    cos, sin = rope_tables(16, 8, 10000.0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    qs, ks = (apply_rope(t.expand(1, 1, 16, 8), cos, sin)[0, 0] for t in (q, k))  # (16, 8) each
    assert torch.allclose(qs[3] @ ks[1], qs[12] @ ks[10], atol=1e-5)


def test_generate(model: GPT) -> None:
    idx = torch.randint(0, 512, (2, 5))
    greedy = model.generate(idx, 40, temperature=0)
    assert greedy.shape == (2, 45) and torch.equal(greedy[:, :5], idx)  # runs past block_size by cropping
    assert torch.equal(greedy, model.generate(idx, 40, temperature=0))
    top1 = model.generate(idx, 40, temperature=1.0, top_k=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(top1, greedy)
    g = torch.Generator().manual_seed(0)
    a = model.generate(idx, 10, temperature=1.0, top_k=50, generator=g)
    b = model.generate(idx, 10, temperature=1.0, top_k=50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    stop = int(greedy[0, 5])  # the first greedy token: generation stops right after it for row 0 …
    out = model.generate(idx[:1], 40, temperature=0, stop_token=stop)
    assert out.shape == (1, 6)


def rms_norm_plain(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """The oracle: RMSNorm as its formula reads, through autograd."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def test_rms_norm_matches_its_formula() -> None:
    from train.model import RMSNorm

    torch.manual_seed(0)
    norm = RMSNorm(64, 1e-5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(3, 7, 64, requires_grad=True)
    w = norm.weight.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    g = torch.randn(3, 7, 64)
    out, ref = norm(x), rms_norm_plain(x2, w, 1e-5)
    assert torch.allclose(out, ref, atol=1e-6)
    out.backward(g)
    ref.backward(g)
    assert torch.allclose(x.grad, x2.grad, atol=1e-5) and torch.allclose(norm.weight.grad, w.grad, atol=1e-4)
    # Double precision takes the unfused path: the gradient against finite differences.
    xd = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
    wd = torch.rand(8, dtype=torch.float64, requires_grad=True)
    from train.model import _RMSNormFn

    assert torch.autograd.gradcheck(lambda a, b: _RMSNormFn.apply(a, b, 1e-5), (xd, wd))


def test_rope_fast_path_is_the_real_rotation() -> None:
    """The complex multiply (eager) and the real form (compiled) rotate alike, forward and backward."""
    from train.model import apply_rope_real

    cos, sin = rope_tables(16, 8, 10000.0)
    x = torch.randn(2, 3, 16, 8, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    a, b = apply_rope(x, cos, sin), apply_rope_real(x2, cos, sin)
    assert torch.allclose(a, b, atol=1e-6)
    g = torch.randn_like(a)
    a.backward(g)
    b.backward(g)
    assert torch.allclose(x.grad, x2.grad, atol=1e-6)
    # A rotation keeps the norm of every pair; position 0 is not rotated.
    assert torch.allclose(
        a.unflatten(-1, (4, 2)).norm(dim=-1), x.detach().unflatten(-1, (4, 2)).norm(dim=-1), atol=1e-5
    )
    assert torch.allclose(a[:, :, 0], x.detach()[:, :, 0])


@pytest.mark.parametrize("n", [1, 255, 256, 700])  # chunks of 256 rows: one partial, one exact, several
def test_fused_cross_entropy_matches_the_formula(n: int) -> None:
    """The fused, chunked head + loss gives F.cross_entropy(h @ w.T)'s loss and gradients."""
    torch.manual_seed(n)
    h = torch.randn(n, 32, requires_grad=True)
    w = torch.randn(300, 32, requires_grad=True)
    t = torch.randint(0, 300, (n,))
    fused = cross_entropy_from_hidden(h, w, t)
    (3 * fused).backward()  # a scaled upstream gradient reaches both inputs
    gh, gw = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    plain = torch.nn.functional.cross_entropy(h @ w.t(), t)
    (3 * plain).backward()
    torch.testing.assert_close(fused, plain)
    torch.testing.assert_close(gh, h.grad)
    torch.testing.assert_close(gw, w.grad)
    with torch.no_grad():  # evaluation: the plain formula, same value
        torch.testing.assert_close(cross_entropy_from_hidden(h, w, t), plain)
