"""`selective-ssm`: Mamba's selective state-space block (S6), a sequence mixer (kind "mixer").

Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", §3 and Algorithm 2:

    x, z    = in_proj(u).chunk(2)                   E = expand * D channels each
    x       = SiLU(causal depthwise Conv1d_k(x))    k = d_conv taps (computed as k shifted multiply-adds)
    delta   = softplus(dt_proj(x_proj_dt(x)))       low rank dt_rank, bias initialised as Mamba's (dt in [1e-3, 0.1])
    B, C    = x_proj_B(x), x_proj_C(x)              d_state wide, input-dependent (selective)
    A       = -exp(A_log), A_log = log(1..d_state)  diagonal, S4D-real initialisation
    h_t     = exp(delta_t A) h_{t-1} + delta_t B_t x_t         (B, E, N): zero-order hold on A, Euler on B
    y_t     = C_t h_t + D x_t;  out = out_proj(y * SiLU(z))    as mamba's `selective_scan_ref`

`selective=False` gives the time-invariant diagonal SSM of Mamba's Table 1 (S4D-like): delta (E,), B and C (E, N)
are learned parameters that do not depend on the input (no x_proj, no dt_proj).

Training runs a scan, generation the recurrence (`step`); each step's log-decay delta*A is floored at
-`MAX_LOG_DECAY` (a decay below e^-8 per step forgets the state all but entirely), in every form alike. The
time-invariant SSM trains as S4D does, by one causal convolution with its kernel, applied by FFT (`convolve`);
the selective one has no kernel (its decays change at every position) and runs one of two scans, which compute
the same thing (to float tolerance, tests/test_families.py):
- on a CPU, selective, float32 (`cpu_kernel`, the default): one compiled C++ loop (`_ssm_cpu`), a row's (N, E)
  state kept in cache, one pass forward and one backward (the backward recomputing each 16 positions' states from
  the one kept before them); built once per machine by torch's C++ extension loader, the PyTorch scan where it
  cannot be built;
- elsewhere (`scan`): PyTorch, `CHUNK` positions at a time, time first: a block's decays e^{delta A}, inputs
  delta B x and readouts C h are whole-block products, its recurrence one multiply-add per position on the
  (B, N, E) state, its own backward pass walking the blocks in reverse. On a CPU that costs about 20 elementwise
  passes over (B, T, N, E) values and a fresh (B, T, N, E) allocation per step, several times `lstm`'s cell
  (tests/benchmark_families.py); the compiled loop is what brings the cell within 2x of it.
A fused GPU kernel (mamba-ssm's `selective_scan_fn`, CUDA) would replace `scan` on a GPU. Prefill (the state
after each row's prompt, for generation) runs a scan in both variants.
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

from ._ssm_cpu import CompiledScan, kernel, usable

CHUNK = 16  # positions per block of the training scan: (16, B, N, E) values, about 2 MB at the quick profile's size
MAX_LOG_DECAY = 8.0  # delta * A >= -8 in every step, in both forms


@options
class SSMOptions:
    """Options of `selective-ssm`."""

    d_state: int = 16  # N: state size per channel
    expand: int = 2  # E = expand * d_model inner channels
    d_conv: int = 4  # taps of the causal depthwise convolution
    dt_rank: int | Literal["auto"] = "auto"  # rank of the delta projection; "auto": ceil(d_model / 16)
    selective: bool = True  # False: delta, B, C are parameters, not functions of the input (S4D-like control)
    cpu_kernel: bool = True  # selective, float32, on a CPU: train with the compiled scan (`_ssm_cpu`, built once per
    #                          machine); False, or where it cannot be built: the PyTorch scan (`scan`), same maths

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
        self.cpu_kernel = opts.cpu_kernel and opts.selective  # the compiled scan takes B and C per row and position
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
        x = F.silu(self._causal_conv(x_in))  # (B, T, E)
        delta, b, c = self._ssm_inputs(x)
        a, dx = -torch.exp(self.A_log), delta * x  # (E, N), (B, T, E)
        # a fused GPU kernel plugs in here: mamba-ssm's selective_scan_fn(x, delta, A, B, C, D, z) for scan()
        if not self.selective and ends is None:
            y, h = convolve(delta[0, 0], a, dx, b[0, 0], c[0, 0]), None  # (B, T, E)
        elif self.cpu_kernel and usable(dx, a) and kernel() is not None:
            y, h = CompiledScan.apply(delta, a.T, dx, b[:, :, 0], c[:, :, 0], _ends(dx, ends),
                                      -MAX_LOG_DECAY)  # (B, T, E), (B, N, E) or empty
            h = None if ends is None else h.transpose(1, 2)
        else:
            y, h = scan(delta, a, dx, b, c, ends)  # (B, T, E), (B, E, N) or None
        return self.out_proj((y + self.D * x) * F.silu(z)), h, x_in

    def _causal_conv(self, x_in: Tensor) -> Tensor:
        """x_in (B, T, E) -> the causal depthwise convolution (B, T, E): out_t = bias + sum_j w_j x_{t-k+1+j}, as
        k multiply-adds over shifted views (on a CPU several times cheaper than Conv1d's depthwise backward)."""
        t = x_in.shape[1]
        padded = F.pad(x_in, (0, 0, self.k - 1, 0))  # (B, k-1 + T, E): zeros before position 0
        w = self.conv.weight[:, 0]  # (E, k)
        out = torch.addcmul(self.conv.bias, padded[:, self.k - 1 :], w[:, -1])
        for j in range(self.k - 1):
            out = out.addcmul_(padded[:, j : j + t], w[:, j])
        return out

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
    """The selective scan h_t = exp(delta_t A) h_{t-1} + dx_t B_t, y_t = C_t . h_t, block by block.

    delta (B or 1, T, E), A (E, N) negative, dx = delta * x (B, T, E), B and C (B or 1, T or 1, 1 or E, N) ->
    y (B, T, E), and each row's state after position ends (B,) if given (B, E, N; not differentiable). Positions
    run in blocks of `CHUNK`: a block's decays, inputs and readouts are whole-block products, its recurrence one
    multiply-add per position on the (B, N, E) state; no (B, T, N, E) product is allocated beyond the states
    kept for the backward pass (`_Scan`).
    """
    y, h_end = _Scan.apply(delta, a.T, dx, b.transpose(-1, -2), c.transpose(-1, -2), _ends(dx, ends))
    return y, None if ends is None else h_end.transpose(1, 2)


def _ends(dx: Tensor, ends: Tensor | None) -> Tensor:
    """ends (B,), or an empty tensor for none: an autograd.Function takes tensors, not None."""
    return dx.new_zeros(0, dtype=torch.long) if ends is None else ends


def convolve(delta: Tensor, a: Tensor, dx: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """The time-invariant scan as one causal convolution (S4D's training form): with delta, B and C the same at
    every position, h_t = sum_{s<=t} e^{(t-s) delta A} dx_s B, so y_t = sum_{s<=t} K_{t-s} dx_s with the kernel
    K_j = sum_n C_n B_n e^{j max(delta A_n, -MAX_LOG_DECAY)} per channel; applied by FFT, O(T log T) per channel.

    delta (E,), A (E, N) negative, dx (B, T, E), B and C (E, N) -> y (B, T, E): what `scan` gives with delta, B and
    C the same at every position, to float tolerance, gradients included (tests/test_families.py).
    """
    t = dx.shape[1]
    log_decay = (delta[:, None] * a).clamp(min=-MAX_LOG_DECAY)  # (E, N), as every step of the recurrence
    lags = torch.arange(t, dtype=dx.dtype, device=dx.device)  # (T,)
    k = ((log_decay[..., None] * lags).exp() * (b * c)[..., None]).sum(1)  # (E, T)
    size = 2 * t  # zero-padded to 2T: the FFT's circular convolution is then the causal one on positions 0..T-1
    spectrum = torch.fft.rfft(dx.transpose(1, 2), n=size) * torch.fft.rfft(k, n=size)  # (B, E, T + 1)
    return torch.fft.irfft(spectrum, n=size)[..., :t].transpose(1, 2)  # (B, T, E)


def _major(v: Tensor) -> Tensor:
    """(B or 1, T or 1, ...) -> (T or 1, B or 1, ...), contiguous: one position's rows are one block of memory."""
    return v.transpose(0, 1).contiguous()


def _at(v: Tensor, now: slice) -> Tensor:
    """Positions `now` of B or C (T or 1, ...): a time-invariant one (T = 1) is the same at every position."""
    return v if v.shape[0] == 1 else v[now]


def _per_row(h: Tensor, v: Tensor) -> bool:
    """Whether v is one N-vector per position and row (the selective B or C, (L, B, N, 1)) beside h (L, B, N, E)."""
    return v.shape == (*h.shape[:3], 1)


def _sum_n(h: Tensor, v: Tensor) -> Tensor:
    """sum over N of h v: h (L, B, N, E), v (L or 1, B or 1, N, 1 or E) -> (L, B, E); a batched matrix product
    where v is per row, so that no (L, B, N, E) product is allocated."""
    length, bsz, n, e = h.shape
    if _per_row(h, v):
        rows = torch.bmm(v.reshape(length * bsz, n, 1).transpose(1, 2), h.reshape(length * bsz, n, e))  # (L B, 1, E)
        return rows.view(length, bsz, e)
    return (h * v).sum(2)


def _sum_e(h: Tensor, w: Tensor, like: Tensor) -> Tensor:
    """sum over E of h w, h (L, B, N, E), w (L, B, E): (L, B, N, 1) where `like` is per row; else summed over L
    too, (B, N, E) (the caller sums the rest)."""
    length, bsz, n, e = h.shape
    if _per_row(h, like):
        return torch.bmm(h.reshape(length * bsz, n, e), w.reshape(length * bsz, e, 1)).view_as(like)
    return (h * w[:, :, None]).sum(0)


def _floored(delta: Tensor, a: Tensor) -> bool:
    """Whether any log-decay delta[.., e] A[n, e] is below -MAX_LOG_DECAY: delta (.., .., E), A (N, E). For each
    channel the least product is at delta's least or greatest value, so two (N, E) products tell."""
    lo, hi = delta.amin((0, 1)), delta.amax((0, 1))  # (E,)
    return bool(torch.minimum(lo * a, hi * a).min() < -MAX_LOG_DECAY)


def _decays(delta: Tensor, a: Tensor, floored: bool) -> tuple[Tensor, Tensor | None]:
    """delta (L, B or 1, E), A (N, E) -> e^{max(delta A, -MAX_LOG_DECAY)} (L, B or 1, N, E), and where delta A is
    on or above the floor (where its gradient flows) when some of it is not."""
    log_decay = delta[:, :, None] * a
    if not floored:
        return log_decay.exp_(), None
    return log_decay.clamp(min=-MAX_LOG_DECAY).exp_(), log_decay >= -MAX_LOG_DECAY


class _Scan(torch.autograd.Function):
    """`scan` in the layouts (N, E) and time first: A (N, E), B and C (T or 1, B or 1, N, 1 or E), states
    (T, B, N, E). The states are kept for the backward pass; the decays are recomputed there, block by block."""

    @staticmethod
    def forward(ctx, delta: Tensor, a: Tensor, dx: Tensor, b: Tensor, c: Tensor, ends: Tensor
                ) -> tuple[Tensor, Tensor]:
        bsz, t, e = dx.shape
        dl, xs, bs, cs = _major(delta), _major(dx), _major(b), _major(c)  # (T, B or 1, E), (T, B, E), B, C
        floored = _floored(dl, a)
        hs = dx.new_empty(t, bsz, a.shape[0], e)  # (T, B, N, E)
        y = dx.new_empty(t, bsz, e)
        for start in range(0, t, CHUNK):
            now = slice(start, start + CHUNK)
            decay, _ = _decays(dl[now], a, floored)  # (L, B or 1, N, E)
            block = torch.mul(_at(bs, now), xs[now][:, :, None], out=hs[now])  # the inputs dx B, made the states
            for j in range(max(0, 1 - start), block.shape[0]):
                block[j].addcmul_(decay[j], hs[start + j - 1])  # h_t = dx_t B_t + decay_t h_{t-1}
            y[now] = _sum_n(block, _at(cs, now))
        h_end = hs[ends, torch.arange(bsz, device=dx.device)] if ends.numel() else hs.new_zeros(0)  # (B, N, E)
        ctx.floored = floored
        ctx.save_for_backward(dl, a, xs, bs, cs, hs)
        ctx.mark_non_differentiable(h_end)
        return y.transpose(0, 1), h_end

    @staticmethod
    def backward(ctx, dy: Tensor, _: Tensor) -> tuple[Tensor | None, ...]:
        """Blocks last to first. g_t = dLoss/dh_t over all later positions, g_t = C_t dy_t + decay_{t+1} g_{t+1},
        one multiply-add per position; then every gradient is a whole-block product with g: the inputs' (g B),
        B's (g dx), C's (h dy), the log-decays' (g_t decay_t h_{t-1}, none on the floor)."""
        dl, a, xs, bs, cs, hs = ctx.saved_tensors
        t, bsz, n, e = hs.shape
        dys = _major(dy)  # (T, B, E)
        per_b, per_c = _per_row(hs, bs), _per_row(hs, cs)
        d_dx, d_delta, d_a = torch.empty_like(xs), dl.new_empty(t, dl.shape[1], e), torch.zeros_like(a)
        d_b = torch.empty_like(bs) if per_b else hs.new_zeros(bsz, n, e)
        d_c = torch.empty_like(cs) if per_c else hs.new_zeros(bsz, n, e)
        carry = None  # decay_t g_t at the first position t of the block after: what it sends back
        for start in reversed(range(0, t, CHUNK)):
            now = slice(start, start + CHUNK)
            decay, above = _decays(dl[now], a, ctx.floored)  # (L, B or 1, N, E)
            g = torch.mul(_at(cs, now), dys[now][:, :, None])  # (L, B, N, E): C_t dy_t, made g in place
            if carry is not None:
                g[-1].add_(carry)
            for j in range(g.shape[0] - 2, -1, -1):
                g[j].addcmul_(decay[j + 1], g[j + 1])
            carry = decay[0] * g[0]
            d_dx[now] = _sum_n(g, _at(bs, now))
            for d_v, per_row, product in ((d_b, per_b, _sum_e(g, xs[now], _at(bs, now))),
                                          (d_c, per_c, _sum_e(hs[now], dys[now], _at(cs, now)))):
                if per_row:
                    d_v[now] = product
                else:
                    d_v += product
            length = g.shape[0]
            d_log = g.mul_(decay)  # g_t decay_t h_{t-1}, in place; zero at t = 0, where h_{-1} = 0
            if start:
                d_log.mul_(hs[start - 1 : start - 1 + length])
            else:
                d_log[1:].mul_(hs[: length - 1])
                d_log[0].zero_()
            if above is not None:
                d_log.mul_(above)
            d_a += (d_log * dl[now][:, :, None]).sum((0, 1))
            d_delta[now] = d_log.mul_(a).sum(2).sum_to_size(d_delta[now].shape)
        d_b = d_b if per_b else d_b[None].sum_to_size(bs.shape)
        d_c = d_c if per_c else d_c[None].sum_to_size(cs.shape)
        return (d_delta.transpose(0, 1), d_a, d_dx.transpose(0, 1), d_b.transpose(0, 1), d_c.transpose(0, 1), None)


def build(ctx: BuildContext) -> SelectiveSSM:
    return SelectiveSSM(ctx.model.d_model, ctx.options)


@seqbench.hookimpl
def register_architectures(register):
    register(ArchSpec(name="selective-ssm", description="Mamba's selective SSM block, S6 (Gu & Dao 2023)",
                      kind="mixer", build=build, options=SSMOptions))
