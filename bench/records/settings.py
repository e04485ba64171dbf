"""The configuration a record carries (`Record.config`): what its cell was trained and tested with, typed.

The live configuration (`seqbench.run.config`: its defaults, its ranges, its one-line errors) is where a setting is
decided; this is the record's copy of the outcome, read back from files that older seqbench versions wrote. So each
field here has the live setting's name and type but no default of its own: a setting the writing seqbench did not
have (e.g. `train.patience` before the plateau rule) is *unset*, written back as absent, never filled in with today's
default (which would claim a record was run under a rule that did not exist). A test holds these field lists equal
to the live sections' (`tests/test_settings.py`), so a new setting cannot be left out of the record.

Plugin options (`task_options`, `arch_options`) are each plugin's own dataclass, which the record wing cannot name:
they are kept as JSON values and turned back into the plugin's dataclass by the run wing
(`seqbench.run.config.section`) where a cell is rebuilt.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, JsonValue, SerializerFunctionWrapHandler, \
    model_serializer


class _Recorded(BaseModel):
    """A section as the record holds it: unknown keys refused, every key optional, unset keys written as absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}

    def recorded(self) -> dict[str, Any]:
        """The keys the record holds, as JSON data (the input of `seqbench.run.config.section`)."""
        return self.model_dump(mode="json")


class ModelSettings(_Recorded):
    """`seqbench.run.config.ModelConfig`, with d_model sized to the cell's budget."""

    d_model: Optional[int] = None
    n_layers: Optional[int] = None
    n_heads: Optional[int] = None
    dropout: Optional[FiniteFloat] = None
    max_len: Optional[int] = None


class TrainSettings(_Recorded):
    """`seqbench.run.config.TrainConfig`: the architecture's defaults under the configuration's values."""

    max_steps: Optional[int] = None
    max_time: Optional[FiniteFloat] = None
    batch_size: Optional[int] = None
    lr: Optional[FiniteFloat] = None
    weight_decay: Optional[FiniteFloat] = None
    warmup_steps: Optional[int] = None
    grad_clip: Optional[FiniteFloat] = None
    label_smoothing: Optional[FiniteFloat] = None
    bucket: Optional[bool] = None
    val_every: Optional[int] = None
    solved_at: Optional[FiniteFloat] = None
    patience: Optional[int] = None
    min_delta: Optional[FiniteFloat] = None
    flush_denormal: Optional[bool] = None
    accelerator: Optional[str] = None
    precision: Optional[str] = None
    throughput_warmup: Optional[int] = None
    devices: Optional[int] = None
    strategy: Optional[str] = None


class EvalSettings(_Recorded):
    """`seqbench.run.config.EvalConfig`."""

    n_val: Optional[int] = None
    n_test: Optional[int] = None
    batch_size: Optional[int] = None
    generation_warmup: Optional[int] = None
    val_generate: Optional[int] = None
    beam_width: Optional[int] = None
    max_len_a: Optional[FiniteFloat] = None
    max_len_b: Optional[int] = None
    length_penalty: Optional[FiniteFloat] = None
    grad_examples: Optional[int] = None
    select: Optional[str] = None


Options = dict[str, JsonValue]  # a plugin's options dataclass as JSON: field -> value


class CellConfig(BaseModel):
    """The resolved configuration of one cell: what its id covers (with the plugins' and host's digests) and what
    rebuilds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str = Field(min_length=1)
    task: str = Field(min_length=1)
    distance: str  # the distance setting's label ("16", "1-64")
    seed: int = Field(ge=0)
    params_budget: Optional[int] = Field(default=None, ge=1)  # None: no budget (model.d_model as configured)
    model: ModelSettings
    max_len: Optional[int] = Field(default=None, ge=0)  # the longest stream the model is built for
    train: TrainSettings
    eval: EvalSettings
    task_options: Options = {}
    arch_options: Options = {}
    host_block: Optional[dict[str, str]] = None  # what the host wraps around a mixer (`seqbench.host.block`)

    def to_dict(self) -> dict[str, Any]:
        """As the record file holds it (and as the cell id hashes it)."""
        return self.model_dump(mode="json")


SECTIONS: dict[str, type[_Recorded]] = {"model": ModelSettings, "train": TrainSettings, "eval": EvalSettings}
