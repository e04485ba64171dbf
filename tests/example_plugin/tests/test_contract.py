"""The plugin's tests: seqbench's shipped contract suite, then what is particular to this mixer."""

from __future__ import annotations

import torch

from seqbench.contract.specs import BuildContext, ModelShape
from seqbench.testing import ArchitectureContract
from seqbench_causal_conv import ConvOptions, build


class TestCausalConv(ArchitectureContract):
    arch = "causal-conv"


class TestCausalConvWideUndilated(ArchitectureContract):
    arch = "causal-conv"
    options = {"width": 5, "dilation_growth": 1}


def test_layers_grow_their_dilation():
    shape = ModelShape(d_model=8, n_layers=3, n_heads=1, dropout=0.0, max_len=64)
    mixers = [build(BuildContext(shape, ConvOptions(width=3, dilation_growth=2), 12, layer=i)) for i in range(3)]
    assert [m.dilation for m in mixers] == [1, 2, 4] and [m.span for m in mixers] == [2, 4, 8]


def test_output_reaches_exactly_span_positions_back():
    mixer = build(BuildContext(ModelShape(4, 3, 1, 0.0, 64), ConvOptions(width=3, dilation_growth=2), 12, layer=2))
    x = torch.randn(1, 20, 4)
    changed = x.clone()
    changed[:, 11] += 1.0  # position 11 is 8 = span back from 19, and 9 from 20
    diff = (mixer(changed) - mixer(x)).abs().sum(-1)[0]  # (T,)
    assert set(torch.nonzero(diff).flatten().tolist()) == {11, 15, 19}  # taps at t, t - 4, t - 8
