"""`mlstm`: xLSTM's matrix-memory LSTM, a sequence mixer (kind "mixer").

Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory", §2.3 (the mLSTM cell, stabilised as in its appendix).
Per head, with a matrix memory C (d x d), a normaliser n (d,) and the stabiliser m (scalar):

    q, k, v   = x W_q, x W_k / sqrt(d), x W_v
    log i_t   = w_i x_t + b_i  (exponential input gate);   log f_t = logsigmoid(w_f x_t + b_f)  (sigmoid forget gate)
    m_t       = max(log f_t + m_{t-1}, log i_t)
    C_t       = e^{log f_t + m_{t-1} - m_t} C_{t-1} + e^{log i_t - m_t} k_t v_t^T
    n_t       = e^{log f_t + m_{t-1} - m_t} n_{t-1} + e^{log i_t - m_t} k_t
    h_t       = o_t * LayerNorm(q_t C_t / max(|q_t n_t|, e^{-m_t})),   o_t = sigmoid(W_o x_t);   out = W_out h

(C and n are the paper's C, n scaled by e^{-m_t}: the ratio is the paper's (C q) / max(|n^T q|, 1) whatever m is.)
Gates are computed from x (the paper's block computes them from q, k, v); the per-head LayerNorm is its group norm.

Training runs the chunked form (`_chunked`): within a chunk of `CHUNK` positions, with b = cumsum(log f), position
t weighs position s <= t by D_ts = b_t - b_s + log i_s and the state carried in by b_t + m_0; m_t is the largest of
these, so every e^{. - m_t} is <= 1. The state (C, n, m) is carried from chunk to chunk; generation runs the
recurrence (`step`). A fused kernel (NX-AI's mlstm_kernels chunkwise, Triton) would replace `_chunked` here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqbench
from seqbench.contract.specs import ArchSpec, BuildContext, options

from ._scan import causal_mask, from_chunks, to_chunks, valid

CHUNK = 16  # positions per chunk of the training form
NEVER = -1e30  # log input gate of a padding position in `prefill`: it writes nothing


@options
class MLSTMOptions:
    """Options of `mlstm`."""

    forget_bias: tuple[float, float] = (3.0, 6.0)  # forget-gate biases, spread linearly over the heads (xLSTM)


@dataclass
class MLSTMState:
    """Decoding state of one layer."""

    c: Tensor  # (B, H, d, d): the matrix memory, scaled by e^{-m}
    n: Tensor  # (B, H, d): the normaliser, scaled by e^{-m}
    m: Tensor  # (B, H): the stabiliser


class MLSTM(nn.Module):
    """Matrix-memory LSTM (B, T, D) -> (B, T, D), `n_heads` heads of width D / n_heads."""

    def __init__(self, d: int, n_heads: int, opts: MLSTMOptions) -> None:
        super().__init__()
        self.h, self.dh, self.forget_bias = n_heads, d // n_heads, opts.forget_bias
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.gates = nn.Linear(d, 2 * n_heads)  # -> log i (pre-exponential), forget pre-activation
        self.o = nn.Linear(d, d)
        self.norm = nn.LayerNorm(self.dh)  # per head
        self.out = nn.Linear(d, d, bias=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Forget gates open (biases spread over forget_bias), input gates near e^0."""
        if self.gates.weight.is_meta:  # sizing builds on the meta device: nothing to initialise
            return
        nn.init.normal_(self.gates.weight, std=0.1 / self.gates.in_features**0.5)
        self.gates.bias[: self.h].zero_()
        self.gates.bias[self.h :].copy_(torch.linspace(*self.forget_bias, self.h))

    def _heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """x (B, T, D) -> q, k, v (B, H, T, dh), log i, log f (B, H, T)."""
        q, k, v = (z.unflatten(-1, (self.h, -1)).transpose(1, 2) for z in self.qkv(x).chunk(3, dim=-1))
        log_i, f = self.gates(x).transpose(1, 2).chunk(2, dim=1)  # (B, H, T) each
        return q, k * self.dh**-0.5, v, log_i, F.logsigmoid(f)

    def _output(self, h: Tensor, x: Tensor) -> Tensor:
        """h (B, H, T, dh), x (B, T, D) -> (B, T, D): per-head norm, output gate, projection."""
        return self.out(torch.sigmoid(self.o(x)) * self.norm(h).transpose(1, 2).flatten(2))

    def _chunked(self, q: Tensor, k: Tensor, v: Tensor, log_i: Tensor, log_f: Tensor) -> tuple[Tensor, MLSTMState]:
        """q, k, v (B, H, T, dh), log_i, log_f (B, H, T) -> h (B, H, T, dh) and the final state."""
        t = q.shape[2]
        q, k, v = (to_chunks(z, CHUNK) for z in (q, k, v))  # (B, H, K, L, dh)
        li, b = to_chunks(log_i[..., None], CHUNK)[..., 0], to_chunks(log_f[..., None], CHUNK)[..., 0].cumsum(-1)
        d = b[..., :, None] - b[..., None, :] + li[..., None, :]  # (B, H, K, L, L): D_ts
        d = d.masked_fill(~causal_mask(CHUNK, q.device), float("-inf"))
        w = b[..., -1:] - b + li  # (B, H, K, L): weight of position s in the chunk's end state
        a = w.amax(-1).detach()  # (B, H, K)
        wk = k * (w - a[..., None]).exp()[..., None]  # (B, H, K, L, dh)
        c_local, n_local = wk.transpose(-1, -2) @ v, wk.sum(-2)  # (B, H, K, dh, dh), (B, H, K, dh)
        c, n, m = q.new_zeros(*q.shape[:2], self.dh, self.dh), q.new_zeros(*q.shape[:2], self.dh), \
            q.new_zeros(q.shape[:2])
        starts = []
        for b_end, a_i, c_i, n_i in zip(b[..., -1].unbind(2), a.unbind(2), c_local.unbind(2), n_local.unbind(2)):
            starts.append((c, n, m))  # carry the state from chunk to chunk
            carried = b_end + m  # (B, H)
            m_new = torch.maximum(carried, a_i)
            f_old, f_new = (carried - m_new).exp(), (a_i - m_new).exp()  # (B, H)
            c = f_old[..., None, None] * c + f_new[..., None, None] * c_i
            n = f_old[..., None] * n + f_new[..., None] * n_i
            m = m_new
        cs, ns, ms = (torch.stack(z, 2) for z in zip(*starts))  # (B, H, K, dh, dh), (B, H, K, dh), (B, H, K)
        inter = b + ms[..., None]  # (B, H, K, L): log weight of the state carried in
        mt = torch.maximum(inter, d.amax(-1)).detach()  # (B, H, K, L): the stabiliser m_t
        s = (q @ k.transpose(-1, -2)) * (d - mt[..., None]).exp()  # (B, H, K, L, L)
        g = (inter - mt).exp()  # (B, H, K, L)
        num = s @ v + g[..., None] * (q @ cs)  # (B, H, K, L, dh)
        den = s.sum(-1) + g * (q @ ns[..., None])[..., 0]  # (B, H, K, L)
        h = num / torch.maximum(den.abs(), (-mt).exp())[..., None]
        return from_chunks(h, t), MLSTMState(c, n, m)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, D) -> (B, T, D)."""
        # a fused GPU kernel plugs in here: mlstm_kernels' chunkwise mLSTM in place of self._chunked
        return self._output(self._chunked(*self._heads(x))[0], x)

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, MLSTMState]:
        """Right-padded x (B, L, D), lengths (B,) -> forward(x), and each row's state after position lengths-1
        (the scan again with padding made identity steps: forget gate 1, input gate 0)."""
        q, k, v, log_i, log_f = self._heads(x)
        h, _ = self._chunked(q, k, v, log_i, log_f)
        real = valid(lengths, x.shape[1])[:, None]  # (B, 1, L)
        _, state = self._chunked(q, k, v, log_i.masked_fill(~real, NEVER), log_f * real)
        return self._output(h, x), state

    def step(self, x: Tensor, state: MLSTMState) -> tuple[Tensor, MLSTMState]:
        """x (B, D) at the next position -> output (B, D), and the next state: the recurrence, one step."""
        q, k, v, log_i, log_f = (z[:, :, 0] for z in self._heads(x[:, None]))  # (B, H, dh) or (B, H)
        m = torch.maximum(log_f + state.m, log_i)  # (B, H)
        f, i = (log_f + state.m - m).exp(), (log_i - m).exp()
        c = f[..., None, None] * state.c + i[..., None, None] * k[..., None] * v[..., None, :]  # (B, H, dh, dh)
        n = f[..., None] * state.n + i[..., None] * k  # (B, H, dh)
        num = (q[..., None, :] @ c)[..., 0, :]  # (B, H, dh)
        den = torch.maximum((q * n).sum(-1).abs(), (-m).exp())  # (B, H)
        return self._output((num / den[..., None])[:, :, None], x[:, None])[:, 0], MLSTMState(c, n, m)

    def reorder(self, state: MLSTMState, index: Tensor) -> MLSTMState:
        """Rows `index` (B',) of the state, for beam search."""
        return MLSTMState(*(z.index_select(0, index) for z in (state.c, state.n, state.m)))


def build(ctx: BuildContext) -> MLSTM:
    return MLSTM(ctx.model.d_model, ctx.model.n_heads, ctx.options)


@seqbench.hookimpl
def register_architectures(register):
    register(ArchSpec(name="mlstm", description="xLSTM's matrix-memory LSTM, mLSTM (Beck et al. 2024)",
                      kind="mixer", build=build, options=MLSTMOptions, uses_heads=True))
