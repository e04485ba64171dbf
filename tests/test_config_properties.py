"""Property tests over the configuration layer: any combination of profile, TOML file, flags and `--set` either
plans (`run --dry-run` exits 0) or is refused with one line on stderr and exit 2: never a traceback, never another
exit code. The default Hypothesis profile runs here; `-m slow` runs many more examples."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqbench.cli import main

KNOWN = {  # section -> keys that exist, so that many examples get past the unknown-key check
    "matrix": ["archs", "tasks", "seeds", "params", "lrs", "distances", "task_distances"],
    "model": ["d_model", "n_layers", "n_heads", "dropout", "max_len"],
    "train": ["max_steps", "max_time", "batch_size", "lr", "weight_decay", "warmup_steps", "grad_clip", "val_every",
              "solved_at", "accelerator", "precision", "throughput_warmup"],
    "eval": ["n_val", "n_test", "batch_size", "generation_warmup"],
    "task": ["copy", "cloze", "distance"],
    "arch": ["lstm", "transformer", "rnn"],
}
NAMES = ["lstm", "gru", "transformer", "copy", "cloze", "translation", "lstmm", "", " ", "a b"]

scalars = st.one_of(
    st.integers(min_value=-3, max_value=70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.sampled_from(["", "x", "1e-3", "0,1", "2-8", "8-2", "inf", "none", "pre", "bf16-mixed", "auto", "gpu"]),
    st.sampled_from(NAMES),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.sampled_from(["copy", "k", "x"]),
                                                                             scalars, max_size=2))


@st.composite
def toml_tables(draw) -> dict:
    out: dict = {}
    for section in draw(st.lists(st.sampled_from([*KNOWN, "trian"]), max_size=3, unique=True)):
        keys = KNOWN.get(section, ["lr"]) + ["nonsense"]
        out[section] = {k: draw(values) for k in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))}
    return out


def toml_text(data: dict) -> str:
    """TOML for what tomllib can represent; anything else is written as a string."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + "}"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = []
    for section, table in data.items():
        lines.append(f"[{section}]")
        lines += [f'"{k}" = {value(v)}' for k, v in table.items()]
    return "\n".join(lines) + "\n"


flag_values = st.sampled_from(["lstm", "lstm,gru", "copy", "cloze", "0", "0,1", "1,1", "-1", "", ",", "x", "4",
                               "2-8", "8-2", "0.01", "inf", "1e9", "3000", "40000", "bf16-mixed", "16-mixed", "cpu"])
FLAGS = ["--arch", "--task", "--seeds", "--distance", "--params", "--lr", "--max-steps", "--precision",
         "--accelerator"]
set_items = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(
    ["train.lr", "train.max_steps", "model.d_model", "matrix.params", "matrix.distances", "task.copy.k",
     "arch.transformer.norm", "matrix.lrs", "eval.n_test", "matrix.task_distances.copy", "train.solved_at",
     "model.n_heads", "train.max_time"] * 3 + ["task.distance", "nope", "train"]),
    st.sampled_from(["1", "0", "-2", "inf", "[]", "[4, 8]", "[4, 4]", "pre", "x", "", "true", "1e-3", "{a = 1}"]))


@st.composite
def command_lines(draw, tmp: Path) -> list[str]:
    argv = ["run", "--dry-run", "--no-progress", "--out", str(tmp / "out")]
    profile = draw(st.sampled_from([None, None, None, None, "none", "none", "quick", "full", "quik", ""]))
    if profile is not None:
        argv += ["--profile", profile]
    if draw(st.booleans()):
        path = tmp / f"c-{uuid.uuid4().hex[:8]}.toml"
        path.write_text(toml_text(draw(toml_tables())))
        argv += ["--config", str(path)]
    # keep most matrices small, so that planning (which sizes every architecture) stays quick
    argv += ["--arch", draw(st.sampled_from(["lstm", "lstm,gru", "transformer", "rnn,gpt"]))]
    argv += ["--task", draw(st.sampled_from(["copy", "cloze", "copy,cloze"]))]
    for flag in draw(st.lists(st.sampled_from(FLAGS[2:]), max_size=3, unique=True)):
        argv += [flag, draw(flag_values)]
    for item in draw(st.lists(set_items, max_size=3)):
        argv += ["--set", item]
    return argv


def check(argv: list[str], capsys) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = [line for line in err.strip().splitlines() if not line.startswith("seqbench: note:")]
        assert len(lines) == 1 and lines[0].startswith("seqbench: error: "), (argv, err)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_configuration_plans_or_is_refused_in_one_line(data, tmp_path, capsys):
    check(data.draw(command_lines(tmp_path)), capsys)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_configuration_plans_or_is_refused_in_one_line_many(data, tmp_path, capsys):
    check(data.draw(command_lines(tmp_path)), capsys)
