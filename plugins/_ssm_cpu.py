"""The selective scan of `selective-ssm` as one compiled loop on a CPU (underscore: not a plugin itself).

On a CPU the scan's cost is elementwise work over (B, T, N, E) values: in PyTorch every operation is its own pass
over them (about 20 passes for a forward and backward), and the (B, T, N, E) states kept for the backward pass
are a fresh allocation, page-faulted in, at every step. This C++ loop makes one pass forward and one backward,
keeping a row's (N, E) state in cache: for each batch row, positions in order, each channel's decay, input, state
and readout computed together, vectorised over E (padded inside to a multiple of 8). The backward pass keeps only
the state at the start of every `CHUNK` positions and recomputes a chunk's states and decays from it, so nothing
of size (B, T, N, E) is allocated at all.
It computes what `ssm._Scan` computes (the same floor on the log-decay, the same gradients, to float tolerance:
`tests/test_families.py`), for the selective form (B and C per row and position) in float32.

It is built from source the first time a process of this machine needs it (`torch.utils.cpp_extension`, with the
C++ compiler torch uses and ninja, a dependency; one to two minutes on a 2-core CPU), then loaded from torch's
extension cache (`TORCH_EXTENSIONS_DIR`, else `~/.cache/torch_extensions`) in under a second. Where it cannot be
built (no compiler), `kernel()` returns None once with a warning that names why, and `selective-ssm` runs the
PyTorch scan.
"""

from __future__ import annotations

import functools
import hashlib
import time
import warnings
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

CHUNK = 16  # positions whose states the backward pass recomputes together from the one kept before them
STALE_LOCK_S = 900  # a build lock older than this was left by a killed process: removed before building

SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <math.h>
#include <algorithm>
#include <vector>

// h_t = exp(max(delta_t a, floor)) h_{t-1} + dx_t b_t,  y_t = sum_n c_t h_t, per batch row, in the layouts
// delta, dx (B, T, E); a (N, E), negative; b, c (B, T, N). Inside, every row of E values is padded with zeros to
// P, a multiple of 8, so that every loop over it runs whole vectors (a padded channel has a = 0, x = 0: h stays 0).

static constexpr int64_t LANES = 8;

// one position for channel row n; KEEP: store the decays too (the backward pass reads them, the forward does not)
template <bool KEEP>
static inline void step_row(int64_t P, float floor_, const float* __restrict__ dl, const float* __restrict__ an,
                            const float* __restrict__ x, float bn, const float* __restrict__ hp,
                            float* __restrict__ hn, float* __restrict__ dec) {
  for (int64_t e = 0; e < P; ++e) {
    float ld = dl[e] * an[e];
    ld = ld < floor_ ? floor_ : ld;
    const float d = expf(ld);
    if (KEEP) dec[e] = d;
    hn[e] = d * hp[e] + bn * x[e];
  }
}

static inline void read_row(int64_t P, float cn, const float* __restrict__ hn, float* __restrict__ y) {
  for (int64_t e = 0; e < P; ++e) y[e] += cn * hn[e];
}

// one position's backward for channel row n: g (in: decay_{t+1} g_{t+1}; out: decay_t g_t)
static inline void back_row(int64_t P, float floor_, const float* __restrict__ dl, const float* __restrict__ an,
                            const float* __restrict__ x, const float* __restrict__ dy, const float* __restrict__ dec,
                            const float* __restrict__ hn, const float* __restrict__ hp, float bn, float cn,
                            float* __restrict__ g, float* __restrict__ d_x, float* __restrict__ d_dl,
                            float* __restrict__ d_an, float* __restrict__ d_bn, float* __restrict__ d_cn) {
  float sb = 0.0f, sc = 0.0f;
  for (int64_t e = 0; e < P; ++e) {
    const float on = dl[e] * an[e] >= floor_ ? 1.0f : 0.0f;  // the floor's gradient is zero below it
    const float gv = g[e] + cn * dy[e];  // dLoss/dh_t
    d_x[e] += gv * bn;
    sb += gv * x[e];
    sc += hn[e] * dy[e];
    const float d_log = on * gv * dec[e] * hp[e];  // dLoss/d(delta_t a)
    d_dl[e] += d_log * an[e];
    d_an[e] += d_log * dl[e];
    g[e] = gv * dec[e];
  }
  *d_bn = sb;
  *d_cn = sc;
}

static inline int64_t padded(int64_t e) { return (e + LANES - 1) / LANES * LANES; }

static inline void put(const float* src, int64_t E, float* dst) { std::copy(src, src + E, dst); }

// -> y (B, T, E); the state before every chunk (B, C, N, P); each row's state after position ends[row] (B, N, E),
// or an empty tensor when ends is empty
std::vector<torch::Tensor> forward(torch::Tensor delta, torch::Tensor a, torch::Tensor dx, torch::Tensor b,
                                   torch::Tensor c, torch::Tensor ends, int64_t chunk, double floor_d) {
  const int64_t B = dx.size(0), T = dx.size(1), E = dx.size(2), N = a.size(0), C = (T + chunk - 1) / chunk;
  const int64_t P = padded(E), S = N * P;
  const float floor_ = static_cast<float>(floor_d);
  auto y = torch::empty({B, T, E}, dx.options());
  auto starts = torch::empty({B, C, N, P}, dx.options());
  const bool want_end = ends.numel() > 0;
  auto h_end = want_end ? torch::zeros({B, N, E}, dx.options()) : torch::empty({0}, dx.options());
  const float *dlp = delta.data_ptr<float>(), *ap = a.data_ptr<float>(), *xp = dx.data_ptr<float>(),
              *bp = b.data_ptr<float>(), *cp = c.data_ptr<float>();
  const int64_t* endp = want_end ? ends.data_ptr<int64_t>() : nullptr;
  float *yp = y.data_ptr<float>(), *sp = starts.data_ptr<float>(), *ep = want_end ? h_end.data_ptr<float>() : nullptr;
  at::parallel_for(0, B, 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> apad(S, 0.0f), h(2 * S), dl(P, 0.0f), x(P, 0.0f), yrow(P);
    for (int64_t n = 0; n < N; ++n) put(ap + n * E, E, apad.data() + n * P);
    for (int64_t r = r0; r < r1; ++r) {
      float *cur = h.data(), *nxt = h.data() + S;
      std::fill(cur, cur + S, 0.0f);
      for (int64_t t = 0; t < T; ++t) {
        if (t % chunk == 0) put(cur, S, sp + (r * C + t / chunk) * S);
        const int64_t rt = r * T + t;
        put(dlp + rt * E, E, dl.data());
        put(xp + rt * E, E, x.data());
        std::fill(yrow.begin(), yrow.end(), 0.0f);
        for (int64_t n = 0; n < N; ++n) {
          step_row<false>(P, floor_, dl.data(), apad.data() + n * P, x.data(), bp[rt * N + n], cur + n * P,
                          nxt + n * P, nullptr);
          read_row(P, cp[rt * N + n], nxt + n * P, yrow.data());
        }
        put(yrow.data(), E, yp + rt * E);
        std::swap(cur, nxt);
        if (want_end && endp[r] == t)
          for (int64_t n = 0; n < N; ++n) put(cur + n * P, E, ep + (r * N + n) * E);
      }
    }
  });
  return {y, starts, h_end};
}

// -> d_delta (B, T, E), d_a (N, E), d_dx (B, T, E), d_b (B, T, N), d_c (B, T, N)
std::vector<torch::Tensor> backward(torch::Tensor delta, torch::Tensor a, torch::Tensor dx, torch::Tensor b,
                                    torch::Tensor c, torch::Tensor starts, torch::Tensor dy, int64_t chunk,
                                    double floor_d) {
  const int64_t B = dx.size(0), T = dx.size(1), E = dx.size(2), N = a.size(0), C = starts.size(1);
  const int64_t P = padded(E), S = N * P;
  const float floor_ = static_cast<float>(floor_d);
  auto d_delta = torch::empty_like(dx), d_dx = torch::empty_like(dx);
  auto d_b = torch::empty_like(b), d_c = torch::empty_like(c);
  auto d_a_rows = torch::empty({B, N, E}, dx.options());  // per row, summed after: the same order every run
  const float *dlp = delta.data_ptr<float>(), *ap = a.data_ptr<float>(), *xp = dx.data_ptr<float>(),
              *bp = b.data_ptr<float>(), *cp = c.data_ptr<float>(), *sp = starts.data_ptr<float>(),
              *dyp = dy.data_ptr<float>();
  float *d_dlp = d_delta.data_ptr<float>(), *d_xp = d_dx.data_ptr<float>(), *d_bp = d_b.data_ptr<float>(),
        *d_cp = d_c.data_ptr<float>(), *d_ap = d_a_rows.data_ptr<float>();
  at::parallel_for(0, B, 1, [&](int64_t r0, int64_t r1) {
    // a chunk's states (h before it first), decays and padded rows of delta, dx, dy; g; this row's d_a
    std::vector<float> apad(S, 0.0f), hs((chunk + 1) * S), decs(chunk * S), dls(chunk * P, 0.0f),
        xs(chunk * P, 0.0f), dys(chunk * P, 0.0f), g(S), d_arow(S), d_x(P), d_dl(P);
    for (int64_t n = 0; n < N; ++n) put(ap + n * E, E, apad.data() + n * P);
    for (int64_t r = r0; r < r1; ++r) {
      std::fill(g.begin(), g.end(), 0.0f);
      std::fill(d_arow.begin(), d_arow.end(), 0.0f);
      for (int64_t k = C - 1; k >= 0; --k) {
        const int64_t t0 = k * chunk, t1 = std::min(T, t0 + chunk);
        put(sp + (r * C + k) * S, S, hs.data());
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t rt = r * T + t, j = t - t0;
          put(dlp + rt * E, E, dls.data() + j * P);
          put(xp + rt * E, E, xs.data() + j * P);
          put(dyp + rt * E, E, dys.data() + j * P);
          for (int64_t n = 0; n < N; ++n)
            step_row<true>(P, floor_, dls.data() + j * P, apad.data() + n * P, xs.data() + j * P, bp[rt * N + n],
                           hs.data() + j * S + n * P, hs.data() + (j + 1) * S + n * P, decs.data() + j * S + n * P);
        }
        for (int64_t t = t1 - 1; t >= t0; --t) {
          const int64_t rt = r * T + t, j = t - t0;
          std::fill(d_x.begin(), d_x.end(), 0.0f);
          std::fill(d_dl.begin(), d_dl.end(), 0.0f);
          for (int64_t n = 0; n < N; ++n)
            back_row(P, floor_, dls.data() + j * P, apad.data() + n * P, xs.data() + j * P, dys.data() + j * P,
                     decs.data() + j * S + n * P, hs.data() + (j + 1) * S + n * P, hs.data() + j * S + n * P,
                     bp[rt * N + n], cp[rt * N + n], g.data() + n * P, d_x.data(), d_dl.data(),
                     d_arow.data() + n * P, d_bp + rt * N + n, d_cp + rt * N + n);
          put(d_x.data(), E, d_xp + rt * E);
          put(d_dl.data(), E, d_dlp + rt * E);
        }
      }
      for (int64_t n = 0; n < N; ++n) put(d_arow.data() + n * P, E, d_ap + (r * N + n) * E);
    }
  });
  return {d_delta, d_a_rows.sum(0), d_dx, d_b, d_c};
}
"""


def _flags() -> list[str]:
    """-O3 and -ffast-math (what lets the compiler vectorise expf and the sums over E; the results are the same at
    every run of one build), and AVX2 where torch itself runs AVX2 or better on this CPU."""
    flags = ["-O3", "-ffast-math"]
    capability = torch.backends.cpu.get_cpu_capability()
    if capability.startswith("AVX2") or capability.startswith("AVX512"):
        flags += ["-mavx2", "-mfma"]
    return flags


def _clear_stale_lock(cpp_extension: ModuleType, name: str) -> None:
    """Remove the build's lock file where it is older than STALE_LOCK_S: torch's loader waits for as long as the
    file exists, so a process killed while building (a cell's SIGKILL) would otherwise leave every later one
    waiting for ever. A build takes one to two minutes."""
    lock = Path(cpp_extension._get_build_directory(name, False)) / "lock"
    try:
        if time.time() - lock.stat().st_mtime > STALE_LOCK_S:
            lock.unlink()
    except FileNotFoundError:
        pass


@functools.cache
def kernel() -> ModuleType | None:
    """The compiled scan (functions `forward`, `backward`), built or loaded once per process; None, with a warning
    saying why, where it cannot be built here."""
    from torch.utils import cpp_extension  # imported here: it is slow to import, and only this needs it

    flags = _flags()
    tag = hashlib.sha256((SOURCE + " ".join(flags)).encode()).hexdigest()[:12]  # a new build for new code or flags
    name = f"seqbench_ssm_scan_{tag}"
    try:
        _clear_stale_lock(cpp_extension, name)
        return cpp_extension.load_inline(name, cpp_sources=SOURCE,
                                         functions=["forward", "backward"], extra_cflags=flags, verbose=False)
    except Exception as e:  # noqa: BLE001 - no compiler, no ninja, a failed build: all mean the PyTorch scan
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        warnings.warn(f"selective-ssm: the compiled CPU scan could not be built ({reason[:200]}); using the "
                      "PyTorch scan (the same results to float tolerance, several times slower)", stacklevel=2)
        return None


def usable(*tensors: Tensor) -> bool:
    """Whether the compiled scan applies: float32 tensors on the CPU."""
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


class CompiledScan(torch.autograd.Function):
    """The compiled scan: delta (B, T, E), A (N, E) negative, dx (B, T, E), B and C (B, T, N), ends (B,) or empty
    -> y (B, T, E) and each row's state after position ends (B, N, E; empty without ends; not differentiable)."""

    @staticmethod
    def forward(ctx, delta: Tensor, a: Tensor, dx: Tensor, b: Tensor, c: Tensor, ends: Tensor, floor: float
                ) -> tuple[Tensor, Tensor]:
        run = kernel()
        delta, a, dx, b, c = (v.contiguous() for v in (delta, a, dx, b, c))
        y, starts, h_end = run.forward(delta, a, dx, b, c, ends.contiguous(), CHUNK, floor)
        ctx.floor = floor
        ctx.save_for_backward(delta, a, dx, b, c, starts)
        ctx.mark_non_differentiable(h_end)
        return y, h_end

    @staticmethod
    def backward(ctx, dy: Tensor, _: Tensor) -> tuple[Tensor | None, ...]:
        delta, a, dx, b, c, starts = ctx.saved_tensors
        d_delta, d_a, d_dx, d_b, d_c = kernel().backward(delta, a, dx, b, c, starts, dy.contiguous(), CHUNK,
                                                         ctx.floor)
        return d_delta, d_a, d_dx, d_b, d_c, None, None
