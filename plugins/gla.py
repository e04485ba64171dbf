"""`gla`: gated linear attention, a sequence mixer (kind "mixer").

Yang, Wang, Shen, Panda & Kim 2024, "Gated Linear Attention Transformers with Hardware-Efficient Training" (the
layer as in fla's `GatedLinearAttention`: values d wide, keys half as wide, a low-rank decay gate, RMSNorm and a
SiLU output gate).
Per head, with a matrix state S (d_k x d_v):

    q, k, v   = x W_q * d_k^-1/2, x W_k, x W_v
    log a_t   = logsigmoid(W_a2 W_a1 x_t + b) / 16      (d_k,): alpha_t = sigmoid(.)^(1/16), floored at e^-5
    S_t       = diag(alpha_t) S_{t-1} + k_t^T v_t
    o_t       = q_t S_t
    out       = W_o (RMSNorm(o) * SiLU(W_g x))

Training runs the chunked form (`_chunked`), generation the recurrence (`step`). Within a chunk of `CHUNK`
positions with b = cumsum(log a): o_t = (q_t * e^{b_t}) S_0 + sum_{s<=t} ((q_t * e^{b_t}) . (k_s * e^{-b_s})) v_s,
one matrix product per chunk; the floor on log a (both forms alike) keeps e^{-b} finite in float32. S moves on
from chunk to chunk. A fused kernel (fla's `chunk_gla`, Triton) would replace `_chunked` here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqbench
from seqbench.contract.specs import ArchSpec, BuildContext, options

from ._scan import causal_mask, from_chunks, to_chunks, valid

CHUNK = 16  # positions per chunk of the training form
MAX_LOG_DECAY = 5.0  # log alpha >= -5 (alpha >= 0.0067; logsigmoid(g) / 16 reaches it at g = -80): CHUNK * 5 = 80
# keeps e^{-b} below float32's e^88 in the chunked form


@options
class GLAOptions:
    """Options of `gla`."""

    gate_rank: int = 16  # rank of the decay gate's projection (fla's gate_low_rank_dim)
    gate_normalizer: float = 16.0  # log alpha = logsigmoid(.) / gate_normalizer: decays close to 1 at the start

    def __post_init__(self) -> None:
        if self.gate_rank < 1 or self.gate_normalizer <= 0:
            raise ValueError(f"gate_rank must be >= 1 and gate_normalizer > 0, got {self.gate_rank}, "
                             f"{self.gate_normalizer}")


class GLA(nn.Module):
    """Gated linear attention (B, T, D) -> (B, T, D), `n_heads` heads."""

    def __init__(self, d: int, n_heads: int, opts: GLAOptions) -> None:
        super().__init__()
        self.h, self.dv, self.norm_by = n_heads, d // n_heads, opts.gate_normalizer
        self.dk = max(1, self.dv // 2)  # keys half as wide as values (fla's expand_k = 0.5)
        dk = n_heads * self.dk
        self.q, self.k = nn.Linear(d, dk, bias=False), nn.Linear(d, dk, bias=False)
        self.v, self.g = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.gate = nn.Sequential(nn.Linear(d, opts.gate_rank, bias=False), nn.Linear(opts.gate_rank, dk))
        self.norm = nn.RMSNorm(self.dv)  # per head, over d_v (fla's g_norm)
        self.out = nn.Linear(d, d, bias=False)

    def _heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x (..., T, D) -> q, k (B, H, T, dk), v (B, H, T, dv), log-decay (B, H, T, dk)."""
        split = lambda t: t.unflatten(-1, (self.h, -1)).transpose(-3, -2)  # (B, T, H*d) -> (B, H, T, d)
        log_a = (F.logsigmoid(self.gate(x)) / self.norm_by).clamp(min=-MAX_LOG_DECAY)  # (B, T, H*dk)
        return split(self.q(x)) * self.dk**-0.5, split(self.k(x)), split(self.v(x)), split(log_a)

    def _output(self, o: Tensor, x: Tensor) -> Tensor:
        """o (B, H, T, dv), x (B, T, D) -> (B, T, D): norm, output gate, projection."""
        o = self.norm(o).transpose(1, 2).flatten(2)  # (B, T, D)
        return self.out(o * F.silu(self.g(x)))

    def _chunked(self, q: Tensor, k: Tensor, v: Tensor, log_a: Tensor) -> tuple[Tensor, Tensor]:
        """q, k, log_a (B, H, T, dk), v (B, H, T, dv) -> o (B, H, T, dv) and the final state (B, H, dk, dv)."""
        t = q.shape[2]
        q, k, v, b = (to_chunks(z, CHUNK) for z in (q, k, v, log_a))  # (B, H, C, L, d)
        b = b.cumsum(3)  # (B, H, C, L, dk): log-decay from the chunk's start, through position t, >= -80
        qb = q * b.exp()  # (B, H, C, L, dk)
        attn = qb @ (k * (-b).exp()).transpose(-1, -2)  # (B, H, C, L, L): sum_k q_tk k_sk e^{b_tk - b_sk}
        o = attn.masked_fill(~causal_mask(CHUNK, q.device), 0.0) @ v  # (B, H, C, L, dv): within the chunk
        last = b[..., -1:, :]  # (B, H, C, 1, dk)
        local = (k * (last - b).exp()).transpose(-1, -2) @ v  # (B, H, C, dk, dv): the chunk's own state
        s = q.new_zeros(*q.shape[:2], self.dk, self.dv)  # (B, H, dk, dv)
        starts = []
        for end_decay, end_local in zip(last[:, :, :, 0, :, None].exp().unbind(2), local.unbind(2)):
            starts.append(s)  # carry the state from chunk to chunk
            s = end_decay * s + end_local  # (B, H, dk, dv)
        o = o + qb @ torch.stack(starts, 2)  # (B, H, C, L, dv): from the chunks before
        return from_chunks(o, t), s

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, D) -> (B, T, D)."""
        # a fused GPU kernel plugs in here: fla's chunk_gla(q, k, v, log_a) in place of self._chunked
        return self._output(self._chunked(*self._heads(x))[0], x)

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Right-padded x (B, L, D), lengths (B,) -> forward(x), and each row's state (B, H, dk, dv) after
        position lengths-1 (the scan again with padding made identity steps: no decay, no key)."""
        q, k, v, log_a = self._heads(x)
        o, _ = self._chunked(q, k, v, log_a)
        real = valid(lengths, x.shape[1])[:, None, :, None]  # (B, 1, L, 1)
        _, state = self._chunked(q, k * real, v, log_a * real)
        return self._output(o, x), state

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, D) at the next position -> output (B, D), and the next state: the recurrence, one step."""
        q, k, v, log_a = (z[:, :, 0] for z in self._heads(x[:, None]))  # (B, H, d) each
        state = log_a.exp()[..., None] * state + k[..., None] * v[..., None, :]  # (B, H, dk, dv)
        o = (q[..., None, :] @ state)  # (B, H, 1, dv)
        return self._output(o, x[:, None])[:, 0], state

    def reorder(self, state: Tensor, index: Tensor) -> Tensor:
        """Rows `index` (B',) of the state, for beam search."""
        return state.index_select(0, index)


def build(ctx: BuildContext) -> GLA:
    return GLA(ctx.model.d_model, ctx.model.n_heads, ctx.options)


@seqbench.hookimpl
def register_architectures(register):
    register(ArchSpec(name="gla", description="gated linear attention (Yang et al. 2024)", kind="mixer",
                      build=build, options=GLAOptions, uses_heads=True))
