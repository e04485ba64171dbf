"""The chunked-scan mixers `selective-ssm`, `gla` and `mlstm`: their training form (a chunked scan) equals their
generation form (the recurrence, one step at a time), the prefill state continues a row where it stops, and the
selective SSM's `selective` option changes what it computes. The contract checks (incremental logits, greedy,
beam, learning a copy, sizing) run on them in tests/test_architectures.py, as on every registered architecture.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqbench.contract import registry
from seqbench.contract.specs import BuildContext, ModelShape
from seqbench.plugins import gla, mlstm, ssm

NAMES = ("selective-ssm", "gla", "mlstm")
SHAPE = ModelShape(d_model=16, n_layers=1, n_heads=2, dropout=0.0, max_len=128)
REGISTRY = registry.load(entry_points=False)


def mixer(name: str, seed: int = 0, **opts) -> torch.nn.Module:
    """One layer of `name`, float64, with random weights (and the decays of the selective SSM kept moderate)."""
    spec = REGISTRY.archs[name]
    torch.manual_seed(seed)
    return spec.build(BuildContext(SHAPE, spec.options(**opts), vocab_size=10, layer=0)).double().eval()


def stepped(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The recurrence over x (B, T, D): prefill on the first position, then one step per position -> (B, T, D)."""
    y0, state = m.prefill(x[:, :1], torch.ones(x.shape[0], dtype=torch.long))
    ys = [y0[:, 0]]
    for t in range(1, x.shape[1]):
        y, state = m.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("t", [1, 7, 16, 41])  # shorter than, equal to, and across several chunks
def test_chunked_equals_recurrent(name: str, t: int) -> None:
    m = mixer(name)
    x = torch.randn(3, t, SHAPE.d_model, dtype=torch.float64, generator=torch.Generator().manual_seed(t))
    with torch.no_grad():
        assert torch.allclose(m(x), stepped(m, x), atol=1e-10, rtol=1e-8)


def test_time_invariant_ssm_chunked_equals_recurrent() -> None:
    m = mixer("selective-ssm", selective=False)
    x = torch.randn(2, 19, SHAPE.d_model, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(m(x), stepped(m, x), atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_chunked_equals_recurrent_float32(name: str) -> None:
    m = mixer(name).float()
    x = torch.randn(2, 37, SHAPE.d_model, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(m(x), stepped(m, x), atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_prefill_state_continues_each_row(name: str) -> None:
    """From right-padded prompts, steps continue each row as if its prompt had been alone (lengths 5, 23, 17)."""
    m = mixer(name)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 30, SHAPE.d_model, dtype=torch.float64, generator=g)
    lengths = torch.tensor([5, 23, 17])
    nxt = torch.randn(3, 4, SHAPE.d_model, dtype=torch.float64, generator=g)
    with torch.no_grad():
        y, state = m.prefill(x, lengths)
        assert torch.allclose(y, m(x))
        got = []
        for t in range(nxt.shape[1]):
            out, state = m.step(nxt[:, t], state)
            got.append(out)
        for i, n in enumerate(lengths.tolist()):
            alone = m(torch.cat([x[i : i + 1, :n], nxt[i : i + 1]], 1))[0, n:]  # (4, D)
            assert torch.allclose(torch.stack(got, 1)[i], alone, atol=1e-10)


def test_selective_option() -> None:
    """selective=True: delta, B and C are projections of the input; False: parameters, and other outputs."""
    on, off = mixer("selective-ssm"), mixer("selective-ssm", selective=False)
    assert {"x_proj.weight", "dt_proj.weight"} <= set(dict(on.named_parameters()))
    assert not {"x_proj.weight", "dt_proj.weight"} & set(dict(off.named_parameters()))
    assert {"B", "C", "dt_bias"} <= set(dict(off.named_parameters()))
    x = torch.randn(2, 9, SHAPE.d_model, dtype=torch.float64)
    shared = {k: v for k, v in on.state_dict().items() if k in off.state_dict()}
    off.load_state_dict(shared, strict=False)  # the same in-projection, convolution, A, D and out-projection
    with torch.no_grad():
        assert not torch.allclose(on(x), off(x))


def test_dt_rank() -> None:
    assert mixer("selective-ssm").r == 1  # auto: ceil(16 / 16)
    assert mixer("selective-ssm", dt_rank=3).r == 3
    with pytest.raises(ValueError):
        ssm.SSMOptions(dt_rank=0)


def test_log_decays_stay_in_range() -> None:
    """Huge gates give finite outputs, equal in both forms (mlstm: every exponential in the chunked form is of a
    log weight minus its row's maximum; gla: log-decays floored so e^{-cumsum} stays finite)."""
    for m in (mixer("gla"), mixer("mlstm")):
        for p in m.parameters():
            p.data.mul_(30.0)
        x = torch.randn(2, 40, SHAPE.d_model, dtype=torch.float64)
        with torch.no_grad():
            assert torch.isfinite(m(x)).all() and torch.allclose(m(x), stepped(m, x), atol=1e-8, rtol=1e-6)
    assert mlstm.CHUNK > 1 and gla.CHUNK * gla.MAX_LOG_DECAY < 88  # e^88


@pytest.mark.parametrize("selective", [True, False])
@pytest.mark.parametrize("decay", ["moderate", "strong"])
def test_ssm_long_sequences_float32(selective: bool, decay: str) -> None:
    """Float32, 300 positions (19 blocks), selection on and off: the blocked scan equals the recurrence and stays
    finite; "strong": every A and delta made huge, so most steps' log-decays sit on the floor -MAX_LOG_DECAY, which
    both forms apply alike."""
    m = mixer("selective-ssm", seed=4, selective=selective).float()
    if decay == "strong":
        with torch.no_grad():
            m.A_log.add_(4.0)  # A = -e^4 * (1..N)
            (m.dt_proj.bias if selective else m.dt_bias).fill_(2.0)  # delta about softplus(2) = 2.1
    x = torch.randn(2, 300, SHAPE.d_model, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        if decay == "strong":  # the floor is reached, at every state of some channels
            delta = m._ssm_inputs(torch.zeros(1, 1, m.e))[0][0, 0]  # (E,): at a zero input
            assert (delta[:, None] * -torch.exp(m.A_log) < -ssm.MAX_LOG_DECAY).float().mean() > 0.9
        got, want = m(x), stepped(m, x)
        assert torch.isfinite(got).all()
        assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("selective", [True, False])
@pytest.mark.parametrize("floor", [True, False])
def test_ssm_scan_gradients(selective: bool, floor: bool) -> None:
    """The scan's own backward pass (blocks in reverse, the decays recomputed, the gradient carried from block to
    block) against finite differences, over three blocks, the last one short; `floor`: some log-decays on the floor
    (delta * A down to -15, no gradient through them), else none (down to -1.5)."""
    g = torch.Generator().manual_seed(6)
    b, t, e, n = 2, 2 * ssm.CHUNK + 5, 2, 3
    scale = 3.0 if floor else 0.3
    delta = (scale * torch.rand(b if selective else 1, t, e, dtype=torch.float64, generator=g)).requires_grad_()
    a = (-5 * torch.rand(e, n, dtype=torch.float64, generator=g) - 0.1).requires_grad_()
    assert ssm._floored(delta.transpose(0, 1), a.T) == floor
    dx = torch.randn(b, t, e, dtype=torch.float64, generator=g, requires_grad=True)
    shape = (b, t, 1, n) if selective else (1, 1, e, n)
    bc = [torch.randn(shape, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(2)]
    assert torch.autograd.gradcheck(lambda *v: ssm.scan(*v)[0], (delta, a, dx, *bc))


@pytest.mark.parametrize("floor", [True, False])
def test_time_invariant_convolution_equals_scan(floor: bool) -> None:
    """The time-invariant SSM's training form (one FFT convolution with its kernel) against the scan with delta, B
    and C repeated at every position: equal outputs and gradients (delta's summed over positions), float64, 41
    positions; `floor`: some log-decays on the floor (no gradient through them), else none."""
    g = torch.Generator().manual_seed(9)
    b, t, e, n = 3, 41, 5, 4
    delta = ((6.0 if floor else 0.3) * torch.rand(e, dtype=torch.float64, generator=g)).requires_grad_()
    a = (-5 * torch.rand(e, n, dtype=torch.float64, generator=g) - 0.1).requires_grad_()
    assert ((delta[:, None] * a) < -ssm.MAX_LOG_DECAY).any() == floor
    dx = torch.randn(b, t, e, dtype=torch.float64, generator=g, requires_grad=True)
    bc = [torch.randn(e, n, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(2)]
    weights = torch.randn(b, t, e, dtype=torch.float64, generator=g)  # a loss that weighs every output differently
    results = []
    for y in (ssm.convolve(delta, a, dx, *bc),
              ssm.scan(delta.expand(1, t, e), a, dx, bc[0][None, None], bc[1][None, None])[0]):
        results.append((y, torch.autograd.grad((y * weights).sum(), (delta, a, dx, *bc))))
    (y_conv, grads_conv), (y_scan, grads_scan) = results
    assert torch.allclose(y_conv, y_scan, atol=1e-12)
    for got, want in zip(grads_conv, grads_scan):
        assert torch.allclose(got, want, atol=1e-10)


def test_time_invariant_ssm_trains_by_convolution(monkeypatch) -> None:
    """selective=False's forward calls `convolve` and no scan; prefill (which needs each row's state) a scan."""
    m = mixer("selective-ssm", selective=False)
    calls = []
    for name in ("convolve", "scan"):
        monkeypatch.setattr(ssm, name, lambda *v, _f=getattr(ssm, name), _n=name: calls.append(_n) or _f(*v))
    x = torch.randn(2, 9, SHAPE.d_model, dtype=torch.float64)
    m(x)
    assert calls == ["convolve"]
    m.prefill(x, torch.tensor([9, 4]))
    assert calls == ["convolve", "scan"]


def compiled_or_skip():
    """The compiled CPU scan, or a skip that says why it is not here (no C++ compiler)."""
    from seqbench.plugins import _ssm_cpu

    run = _ssm_cpu.kernel()
    if run is None:
        pytest.skip("the compiled CPU scan cannot be built here (no C++ compiler or ninja)")
    return _ssm_cpu


@pytest.mark.parametrize("floor", [True, False])
def test_compiled_scan_equals_pytorch_scan(floor: bool) -> None:
    """Float32, 3 rows, 2 chunks and a short third (37 positions), 5 channels, 3 state sizes: the compiled scan's
    outputs, end states and all five gradients equal the PyTorch scan's; `floor`: most log-decays on the floor."""
    cpu = compiled_or_skip()
    g = torch.Generator().manual_seed(7)
    b, t, e, n = 3, 2 * cpu.CHUNK + 5, 5, 3
    delta = ((3.0 if floor else 0.3) * torch.rand(b, t, e, generator=g)).requires_grad_()
    a = (-5 * torch.rand(e, n, generator=g) - 0.1).requires_grad_()
    assert ssm._floored(delta.detach().transpose(0, 1), a.detach().T) == floor
    dx = torch.randn(b, t, e, generator=g, requires_grad=True)
    bm, cm = (torch.randn(b, t, n, generator=g, requires_grad=True) for _ in range(2))
    ends = torch.tensor([0, 20, t - 1])
    dy = torch.randn(b, t, e, generator=g)
    inputs = (delta, a, dx, bm, cm)

    def run(compiled: bool) -> list[torch.Tensor]:
        for v in inputs:
            v.grad = None
        if compiled:
            y, h = cpu.CompiledScan.apply(delta, a.T, dx, bm, cm, ends, -ssm.MAX_LOG_DECAY)
            h = h.transpose(1, 2)
        else:
            y, h = ssm.scan(delta, a, dx, bm[:, :, None], cm[:, :, None], ends)
        (y * dy).sum().backward()
        return [y.detach(), h] + [v.grad.clone() for v in inputs]

    for name, got, want in zip(("y", "h_end", "delta", "A", "dx", "B", "C"), run(True), run(False)):
        assert got.shape == want.shape, name
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item()), name


def test_compiled_scan_model_equals_pytorch_scan_model() -> None:
    """The same float32 layer with `cpu_kernel` on and off: equal outputs and parameter gradients over 300
    positions, and equal prefill states."""
    compiled_or_skip()
    on, off = mixer("selective-ssm", seed=3).float(), mixer("selective-ssm", seed=3, cpu_kernel=False).float()
    assert on.cpu_kernel and not off.cpu_kernel
    x = torch.randn(2, 300, SHAPE.d_model, generator=torch.Generator().manual_seed(8))
    outs = []
    for m in (on, off):
        m.zero_grad()
        y = m(x)
        y.square().mean().backward()
        outs.append((y.detach(), {k: p.grad.clone() for k, p in m.named_parameters()}))
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-5)
    for k, grad in outs[1][1].items():
        assert torch.allclose(outs[0][1][k], grad, rtol=1e-4, atol=1e-5 * grad.abs().max().item()), k
    lengths = torch.tensor([300, 123])
    with torch.no_grad():
        (_, s_on), (_, s_off) = on.prefill(x, lengths), off.prefill(x, lengths)
    assert torch.allclose(s_on.h, s_off.h, atol=1e-5) and torch.equal(s_on.conv, s_off.conv)


def test_a_build_lock_left_by_a_killed_process_is_cleared(tmp_path, monkeypatch) -> None:
    """torch's extension loader waits for as long as its build lock exists: a lock older than STALE_LOCK_S (a
    process killed while building) is removed before building; a recent one (a build in progress) is left."""
    import os
    import time

    from torch.utils import cpp_extension

    from seqbench.plugins import _ssm_cpu

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    lock = Path(cpp_extension._get_build_directory("seqbench_lock_probe", False)) / "lock"
    lock.write_text("")
    _ssm_cpu._clear_stale_lock(cpp_extension, "seqbench_lock_probe")
    assert lock.exists()
    old = time.time() - _ssm_cpu.STALE_LOCK_S - 60
    os.utime(lock, (old, old))
    _ssm_cpu._clear_stale_lock(cpp_extension, "seqbench_lock_probe")
    assert not lock.exists()
    _ssm_cpu._clear_stale_lock(cpp_extension, "seqbench_lock_probe")  # no lock: nothing to do
