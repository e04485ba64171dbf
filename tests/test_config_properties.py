"""Property tests over the configuration layer: any combination of profile, TOML file, flags and `--set` either
plans (`run --dry-run` exits 0) or is refused with one line on stderr and exit 2: never a traceback, never another
exit code. The default Hypothesis profile runs here; `-m slow` runs many more examples."""

from __future__ import annotations

import dataclasses
import math
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqbench.cli import main
from seqbench.contract import registry
from seqbench.run import config as C

CONFIG_SECTIONS = (("matrix", C.MatrixConfig), ("model", C.ModelConfig), ("train", C.TrainConfig),
                   ("eval", C.EvalConfig))
REGISTRY = registry.load(entry_points=False)


def every_key() -> list[str]:
    """Every key a configuration can set, from the config's own field definitions and the registered options."""
    keys = [f"{section}.{f.name}" for section, cls in CONFIG_SECTIONS for f in dataclasses.fields(cls)]
    keys += [f"task.{t}.{f.name}" for t in REGISTRY.tasks for f in dataclasses.fields(REGISTRY.task(t).options)]
    keys += [f"arch.{a}.{f.name}" for a in REGISTRY.archs for f in dataclasses.fields(REGISTRY.arch(a).options)]
    return keys


KNOWN = {  # section -> keys that exist (drawn from the definitions), so that many examples get past the key check
    **{section: [f.name for f in dataclasses.fields(cls)] for section, cls in CONFIG_SECTIONS},
    "task": [*REGISTRY.tasks, "distance"],  # `task.distance`: a key of seqbench 0.1, refused with where it moved
    "arch": list(REGISTRY.archs),
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
set_items = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(every_key() + ["task.distance", "nope", "train"]),
                      st.sampled_from(["1", "0", "-2", "inf", "[]", "[4, 8]", "[4, 4]", "pre", "x", "", "true", "1e-3",
                                       "{a = 1}", "none", "8.0"]))


def test_the_keys_drawn_are_every_key_the_definitions_declare():
    drawn = set(every_key())
    for section, cls in CONFIG_SECTIONS:
        assert {f"{section}.{f.name}" for f in dataclasses.fields(cls)} <= drawn
    for key in ("train.label_smoothing", "train.devices", "eval.beam_width", "train.bucket"):
        assert key in drawn, key  # among the keys a hand-written list once missed


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
