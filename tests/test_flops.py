"""Training FLOPs as `measure.TrainFlops` counts them, against the closed form of an LSTM's matrix products (the
fused CPU kernel, oneDNN's, has no FLOP formula: counted through it, an LSTM costs nothing)."""

from __future__ import annotations

import torch
from torch import nn

from seqbench.contract.specs import Batch
from seqbench.run.measure import TrainFlops


def test_an_lstm_step_counts_its_gate_products_on_a_cpu():
    torch.manual_seed(0)
    b, t, d, h = 4, 10, 8, 16
    lstm = nn.LSTM(d, h, batch_first=True, bias=False)
    batch = Batch(src=torch.ones(b, t, dtype=torch.long), tgt=torch.ones(b, 1, dtype=torch.long),
                  distance=torch.zeros(b, dtype=torch.long))
    flops = TrainFlops(measured=1)
    flops.on_train_batch_start(None, None, batch, 0)
    lstm(torch.randn(b, t, d))[0].sum().backward()
    flops.on_train_batch_end(None, None, None, batch, 0)
    forward = 2 * b * t * 4 * h * (d + h)  # per step: x W_ih^T (4h x d) and h W_hh^T (4h x h), 2 FLOPs a multiply-add
    assert forward * 2 <= flops.flops <= forward * 3  # backward: gradients of inputs and weights, up to 2x forward
    assert flops.counted_steps == 1 and flops.counted_tokens == b * (t + 1)
    assert torch.backends.mkldnn.is_available() is False or torch.backends.mkldnn.enabled  # flags restored after
