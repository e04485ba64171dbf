"""A causal dilated depthwise-convolution mixer for seqbench, registered as `causal-conv` (kind "mixer").

The host calls `build` once per layer (`ctx.layer` = 0 .. n_layers-1) and wraps each mixer in its residual block
with norm and feed-forward; layer i dilates its taps by `dilation_growth ** i`, so the receptive field grows
geometrically with depth (Bai, Kolter & Koltun 2018, "An Empirical Evaluation of Generic Convolutional and Recurrent
Networks for Sequence Modeling"). `prefill`/`step` keep the last inputs each layer needs, so the host generates
one token at a constant cost instead of re-running the whole prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqbench
from seqbench.contract.specs import ArchSpec, BuildContext

__version__ = "0.1.0"


@dataclass(frozen=True)
class ConvOptions:
    """Options of `causal-conv` (`[arch.causal-conv]` in a config, or `--set arch.causal-conv.width=5`)."""

    width: int = 3  # taps per layer
    dilation_growth: int = 2  # layer i spaces its taps dilation_growth**i positions apart (1: no dilation)

    def __post_init__(self) -> None:
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be an integer of at least 1, got {self.width!r}")
        if isinstance(self.dilation_growth, bool) or not isinstance(self.dilation_growth, int) \
                or self.dilation_growth < 1:
            raise ValueError(f"dilation_growth must be an integer of at least 1, got {self.dilation_growth!r}")


class CausalConv(nn.Module):
    """(B, T, D) -> (B, T, D): output t mixes inputs t - j * dilation, j = 0 .. width-1, channel by channel."""

    def __init__(self, d_model: int, width: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.span = (width - 1) * dilation  # how far back the first tap reaches
        self.conv = nn.Conv1d(d_model, d_model, width, dilation=dilation, groups=d_model)

    def forward(self, x: Tensor) -> Tensor:
        h = F.pad(x.transpose(1, 2), (self.span, 0))  # (B, D, span + T): left padding only, so causal
        return self.conv(h).transpose(1, 2)  # (B, T, D)

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, L, D) right-padded, lengths (B,) -> forward(x), and each row's last `span` inputs (B, span, D)."""
        padded = F.pad(x, (0, 0, self.span, 0))  # (B, span + L, D): zeros before position 0
        pos = lengths[:, None] + torch.arange(self.span, device=x.device)  # (B, span), in padded positions
        state = padded.gather(1, pos[..., None].expand(-1, -1, x.shape[2]))  # (B, span, D)
        return self.forward(x), state

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, D) at the next position -> output (B, D), and the window moved on by one."""
        window = torch.cat([state, x[:, None]], dim=1)  # (B, span + 1, D)
        taps = window[:, :: self.dilation]  # (B, width, D): positions t - span .. t, dilation apart
        y = (taps * self.conv.weight[:, 0].T).sum(1) + self.conv.bias  # weight (D, 1, width) -> (width, D)
        return y, window[:, 1:]

    def reorder(self, state: Tensor, index: Tensor) -> Tensor:
        """Rows `index` (B',) of the state (B, span, D): what the host's beam search needs."""
        return state.index_select(0, index)


def build(ctx: BuildContext) -> CausalConv:
    """One layer: called n_layers times per model by the host, and many more times on the meta device while the
    host sizes the width to a parameter budget (so: build modules only, read no data, compute nothing)."""
    return CausalConv(ctx.model.d_model, ctx.options.width, ctx.options.dilation_growth ** ctx.layer)


@seqbench.hookimpl
def register_architectures(register):
    register(ArchSpec(name="causal-conv", description="causal dilated depthwise convolution (TCN) mixer",
                      kind="mixer", build=build, options=ConvOptions))
