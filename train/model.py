"""A decoder-only transformer (GPT) in one file, read top to bottom.

Llama-style blocks, as in most current small-model recipes: RMSNorm before attention and MLP (pre-norm),
rotary position embeddings (RoPE) on queries and keys instead of a learned position table, a SwiGLU MLP,
no biases, and the output head tied to the token embedding. Attention goes through
``F.scaled_dot_product_attention`` so PyTorch picks the fused flash / memory-efficient kernel.

Shapes: B batch, T sequence length, C = n_embd, nh = n_head, hs = C // nh, V = vocab_size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 8192
    block_size: int = 256  # context length
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    mlp_hidden: int | None = None  # None → the SwiGLU size below
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ValueError(f"n_embd={self.n_embd} must split into n_head={self.n_head} heads of even size")
        if self.mlp_hidden is None:
            # SwiGLU has three matrices instead of two: 8/3·C keeps the parameter count of a 4·C GELU MLP.
            # Rounded up to a multiple of 64 for the matmul kernels.
            self.mlp_hidden = 64 * math.ceil(8 * self.n_embd / 3 / 64)

    def to_dict(self) -> dict:
        return asdict(self)


# PyTorch's fused RMSNorm forward (rms and scaling in one kernel); its backward has no CPU kernel, hence ours.
_FUSED_RMS_NORM = hasattr(torch.ops.aten, "_fused_rms_norm")


class _RMSNormFn(torch.autograd.Function):
    """RMSNorm with a hand-written backward: on the CPU, autograd's chain of small kernels for the
    composite (pow, mean, add, rsqrt, mul and their backwards) costs more than the matmuls of a small model.
    The plain formula is the oracle in ``tests/train/test_model.py``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        ctx.x_dtype = x.dtype
        if _FUSED_RMS_NORM and x.dtype == weight.dtype == torch.float32:
            y, r = torch.ops.aten._fused_rms_norm(x, [x.size(-1)], weight, eps)  # one kernel, same formula
            ctx.save_for_backward(x, r, weight)
            return y
        # Normalise in fp32: under bf16 autocast the mean of squares loses precision.
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        r = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)  # (..., 1)
        ctx.save_for_backward(x, r, weight)
        return (xf * r).type_as(x) * weight

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        x, r, weight = ctx.saved_tensors
        xn = x.to(r.dtype) * r
        g = grad.to(r.dtype)
        grad_weight = (g * xn).sum(dim=tuple(range(g.dim() - 1))).to(weight.dtype)
        gn = g * weight  # gradient with respect to xn
        # d/dx of x·r(x): r · (gn − xn · mean(gn · xn)), the projection that keeps the norm fixed.
        grad_x = r * (gn - xn * (gn * xn).mean(-1, keepdim=True))
        return grad_x.to(ctx.x_dtype), grad_weight, None


class RMSNorm(nn.Module):
    """x / rms(x) · g: LayerNorm without the mean and the bias; as good, and cheaper."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RMSNormFn.apply(x, self.weight, self.eps)


def rope_tables(block_size: int, head_size: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of position · frequency, each (block_size, hs/2)."""
    freqs = 1.0 / theta ** (torch.arange(0, head_size, 2).float() / head_size)  # (hs/2,)
    angles = torch.outer(torch.arange(block_size).float(), freqs)  # (T, hs/2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x_2i, x_2i+1) of x (…, T, hs) by position-dependent angles (tables cropped to T).

    The dot product of a rotated query and key then depends only on their distance, which is the point.
    Eagerly, the pairs are complex numbers and the rotation one complex multiply (forward and backward one
    kernel each, ~3x faster on the CPU than the real form); under ``torch.compile``, which handles complex
    tensors poorly, the same rotation in real arithmetic (:func:`apply_rope_real`).
    """
    if torch.compiler.is_compiling():
        return apply_rope_real(x, cos, sin)
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))  # (…, T, hs/2) complex
    return torch.view_as_real(pairs * torch.complex(cos, sin)).flatten(-2).type_as(x)


def apply_rope_real(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """:func:`apply_rope` in real arithmetic: (x0, x1) → (x0·cos − x1·sin, x1·cos + x0·sin)."""
    pairs = x.float().unflatten(-1, (-1, 2))  # (…, T, hs/2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    return torch.stack([x0 * cos - x1 * sin, x1 * cos + x0 * sin], dim=-1).flatten(-2).type_as(x)


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of the logits ``h @ w.T`` against ``targets``, with the gradients computed in the
    forward pass, ``chunk`` rows at a time.

    The (N, V) logits are never whole: each chunk's logits become its softmax in place, then the gradient
    ``(softmax − onehot) / N`` of those logits, which two matmuls turn into the gradients of ``h`` and ``w``
    before the next chunk. Against ``F.cross_entropy(h @ w.T, targets)`` that skips the separate
    log-softmax backward pass, the zero-filled (N, V) gradient and writing N·V floats to memory: on the CPU
    the output head and loss of a small model take a third less time (a chunk of 256 rows × V stays in
    cache), and training memory drops by the logits. The same idea as Liger-Kernel's fused linear
    cross-entropy, in plain PyTorch ops. ``tests/train/test_model.py`` checks loss and gradients against
    the unfused formula.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, w: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
        n = h.size(0)
        grad_h, grad_w = torch.empty_like(h), torch.zeros_like(w)
        total = h.new_zeros((), dtype=torch.float32)
        minus_one = h.new_full((min(chunk, n), 1), -1.0)
        for i in range(0, n, chunk):
            hc, tc = h[i : i + chunk], targets[i : i + chunk, None]  # (n_c, C), (n_c, 1)
            z = hc @ w.t()  # (n_c, V) logits
            lse = torch.logsumexp(z, 1, keepdim=True)  # (n_c, 1)
            total += (lse - z.gather(1, tc)).sum()
            z.sub_(lse).exp_()  # softmax
            z.scatter_add_(1, tc, minus_one[: len(tc)]).div_(n)  # ∂loss/∂logits = (softmax − onehot) / N
            torch.mm(z, w, out=grad_h[i : i + chunk])
            grad_w.addmm_(z.t(), hc)
        ctx.save_for_backward(grad_h, grad_w)
        return total / n

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None]:
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad, grad_w * grad, None, None


def cross_entropy_from_hidden(
    h: torch.Tensor, w: torch.Tensor, targets: torch.Tensor, chunk: int = 256
) -> torch.Tensor:
    """Mean cross-entropy of ``h @ w.T`` (h (N, C), w (V, C)) against ``targets`` (N,).

    Fused and chunked (:class:`_LinearCrossEntropy`) when training on the CPU; elsewhere the plain formula:
    under ``torch.compile`` the compiler fuses it, and on a GPU the logits go through autocast's bf16 matmul,
    which the fused form, written for fp32, would not."""
    fused = (
        h.device.type == "cpu"
        and h.dtype == w.dtype == torch.float32
        and torch.is_grad_enabled()
        and (h.requires_grad or w.requires_grad)
        and not torch.compiler.is_compiling()
        and not torch.is_autocast_enabled("cpu")
    )
    if fused:
        return _LinearCrossEntropy.apply(h, w, targets, chunk)
    # Loss in fp32 whatever the autocast dtype: log-softmax over V in bf16 is too coarse.
    return F.cross_entropy((h @ w.t()).float(), targets)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        qkv = (
            self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        )  # (3, B, nh, T, hs)
        qk = apply_rope(qkv[:2], cos, sin)  # queries and keys rotated in one pass: (2, B, nh, T, hs)
        y = F.scaled_dot_product_attention(qk[0], qk[1], qkv[2], is_causal=True)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side again
        return self.proj(y)


class SwiGLU(nn.Module):
    """silu(x W1) ⊙ (x W3) W2: a gated MLP, better per parameter than GELU (Shazeer 2020).

    W1 and W3 are one (2H, C) matrix, ``w13``: one matmul of twice the width runs faster than two."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.w13 = nn.Linear(cfg.n_embd, 2 * cfg.mlp_hidden, bias=False)
        self.w2 = nn.Linear(cfg.mlp_hidden, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.w13(x).chunk(2, dim=-1)  # (B, T, H) each
        return self.w2(F.silu(a) * b)  # (B, T, H) → (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.norm1 = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)  # (B, T, C)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm_f = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        # Weight tying: one (V, C) matrix embeds tokens and scores them; saves V·C parameters and helps
        # small models (Press & Wolf 2017).
        self.lm_head.weight = self.wte.weight
        cos, sin = rope_tables(cfg.block_size, cfg.n_embd // cfg.n_head, cfg.rope_theta)
        # Not persistent: derived from the config, so checkpoints do not carry them.
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2: scale the projections that write into the residual stream by 1/sqrt(2·n_layer) so the
        # stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("attn.proj.weight") or name.endswith("mlp.w2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """idx (B, T) → (logits (B, T, V), None); with ``targets`` (B, T): (None, the mean cross-entropy)."""
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size={self.cfg.block_size}")
        x = self.wte(idx)  # (B, T, C)
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]  # (T, hs/2)
        for block in self.blocks:
            x = block(x, cos, sin)
        x = self.norm_f(x)
        if targets is None:
            return self.lm_head(x), None  # (B, T, V)
        # Training and evaluation need only the loss: the output head is fused into it, no logits.
        return None, cross_entropy_from_hidden(x.view(B * T, -1), self.lm_head.weight, targets.reshape(-1))

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters, the tied embedding counted once. ``non_embedding``: without it (Kaplan et al.)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wte.weight.numel() if non_embedding else n

    def flops_per_token(self) -> int:
        """Training FLOPs per token: 6N for the matmuls (forward 2N, backward 4N) plus attention's
        6 · 2 · n_layer · C · T for the QK^T and AV products over a full context (PaLM, appendix B).
        N counts the tied matrix once: the lookup costs nothing, the output head is a real matmul."""
        c = self.cfg
        return 6 * self.num_params() + 12 * c.n_layer * c.n_embd * c.block_size

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        stop_token: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend idx (B, T) by up to ``max_new_tokens`` tokens; returns (B, T + n).

        ``temperature`` 0 is greedy (argmax); otherwise sample from softmax(logits / temperature),
        restricted to the ``top_k`` most likely tokens if given. Stops early once every row has produced
        ``stop_token``. No KV cache: the whole (cropped) context is recomputed each step — simple, and fast
        enough for samples.
        """
        done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            context = idx[:, -self.cfg.block_size :]  # (B, ≤block_size)
            logits = self(context)[0][:, -1, :].float()  # (B, V): the last position only
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]  # (B, 1)
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
            if stop_token is not None:
                done |= nxt.squeeze(1) == stop_token
                if bool(done.all()):
                    break
        return idx
