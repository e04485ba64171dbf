"""The record of one cell: the one typed definition that the runner writes, the tests build and every reader checks.

A record is one self-describing JSON file per finished cell (`OUT/records/<cell_id>.json`). Tables, plots and
reports are views over records. Every number in a record was measured by the run that wrote it, with the
environment beside it.

Why pydantic (v2) and not a JSON Schema checked by `jsonschema`: the runner and the test fixtures build records as
typed Python objects (so a misspelt field fails where it is written, not when a table is drawn), validation errors
name the field (`metrics.bins.0.token_acc: Input should be less than or equal to 1`), and the JSON Schema for
other tools comes for free (`Record.model_json_schema()`; no command writes it).

Version history: schema 1 (seqbench 0.1.0) had no per-bin token counts, plugin digests, learning rate, warnings
or artifacts; those fields are optional here, so schema-1 records are read as they are.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, get_args

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, field_validator, model_validator

from seqbench.records.settings import CellConfig

SCHEMA = 2
READABLE = (1, 2)  # schema versions this seqbench reads
Status = Literal["ok", "diverged", "oom", "failed"]

Fraction = Field(ge=0.0, le=1.0, allow_inf_nan=False)

# --- Names a record can carry, declared once: the runner writes them and every reader looks them up here. -------
ACCURACIES = ("token_acc", "seq_acc")  # the accuracy fields of a bin and of `overall` (see `Bin`)
TEXT_METRICS = {  # text metric a built-in task reports in `metrics.overall` and per bin -> its name in tables
    "sacrebleu": "sacreBLEU",  # sacreBLEU's corpus BLEU, 0-100, with its signature in `metrics.text_signatures`
    "chrf2": "chrF2",  # sacreBLEU's chrF (beta 2), 0-100
    "bleu_tok_lc": "BLEU tok lc",  # lowercased Moses-tokenized BLEU (multi-bleu.perl style), 0-100
}  # a third-party task may report others: they are named by `metrics.text_metrics` and shown under their own name
TEXT_INTERVAL = ("_lo", "_hi")  # `<metric>_lo`, `<metric>_hi`: its 95% bootstrap interval over the sentences
MemoryKind = Literal["cuda_max_allocated", "cell_process_peak_rss", "process_max_rss"]
MEMORY_KINDS: dict[str, str] = {  # `throughput.memory_kind` -> what `peak_memory_mb` measured
    "cuda_max_allocated": "the CUDA allocator's peak during the cell",
    "cell_process_peak_rss": "the peak resident memory of the process that ran this cell alone, its imports "
                             "included",
    "process_max_rss": "the high-water mark of a process that ran several cells: NOT per cell, it includes every "
                       "cell the process ran before",
}
assert set(MEMORY_KINDS) == set(get_args(MemoryKind))


class _Strict(BaseModel):
    """Unknown fields are refused (a typo is an error, not a silent extra)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Scores(BaseModel):
    """Scores with named fields, plus further float scores a task or a measure adds (bleu, chrf, grad norms...)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Optional[FiniteFloat]] = Field(init=False)  # extra scores: finite numbers or null

    def extra(self) -> dict[str, float | None]:
        return dict(self.__pydantic_extra__ or {})


class Bin(_Scores):
    """One distance bin of a cell's test set: inclusive distances `lo`..`hi`."""

    lo: int = Field(ge=1)
    hi: int = Field(ge=1)
    label: str
    n: int = Field(ge=0)  # test examples in the bin
    tokens: Optional[int] = Field(default=None, ge=0)  # target content tokens scored (EOS excluded); schema 1: absent
    token_acc: float = Fraction  # greedy generation, position by position, over target content
    seq_acc: float = Fraction  # exact match of the whole target, EOS included

    @model_validator(mode="after")
    def _bounds(self) -> "Bin":
        if self.hi < self.lo:
            raise ValueError(f"bin {self.lo}-{self.hi} is empty: hi must be at least lo")
        return self


class Overall(_Scores):
    """The whole test set: accuracy, and the task's text metrics (bleu, chrf...) as extra fields."""

    n: int = Field(ge=0)
    tokens: Optional[int] = Field(default=None, ge=0)
    token_acc: float = Fraction
    seq_acc: float = Fraction


class ValPoint(_Scores):
    """One validation: the step, the loss and accuracy, and whatever else was measured (time_s, bleu...)."""

    step: int = Field(ge=0)
    val_loss: FiniteFloat
    val_acc: float = Fraction  # teacher-forced next-token accuracy
    val_gen_acc: Optional[float] = Field(default=None, ge=0.0, le=1.0)  # free-running (greedy) token accuracy, as
    # the test scores it: what selects the checkpoint and decides solved, plateau and a search's pass


StopReason = Literal["solved", "plateau", "budget", "time"]


class Validation(_Strict):
    """The validations of training; the first with the best free-running accuracy is the checkpoint that was tested
    (schema 2 records before `val_gen_acc`: the best by loss)."""

    best_step: Optional[int] = None
    best_val_loss: Optional[FiniteFloat] = None
    best_val_acc: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    best_val_gen_acc: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    history: list[ValPoint] = []
    stopped: Optional[str] = None  # why training ended before max_steps ("solved", "plateau", "time"), or null
    stop_reason: Optional[StopReason] = None  # solved: reached train.solved_at; plateau: no better validation for
    # train.patience steps; budget: ran to train.max_steps; time: ran out of train.max_time
    improving: Optional[bool] = None  # the best validation (by free-running accuracy or by loss) came within the
    # last window of training (train.patience steps, else a quarter of the steps run): more steps might have helped


class Metrics(_Strict):
    bins: list[Bin] = []
    overall: Optional[Overall] = None
    val: Validation = Validation()
    text_metrics: list[str] = []  # the text metrics the task defines: each is in `overall` when the cell is ok
    text_signatures: dict[str, str] = {}  # metric -> how it was computed (sacreBLEU's signature), where it says
    decoding: Optional[str] = None  # how the test set was decoded: "greedy", or "beam 5, length penalty 0.6"

    @field_validator("overall", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == {} else v  # schema 1 wrote {} for a cell that did not finish


class Throughput(_Strict):
    """Speed and memory, measured after warm-up with the device synchronized, counting real tokens only."""

    train_tokens_per_s: Optional[FiniteFloat] = Field(default=None, ge=0)  # median over timed training steps
    gen_tokens_per_s: Optional[FiniteFloat] = Field(default=None, ge=0)  # median over timed test batches
    peak_memory_mb: Optional[FiniteFloat] = Field(default=None, ge=0)
    memory_kind: Optional[MemoryKind] = None  # what peak_memory_mb measured: one of `MEMORY_KINDS`
    train_steps_timed: Optional[int] = Field(default=None, ge=0)
    gen_batches_timed: Optional[int] = Field(default=None, ge=0)
    incremental_generation: Optional[bool] = None  # generation carried a state or KV cache
    mean_src_len: Optional[FiniteFloat] = Field(default=None, ge=0)  # of the test set
    mean_tgt_len: Optional[FiniteFloat] = Field(default=None, ge=0)
    train_steps: Optional[int] = Field(default=None, ge=0)  # optimizer steps taken
    train_tokens: Optional[int] = Field(default=None, ge=0)  # real tokens of every training step
    flops_per_token: Optional[FiniteFloat] = Field(default=None, ge=0)  # measured training FLOPs per real token
    train_flops: Optional[FiniteFloat] = Field(default=None, ge=0)  # flops_per_token x train_tokens
    flops_method: Optional[str] = None  # how the FLOPs were got


class Env(BaseModel):
    """Where the numbers were measured. Further keys (e.g. a GPU's driver) are kept as text."""

    model_config = ConfigDict(extra="allow", frozen=True)
    seqbench: str
    git_commit: Optional[str] = None
    torch: str
    lightning: Optional[str] = None
    torchmetrics: Optional[str] = None
    python: Optional[str] = None
    platform: Optional[str] = None
    device: str  # cpu, cuda, mps
    device_name: Optional[str] = None
    cpu_threads: Optional[int] = None
    accelerator: Optional[str] = None
    precision: Optional[str] = None  # the precision Lightning actually ran
    cpu_capability: Optional[str] = None  # the CPU's instruction set as torch dispatches (AVX2, AVX512, ...): set
    #                                       where the cell ran (`seqbench.run.executors.with_machine`)


class Times(_Strict):
    started: str
    finished: str
    wall_s: FiniteFloat = Field(ge=0)
    train_s: Optional[FiniteFloat] = Field(default=None, ge=0)
    cpu_s: Optional[FiniteFloat] = Field(default=None, ge=0)  # the cell process's CPU time (all its threads)
    load_avg: Optional[tuple[FiniteFloat, FiniteFloat, FiniteFloat]] = None  # the machine's 1/5/15-min load at the end


class Error(_Strict):
    """Why a cell is not ok."""

    type: str
    message: str
    plugin: Optional[str] = None  # the plugin whose code raised, or "seqbench"
    step: Optional[int] = None  # the training step (diverged)


class PluginRef(_Strict):
    """What provided an architecture or task: the plugin, its version and a digest of its source files."""

    plugin: str
    version: str
    digest: Optional[str] = None  # sha256 of the plugin's source files: a code change changes the cell id


class Header(_Strict):
    """What a cell is, before any result: the part of its record that planning fixes (`seqbench.run.plan.Cell`)."""

    cell_id: str = Field(pattern=r"^[0-9a-f]{8,64}$")
    arch: str = Field(min_length=1)
    task: str = Field(min_length=1)
    distance: str  # the distance setting: "16", or a mixed range "1-64"
    seed: int = Field(ge=0)
    params_budget: Optional[int] = Field(default=None, ge=1)
    lr: Optional[FiniteFloat] = Field(default=None, gt=0)  # the peak learning rate the cell trains with
    config: CellConfig  # the resolved configuration of the cell
    plugins: dict[str, PluginRef]  # "arch", "task", "host"
    params: Optional[int] = Field(default=None, ge=0)  # planned on the meta device; the cell counts its own
    chance: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    command: Optional[str] = None


class Record(_Strict):
    """One finished cell. Built by `Record.ok` or `Record.failed` from the cell's `Header`; read from files by
    `seqbench.records.store` (`Record.model_validate`)."""

    schema_: int = Field(alias="schema")
    cell_id: str = Field(pattern=r"^[0-9a-f]{8,64}$")
    status: Status
    arch: str = Field(min_length=1)
    task: str = Field(min_length=1)
    distance: str  # the distance setting: "16", or a mixed range "1-64"
    seed: int = Field(ge=0)
    params_budget: Optional[int] = Field(default=None, ge=1)
    lr: Optional[FiniteFloat] = Field(default=None, gt=0)  # the peak learning rate the cell trained with
    config: CellConfig  # the resolved configuration of the cell
    plugins: dict[str, PluginRef | str]  # "arch", "task", "host" (schema 1: "name==version" text)
    params: Optional[int] = Field(default=None, ge=0)
    chance: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    metrics: Metrics = Metrics()
    throughput: Throughput = Throughput()
    env: Env
    times: Times
    error: Optional[Error] = None
    command: Optional[str] = None
    warnings: list[str] = []  # warnings raised in the cell that bear on reproducibility
    artifacts: dict[str, str] = {}  # name -> file beside the record (relative), e.g. weights

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @classmethod
    def ok(cls, header: Header, *, metrics: Metrics, throughput: Throughput, env: Env, times: Times,
           warnings: list[str] = (), artifacts: dict[str, str] | None = None) -> "Record":
        """The record of a cell that trained and was tested."""
        return cls(schema=SCHEMA, status="ok", **dict(header), metrics=metrics, throughput=throughput, env=env,
                   times=times, error=None, warnings=list(warnings), artifacts=artifacts or {})

    @classmethod
    def failed(cls, header: Header, *, error: Error, env: Env, times: Times, status: Status = "failed",
               warnings: list[str] = ()) -> "Record":
        """The record of a cell that did not finish: diverged (with the step), oom or failed, and why."""
        if status == "ok":
            raise ValueError("Record.failed needs a status other than ok")
        return cls(schema=SCHEMA, status=status, **dict(header), env=env, times=times, error=error,
                   warnings=list(warnings))

    @field_validator("schema_")
    @classmethod
    def _readable(cls, v: int) -> int:
        if v not in READABLE:
            raise ValueError(f"schema {v}: this seqbench reads schema {', '.join(map(str, READABLE))}")
        return v

    @field_validator("distance", mode="before")
    @classmethod
    def _distance_text(cls, v: Any) -> Any:
        from seqbench.records.distance import Distance

        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ValueError(f"must be a distance like 16 or 1-64, got {v!r}")
        return Distance.parse(v).label  # raises ValueError for text that is not a distance

    @field_validator("artifacts")
    @classmethod
    def _relative(cls, v: dict[str, str]) -> dict[str, str]:
        for name, path in v.items():
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"artifact {name!r} must be a relative path inside the result folder, got {path!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Record":
        if self.status == "ok":
            if not self.metrics.bins:
                raise ValueError("status ok needs metrics.bins (at least one distance bin)")
            if self.metrics.overall is None:
                raise ValueError("status ok needs metrics.overall")
            missing = [m for m in self.metrics.text_metrics if m not in self.metrics.overall.extra()]
            if missing:
                raise ValueError(f"status ok needs every text metric of the task in metrics.overall: "
                                 f"missing {', '.join(missing)}")
            if self.error is not None:
                raise ValueError("status ok must have error null")
        elif self.error is None:
            raise ValueError(f"status {self.status} needs an error (type, message)")
        return self

    # --- views -----------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data, field names as written to disk."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


def describe(error: Any) -> str:
    """A pydantic ValidationError as one line: the first problem by field, and how many more."""
    problems = error.errors(include_url=False)
    first = problems[0]
    where = ".".join(str(p) for p in first["loc"]) or "(record)"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {first['msg']}{more}"
