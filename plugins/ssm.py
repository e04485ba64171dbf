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

Training runs a chunked scan (`scan`), generation the recurrence (`step`). Inside a chunk of `CHUNK` positions
h_t = e^{s_t - s_m} (e^{s_m} h_0 + sum_{j<=t} e^{s_m - s_j} delta_j B_j x_j), s the running sum of delta*A and m
the chunk's middle position; so that no e^{...} can overflow, each step's log-decay delta*A is floored at
-`MAX_LOG_DECAY` (a decay below e^-8 per step forgets the state all but entirely), in both forms alike. The loop is
over chunks, one chunk's (B, L, N, E) tensors at a time. A fused kernel (mamba-ssm's `selective_scan_fn`, CUDA)
would replace `scan`. On CPU this form still costs several times `lstm` (tests/benchmark_families.py): its state is
E x N per row and position, touched elementwise, where lstm's work is matrix products.
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

CHUNK = 16  # positions per chunk of the training scan
MAX_LOG_DECAY = 8.0  # delta * A >= -8: CHUNK / 2 * 8 = 64 keeps every e^{...} of the scan inside float32's e^88


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
        """x (B, T, E) after the convolution -> delta (B, T, E), B and C (B, T, 1, N) each; time-invariant: delta
        (1, T, E), B and C (1, 1, E, N)."""
        if self.selective:
            dt, b, c = self.x_proj(x).split([self.r, self.n, self.n], dim=-1)  # (B, T, r), (B, T, N), (B, T, N)
            return F.softplus(self.dt_proj(dt)), b[:, :, None], c[:, :, None]
        delta = F.softplus(self.dt_bias).expand(1, x.shape[1], -1)  # (1, T, E)
        return delta, self.B[None, None], self.C[None, None]

    def _mix(self, u: Tensor, ends: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor]:
        """u (B, T, D) -> output (B, T, D), each row's state after position ends (B,) if given (B, E, N), and the
        pre-convolution inputs (B, T, E)."""
        x_in, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, E) each
        x = F.silu(self.conv(F.pad(x_in.transpose(1, 2), (self.k - 1, 0)))).transpose(1, 2)  # (B, T, E)
        delta, b, c = self._ssm_inputs(x)
        # a fused GPU kernel plugs in here: mamba-ssm's selective_scan_fn(x, delta, A, B, C, D, z) for scan()
        y, h = scan(delta, -torch.exp(self.A_log), delta * x, b, c, ends)  # (B, T, E), (B, E, N) or None
        return self.out_proj((y + self.D * x) * F.silu(z)), h, x_in

    def forward(self, u: Tensor) -> Tensor:
        """u (B, T, D) -> (B, T, D)."""
        return self._mix(u)[0]

    def prefill(self, u: Tensor, lengths: Tensor) -> tuple[Tensor, SSMState]:
        """Right-padded u (B, L, D), lengths (B,) -> forward(u), and each row's state after position lengths-1."""
        y, h, x_in = self._mix(u, lengths - 1)
        padded = F.pad(x_in, (0, 0, self.k - 1, 0))  # (B, k-1 + L, E): zeros before position 0
        pos = lengths[:, None] + torch.arange(self.k - 1, device=u.device)  # (B, k-1): inputs lengths-k+1..lengths-1
        conv = padded.gather(1, pos[..., None].expand(-1, -1, self.e)).transpose(1, 2)  # (B, E, k-1)
        return y, SSMState(conv, h)

    def step(self, u: Tensor, state: SSMState) -> tuple[Tensor, SSMState]:
        """u (B, D) at the next position -> output (B, D), the next state: the recurrence, one step."""
        x_in, z = self.in_proj(u).chunk(2, dim=-1)  # (B, E) each
        window = torch.cat([state.conv, x_in[..., None]], dim=-1)  # (B, E, k)
        x = F.silu((window * self.conv.weight[:, 0]).sum(-1) + self.conv.bias)  # (B, E)
        delta, b, c = self._ssm_inputs(x[:, None])  # (B or 1, 1, E), (B or 1, 1, 1 or E, N) twice
        log_decay = (delta[:, 0, :, None] * -torch.exp(self.A_log)).clamp(min=-MAX_LOG_DECAY)  # (B or 1, E, N)
        h = log_decay.exp() * state.h + (delta[:, 0] * x)[..., None] * b[:, 0]  # (B, E, N)
        y = (h * c[:, 0]).sum(-1) + self.D * x  # (B, E)
        return self.out_proj(y * F.silu(z)), SSMState(window[..., 1:], h)

    def reorder(self, state: SSMState, index: Tensor) -> SSMState:
        """Rows `index` (B',) of the state, for beam search."""
        return SSMState(state.conv.index_select(0, index), state.h.index_select(0, index))


def scan(delta: Tensor, a: Tensor, dx: Tensor, b: Tensor, c: Tensor, ends: Tensor | None = None
         ) -> tuple[Tensor, Tensor | None]:
    """The selective scan h_t = exp(delta_t A) h_{t-1} + dx_t B_t, y_t = C_t . h_t, chunk by chunk.

    delta (B or 1, T, E), A (E, N) negative, dx = delta * x (B, T, E), B and C (B or 1, T or 1, 1 or E, N) ->
    y (B, T, E), and each row's state after position ends (B,) if given (B, E, N; not differentiable). Within a chunk
    of L positions, with s the running sum of the log-decays and m the chunk's middle position,
        h_t = e^{s_t - s_m} (e^{s_m} h_0 + sum_{j<=t} e^{-(s_j - s_m)} dx_j B_j)
    every exponent at most L/2 * MAX_LOG_DECAY. One chunk's (B, L, N, E) tensors at a time (E last: the sums over
    N run along vectors), so that no (B, T, N, E) tensor is allocated; the loop is over chunks, carrying the state.
    The backward pass (`_Scan`) keeps only each chunk's first state and recomputes the chunk, as mamba-ssm does.
    """
    empty = dx.new_zeros(0, dtype=torch.long)  # autograd.Function takes tensors: no ends
    y, h_end = _Scan.apply(delta, a.T, dx, b.transpose(-1, -2), c.transpose(-1, -2), empty if ends is None else ends)
    return y, None if ends is None else h_end.transpose(1, 2)


def _chunk(delta: Tensor, a: Tensor, dx: Tensor, b: Tensor, h0: Tensor, lower: Tensor
           ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One chunk of L positions, without autograd: delta (B or 1, L, E), A (N, E), dx (B, L, E), B (.., N, ..),
    the state before it h0 (B, N, E) -> where the log-decay is above its floor (B or 1, L, N, E), e^{s - s_m} (the
    same), e^{s_m} (B or 1, 1, N, E), the inputs dx B (B, L, N, E) and the states h (B, L, N, E)."""
    n = dx.shape[1]
    log_decay = delta[:, :, None] * a  # (B or 1, L, N, E)
    above = log_decay > -MAX_LOG_DECAY
    s = (lower[:n, :n] @ log_decay.clamp_(min=-MAX_LOG_DECAY).flatten(2)).view_as(log_decay)  # running sums
    mid = s[:, (n - 1) // 2, None].clone()  # (B or 1, 1, N, E)
    grow = s.sub_(mid).exp_()  # e^{s_t - s_m}
    mid = mid.exp_()
    inp = dx[:, :, None] * b  # (B, L, N, E)
    hs = (lower[:n, :n] @ (inp / grow).flatten(2)).view_as(inp).add_(mid * h0[:, None]).mul_(grow)
    return above, grow, mid, inp, hs


def _at(v: Tensor, now: slice) -> Tensor:
    """Positions `now` of B or C (.., T or 1, N, ..): a time-invariant one (T = 1) is the same at every position."""
    return v if v.shape[1] == 1 else v[:, now]


class _Scan(torch.autograd.Function):
    """`scan` in the layout (N, E): A (N, E), B and C (B or 1, T or 1, N, 1 or E), states (B, N, E)."""

    @staticmethod
    def forward(ctx, delta: Tensor, a: Tensor, dx: Tensor, b: Tensor, c: Tensor, ends: Tensor
                ) -> tuple[Tensor, Tensor]:
        bsz, t, e = dx.shape
        lower = torch.ones(CHUNK, CHUNK, dtype=dx.dtype, device=dx.device).tril()  # lower @ X: cumsum over rows
        h = dx.new_zeros(bsz, a.shape[0], e)  # (B, N, E)
        h_end = torch.zeros_like(h)
        ys, starts = [], []
        for start in range(0, t, CHUNK):
            now = slice(start, start + CHUNK)
            starts.append(h)
            *_, hs = _chunk(delta[:, now], a, dx[:, now], _at(b, now), h, lower)  # (B, L, N, E)
            ys.append((hs * _at(c, now)).sum(2))  # (B, L, E)
            h = hs[:, -1]
            if ends.numel():
                here = (ends >= start) & (ends < start + hs.shape[1])  # (B,): rows whose end is in this chunk
                picked = hs[torch.arange(bsz, device=dx.device), (ends - start).clamp(0, hs.shape[1] - 1)]
                h_end = torch.where(here[:, None, None], picked, h_end)
        ctx.save_for_backward(delta, a, dx, b, c, torch.stack(starts))  # the states at chunk starts (K, B, N, E)
        ctx.mark_non_differentiable(h_end)
        return torch.cat(ys, 1), h_end

    @staticmethod
    def backward(ctx, dy: Tensor, _: Tensor) -> tuple[Tensor | None, ...]:
        """Chunks last to first, each recomputed from its first state; g_t = dLoss/dh_t over all later positions,
        g_t = C_t dy_t + e^{log-decay_{t+1}} g_{t+1}, is the same chunked sum run backwards."""
        delta, a, dx, b, c, starts = ctx.saved_tensors
        t = dx.shape[1]
        lower = torch.ones(CHUNK, CHUNK, dtype=dx.dtype, device=dx.device).tril()
        d_delta, d_a, d_dx = torch.zeros_like(delta), torch.zeros_like(a), torch.zeros_like(dx)
        d_b, d_c = torch.zeros_like(b), torch.zeros_like(c)
        dh = torch.zeros_like(starts[0])  # dLoss/d(the chunk's last state) through later chunks (B, N, E)
        for k in reversed(range(len(starts))):
            now = slice(k * CHUNK, (k + 1) * CHUNK)
            n = min(CHUNK, t - k * CHUNK)
            b_now, c_now, delta_now, dx_now, dy_now = _at(b, now), _at(c, now), delta[:, now], dx[:, now], dy[:, now]
            above, grow, mid, inp, hs = _chunk(delta_now, a, dx_now, b_now, starts[k], lower)
            g = (lower[:n, :n].T @ (grow * c_now * dy_now[:, :, None]).flatten(2)).view_as(hs)  # sums over j >= t
            g = g.add_(grow[:, -1:] * dh[:, None]).div_(grow)  # (B, L, N, E)
            dh = grow[:, 0] * mid[:, 0] * g[:, 0]  # through the first decay, to the chunk before
            d_log_decay = (hs - inp).mul_(g).mul_(above)  # g_t * decay_t * h_{t-1}; none below the floor
            d_delta[:, now] = (d_log_decay * a).sum(2).sum_to_size(delta_now.shape)
            d_a += (d_log_decay * delta_now[:, :, None]).sum((0, 1))
            d_dx[:, now] = (g * b_now).sum(2)
            for d_v, v, d_now in ((d_b, b, g * dx_now[:, :, None]), (d_c, c, hs * dy_now[:, :, None])):
                if v.shape[1] == 1:
                    d_v += d_now.sum_to_size(v.shape)
                else:
                    d_v[:, now] = d_now.sum_to_size(d_v[:, now].shape)
        return d_delta, d_a, d_dx, d_b, d_c, None


def build(ctx: BuildContext) -> SelectiveSSM:
    return SelectiveSSM(ctx.model.d_model, ctx.options)


@seqbench.hookimpl
def register_architectures(register):
    register(ArchSpec(name="selective-ssm", description="Mamba's selective SSM block, S6 (Gu & Dao 2023)",
                      kind="mixer", build=build, options=SSMOptions))
