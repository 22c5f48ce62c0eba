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


class RMSNorm(nn.Module):
    """x / rms(x) · g: LayerNorm without the mean and the bias; as good, and cheaper."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32: under bf16 autocast the mean of squares loses precision.
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_tables(block_size: int, head_size: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of position · frequency, each (block_size, hs/2)."""
    freqs = 1.0 / theta ** (torch.arange(0, head_size, 2).float() / head_size)  # (hs/2,)
    angles = torch.outer(torch.arange(block_size).float(), freqs)  # (T, hs/2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x_i, x_{i+hs/2}) of x (B, nh, T, hs) by position-dependent angles.

    The dot product of a rotated query and key then depends only on their distance, which is the point.
    """
    x1, x2 = x.float().chunk(2, dim=-1)  # (B, nh, T, hs/2) each
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # (B, T, C) each
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)
        )  # (B, nh, T, hs)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side again
        return self.proj(y)


class SwiGLU(nn.Module):
    """silu(x W1) ⊙ (x W3) W2: a gated MLP, better per parameter than GELU (Shazeer 2020)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(cfg.n_embd, cfg.mlp_hidden, bias=False)
        self.w3 = nn.Linear(cfg.n_embd, cfg.mlp_hidden, bias=False)
        self.w2 = nn.Linear(cfg.mlp_hidden, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))  # (B, T, C) → (B, T, H) → (B, T, C)


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
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) → logits (B, T, V), and the mean cross-entropy if ``targets`` (B, T) are given."""
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size={self.cfg.block_size}")
        x = self.wte(idx)  # (B, T, C)
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]  # (T, hs/2)
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.lm_head(self.norm_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            # Loss in fp32 whatever the autocast dtype: log-softmax over V in bf16 is too coarse.
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

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
