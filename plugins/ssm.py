"""`selective-ssm`: Mamba's selective state-space block (S6), a sequence mixer (kind "mixer").

Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", §3 and Algorithm 2:

    x, z    = in_proj(u).chunk(2)                   E = expand * D channels each
    x       = SiLU(causal depthwise Conv1d_k(x))    k = d_conv taps
    delta   = softplus(dt_proj(x_proj_dt(x)))       low rank dt_rank, bias initialised as Mamba's (dt in [1e-3, 0.1])
    B, C    = x_proj_B(x), x_proj_C(x)              d_state wide, input-dependent (selective)
    A       = -exp(A_log), A_log = log(1..d_state)  diagonal, S4D-real initialisation
    h_t     = exp(delta_t A) h_{t-1} + delta_t B_t x_t         (B, E, N): zero-order hold on A, Euler on B
    y_t     = C_t h_t + D x_t;  out = out_proj(y * SiLU(z))    as mamba's `selective_scan_ref`

`selective=False` gives the time-invariant diagonal SSM of Mamba's Table 1 (S4D-like): delta (E,), B and C (E, N)
are learned parameters that do not depend on the input (no x_proj, no dt_proj).

Training runs a chunked scan (`_mix`), generation the recurrence (`step`). Inside a chunk of `CHUNK` positions
h_t = e^{a_t} (h_0 + sum_{s<=t} e^{-a_s} delta_s B_s x_s) with a = cumsum(delta A); so that e^{-a} cannot overflow,
each step's log-decay delta*A is floored at -`MAX_LOG_DECAY` (a decay below e^-8 per step forgets the state all but
entirely), in both forms alike. A fused kernel (mamba-ssm's `selective_scan_fn`, CUDA) would replace the scan in
`_mix`. On CPU this form costs far more than `lstm` (tests/benchmark_families.py): its state is E x N per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqbench
from seqbench.contract.specs import ArchSpec, BuildContext, options

from ._scan import causal_mask

CHUNK = 8  # positions per chunk of the training scan
MAX_LOG_DECAY = 8.0  # delta * A >= -8: CHUNK * 8 = 64 keeps e^{-cumsum} far from float32's e^88


@options
class SSMOptions:
    """Options of `selective-ssm`."""

    d_state: int = 16  # N: state size per channel
    expand: int = 2  # E = expand * d_model inner channels
    d_conv: int = 4  # taps of the causal depthwise convolution
    dt_rank: int | Literal["auto"] = "auto"  # rank of the delta projection; "auto": ceil(d_model / 16)
    selective: bool = True  # False: delta, B, C are parameters, not functions of the input (S4D-like control)

    def __post_init__(self) -> None:
        for name in ("d_state", "expand", "d_conv"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.dt_rank != "auto" and self.dt_rank < 1:
            raise ValueError(f"dt_rank must be 'auto' or at least 1, got {self.dt_rank}")


@dataclass
class SSMState:
    """Decoding state of one layer."""

    conv: Tensor  # (B, E, d_conv - 1): the last pre-convolution inputs
    h: Tensor  # (B, E, N): the SSM state


class SelectiveSSM(nn.Module):
    """Mamba's S6 mixer (B, T, D) -> (B, T, D); `selective=False`: the time-invariant diagonal SSM."""

    def __init__(self, d: int, opts: SSMOptions) -> None:
        super().__init__()
        e, n = opts.expand * d, opts.d_state
        r = math.ceil(d / 16) if opts.dt_rank == "auto" else opts.dt_rank
        self.e, self.n, self.r, self.k, self.selective = e, n, r, opts.d_conv, opts.selective
        self.in_proj = nn.Linear(d, 2 * e, bias=False)
        self.conv = nn.Conv1d(e, e, opts.d_conv, groups=e)  # depthwise; made causal by left padding
        if opts.selective:
            self.x_proj = nn.Linear(e, r + 2 * n, bias=False)  # -> dt (low rank), B, C
            self.dt_proj = nn.Linear(r, e)
        else:
            self.dt_bias = nn.Parameter(torch.empty(e))  # delta = softplus(dt_bias)
            self.B = nn.Parameter(torch.empty(e, n))
            self.C = nn.Parameter(torch.empty(e, n))
        self.A_log = nn.Parameter(torch.empty(e, n))
        self.D = nn.Parameter(torch.empty(e))
        self.out_proj = nn.Linear(e, d, bias=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """S4D-real A, D = 1, dt in [1e-3, 0.1] log-uniform through softplus's inverse (as mamba-ssm)."""
        if self.A_log.is_meta:  # sizing builds on the meta device: nothing to initialise
            return
        self.A_log.copy_(torch.log(torch.arange(1, self.n + 1, dtype=self.A_log.dtype)).expand(self.e, -1))
        self.D.fill_(1.0)
        dt = torch.exp(torch.rand(self.e) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        bias = dt + torch.log(-torch.expm1(-dt))  # softplus^-1(dt)
        if self.selective:
            nn.init.uniform_(self.dt_proj.weight, -self.r**-0.5, self.r**-0.5)
            self.dt_proj.bias.copy_(bias)
        else:
            self.dt_bias.copy_(bias)
            nn.init.normal_(self.B, std=self.n**-0.5)
            nn.init.normal_(self.C, std=self.n**-0.5)

    def _ssm_inputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, E) after the convolution -> log-decay delta*A (B, E, N, T), input delta*B*x (B, E, N, T), C;
        time last, so that a cumsum within chunks is one matrix product. Time-invariant: (E, N, T), (E, N, 1)."""
        if self.selective:
            dt, b, c = self.x_proj(x).split([self.r, self.n, self.n], dim=-1)  # (B, T, r), (B, T, N), (B, T, N)
            delta = F.softplus(self.dt_proj(dt)).transpose(1, 2)  # (B, E, T)
            b, c = b.transpose(1, 2)[:, None], c.transpose(1, 2)[:, None]  # (B, 1, N, T)
        else:
            delta = F.softplus(self.dt_bias)[:, None].expand(-1, x.shape[1])  # (E, T)
            b, c = self.B[..., None], self.C[..., None]  # (E, N, 1)
        log_decay = (delta[..., None, :] * -torch.exp(self.A_log)[..., None]).clamp(min=-MAX_LOG_DECAY)
        return log_decay, (delta * x.transpose(1, 2))[:, :, None] * b, c  # (.., E, N, T), (B, E, N, T), C

    def _mix(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """u (B, T, D) -> output (B, T, D), every position's state (B, E, N, T), pre-conv inputs (B, T, E)."""
        b, t, _ = u.shape
        x_in, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, E) each
        x = F.silu(self.conv(F.pad(x_in.transpose(1, 2), (self.k - 1, 0)))).transpose(1, 2)  # (B, T, E)
        log_decay, inp, c = self._ssm_inputs(x)  # (B, E, N, T), (B, E, N, T), (B, 1, N, T) or (E, N, 1)
        # a fused GPU kernel plugs in here: mamba-ssm's selective_scan_fn(x, delta, A, B, C, D, z) for the lines below
        if t % CHUNK:  # zero padding at the end: identity steps
            log_decay, inp = (F.pad(v, (0, -t % CHUNK)) for v in (log_decay, inp))
        upper = causal_mask(CHUNK, u.device).T.to(u.dtype)  # (L, L): X @ upper is a cumsum over X's last dim
        a = log_decay.unflatten(-1, (-1, CHUNK)) @ upper  # (B, E, N, K, L): log-decay from the chunk's start
        decay = a.exp()
        p = (inp.unflatten(-1, (-1, CHUNK)) * torch.exp(-a)) @ upper  # sum_{s<=t} e^{-a_s} delta_s B_s x_s
        h = u.new_zeros(b, self.e, self.n)  # (B, E, N)
        starts = []
        for end_decay, end_p in zip(decay[..., -1].unbind(-1), p[..., -1].unbind(-1)):  # (B, E, N) each
            starts.append(h)  # carry the state from chunk to chunk
            h = end_decay * (h + end_p)
        hs = (decay * (p + torch.stack(starts, -1)[..., None])).flatten(-2)[..., :t]  # (B, E, N, T): every h_t
        y = (hs * c).sum(2).transpose(1, 2) + self.D * x  # (B, T, E)
        return self.out_proj(y * F.silu(z)), hs, x_in

    def forward(self, u: Tensor) -> Tensor:
        """u (B, T, D) -> (B, T, D)."""
        return self._mix(u)[0]

    def prefill(self, u: Tensor, lengths: Tensor) -> tuple[Tensor, SSMState]:
        """Right-padded u (B, L, D), lengths (B,) -> forward(u), and each row's state after position lengths-1."""
        y, hs, x_in = self._mix(u)
        rows = torch.arange(u.shape[0], device=u.device)
        h = hs[rows, :, :, lengths - 1]  # (B, E, N)
        padded = F.pad(x_in, (0, 0, self.k - 1, 0))  # (B, k-1 + L, E): zeros before position 0
        pos = lengths[:, None] + torch.arange(self.k - 1, device=u.device)  # (B, k-1): inputs lengths-k+1..lengths-1
        conv = padded.gather(1, pos[..., None].expand(-1, -1, self.e)).transpose(1, 2)  # (B, E, k-1)
        return y, SSMState(conv, h)

    def step(self, u: Tensor, state: SSMState) -> tuple[Tensor, SSMState]:
        """u (B, D) at the next position -> output (B, D), the next state: the recurrence, one step."""
        x_in, z = self.in_proj(u).chunk(2, dim=-1)  # (B, E) each
        window = torch.cat([state.conv, x_in[..., None]], dim=-1)  # (B, E, k)
        x = F.silu((window * self.conv.weight[:, 0]).sum(-1) + self.conv.bias)  # (B, E)
        log_decay, inp, c = self._ssm_inputs(x[:, None])  # (B, E, N, 1), (B, E, N, 1), (B, 1, N, 1) or (E, N, 1)
        h = log_decay[..., 0].exp() * state.h + inp[..., 0]  # (B, E, N)
        y = (h * c[..., 0]).sum(-1) + self.D * x  # (B, E)
        return self.out_proj(y * F.silu(z)), SSMState(window[..., 1:], h)

    def reorder(self, state: SSMState, index: Tensor) -> SSMState:
        """Rows `index` (B',) of the state, for beam search."""
        return SSMState(state.conv.index_select(0, index), state.h.index_select(0, index))


def build(ctx: BuildContext) -> SelectiveSSM:
    return SelectiveSSM(ctx.model.d_model, ctx.options)


@seqbench.hookimpl
def register_architectures(register):
    register(ArchSpec(name="selective-ssm", description="Mamba's selective SSM block, S6 (Gu & Dao 2023)",
                      kind="mixer", build=build, options=SSMOptions))
