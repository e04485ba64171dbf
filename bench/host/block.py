"""The one residual block the host wraps around every sequence mixer: `gpt` and `transformer` layers and
third-party mixers alike, so that two architectures at equal parameters differ only in what mixes the sequence.

    pre-norm (default):  x = x + drop(mixer(LayerNorm(x)))   for each mixing sublayer (self-, cross-attention...)
                         x = x + drop(ffn(LayerNorm(x)))
    post-norm (option):  x = LayerNorm(x + drop(sublayer(x)))                          (Vaswani et al. 2017)
    ffn:                 Linear(d, 4 d) -> ReLU -> Linear(4 d, d)                      (Vaswani et al. 2017, §3.3)

Its activation and widths are declared here once; `HOST_BLOCK` describes them in every record's configuration.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import Tensor, nn

from seqbench.contract.checks import check_mixed

FFN_MULT = 4  # d_ff = FFN_MULT * d_model
FFN_ACTIVATION = nn.ReLU  # Vaswani 2017 §3.3
HOST_BLOCK = {  # recorded in every cell's configuration: what the host wraps around a mixer
    "residual": "x + dropout(sublayer(LayerNorm(x))) (pre-norm; post-norm where an architecture's option says)",
    "ffn": f"Linear(d, {FFN_MULT}d) -> {FFN_ACTIVATION.__name__} -> Linear({FFN_MULT}d, d)",
}


def feed_forward(d: int) -> nn.Sequential:
    """The position-wise feed-forward sublayer: (..., d) -> (..., d)."""
    return nn.Sequential(nn.Linear(d, FFN_MULT * d), FFN_ACTIVATION(), nn.Linear(FFN_MULT * d, d))


class HostBlock(nn.Module):
    """Residual sublayers around the given mixing modules, then the feed-forward sublayer; pre- or post-norm.

    `mixing` names the mixing modules in the order they apply (registered first, so a subclass's parameters are
    created and initialised in the same order as its mixers, then the feed-forward).
    """

    def __init__(self, d: int, dropout: float, norm: str = "pre", **mixing: nn.Module) -> None:
        super().__init__()
        for name, module in mixing.items():
            self.add_module(name, module)
        self.ffn = feed_forward(d)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(len(mixing) + 1))
        self.drop = nn.Dropout(dropout)
        self.pre = norm == "pre"

    def sublayer(self, x: Tensor, i: int, f: Callable[[Tensor], Tensor]) -> Tensor:
        """The residual around mixing sublayer i (-1: the feed-forward). x (..., D) -> (..., D)."""
        if self.pre:
            return x + self.drop(f(self.norms[i](x)))  # Xiong et al. 2020
        return self.norms[i](x + self.drop(f(x)))  # Vaswani 2017: LayerNorm(x + Sublayer(x))

    def feed_forward(self, x: Tensor) -> Tensor:
        return self.sublayer(x, -1, self.ffn)


class MixerBlock(HostBlock):
    """A plugin's mixer in the host block. The incremental forms exist for every block but are only called when
    the mixer keeps `IncrementalMixer` (the host checks, `seqbench.host.adapt`)."""

    def __init__(self, mixer: nn.Module, d: int, dropout: float) -> None:
        super().__init__(d, dropout, mixer=mixer)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, D) -> (B, T, D)
        return self.feed_forward(self.sublayer(x, 0, lambda h: check_mixed(self.mixer(h), h)))

    def prefill(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        """x (B, L, D), lengths (B,) -> (B, L, D) as `forward` gives, and the mixer's state."""
        return self._stateful(x, lambda h: self.mixer.prefill(h, lengths))

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """x (B, D) -> (B, D), new state."""
        return self._stateful(x, lambda h: self.mixer.step(h, state))

    def _stateful(self, x: Tensor, mix: Callable[[Tensor], tuple[Tensor, Any]]) -> tuple[Tensor, Any]:
        kept: list[Any] = []

        def mixed(h: Tensor) -> Tensor:
            y, state = mix(h)
            check_mixed(y, h, "prefill" if h.dim() == 3 else "step")
            kept.append(state)
            return y

        return self.feed_forward(self.sublayer(x, 0, mixed)), kept[0]
