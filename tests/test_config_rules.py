"""The configuration's rules, each at its edge: every bounded setting takes the value at (or just inside) its bound
and refuses the one just outside with one line naming the key and the bound; choices, lists, integers and names
likewise; the defaults are pinned (a default is part of every cell id whose profile does not set it, so a change
must be deliberate: it makes committed records stale); and the helpers a run relies on (caps, per-cell training
settings, error lines) say what they promise. Direct calls to `seqbench.run.config.section`: no planning, fast."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import pytest
from pydantic import Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from seqbench.contract.errors import ConfigError
from seqbench.run import config as C

SECTIONS = {"matrix": C.MatrixConfig, "model": C.ModelConfig, "train": C.TrainConfig, "eval": C.EvalConfig,
            "search": C.SearchConfig, "sweep": C.SweepConfig}

# (section.key, accepted at the edge, refused just outside, what the refusal says)
EDGES = [
    ("model.d_model", 1, 0, "must be at least 1, got 0"),
    ("model.n_layers", 1, 0, "must be at least 1, got 0"),
    ("model.n_heads", 1, 0, "must be at least 1, got 0"),
    ("model.dropout", 0.0, -0.01, "must be at least 0.0, got -0.01"),
    ("model.dropout", 0.99, 1.0, "must be less than 1.0, got 1.0"),
    ("model.max_len", 0, -1, "must be at least 0, got -1"),
    ("train.max_steps", 1, 0, "must be at least 1, got 0"),
    ("train.max_time", 0.001, 0.0, "must be greater than 0 (positive), got 0.0"),
    ("train.batch_size", 1, 0, "must be at least 1, got 0"),
    ("train.lr", 1e-9, 0.0, "must be greater than 0 (positive), got 0.0"),
    ("train.lr", 10.0, 10.01, "must be at most 10, got 10.01"),
    ("train.weight_decay", 0.0, -0.1, "must be at least 0, got -0.1"),
    ("train.weight_decay", 10.0, 10.5, "must be at most 10, got 10.5"),
    ("train.warmup_steps", 0, -1, "must be at least 0, got -1"),
    ("train.grad_clip", 0.0, -0.5, "must be at least 0, got -0.5"),
    ("train.label_smoothing", 0.0, -0.1, "must be at least 0, got -0.1"),
    ("train.label_smoothing", 0.9, 1.0, "must be less than 1, got 1.0"),
    ("train.val_every", 1, 0, "must be at least 1, got 0"),
    ("train.solved_at", 1.0, 1.01, "must be at most 1, got 1.01"),
    ("train.solved_at", 0.01, 0.0, "must be greater than 0 (positive), got 0.0"),
    ("train.patience", 1, 0, "must be at least 1, got 0"),
    ("train.min_delta", 0.0, -0.01, "must be at least 0, got -0.01"),
    ("train.throughput_warmup", 0, -1, "must be at least 0, got -1"),
    ("train.devices", 1, 0, "must be at least 1, got 0"),
    ("eval.n_val", 1, 0, "must be at least 1, got 0"),
    ("eval.n_test", 1, 0, "must be at least 1, got 0"),
    ("eval.batch_size", 1, 0, "must be at least 1, got 0"),
    ("eval.generation_warmup", 0, -1, "must be at least 0, got -1"),
    ("eval.val_generate", 0, -1, "must be at least 0, got -1"),
    ("eval.beam_width", 1, 0, "must be at least 1, got 0"),
    ("eval.max_len_a", 0.0, -0.5, "must be at least 0, got -0.5"),
    ("eval.max_len_b", 1, 0, "must be at least 1, got 0"),
    ("eval.length_penalty", 0.0, -0.1, "must be at least 0, got -0.1"),
    ("eval.grad_examples", 0, -1, "must be at least 0, got -1"),
    ("search.start", 1, 0, "must be at least 1, got 0"),
    ("search.growth", 1.01, 1.0, "must be greater than 1, got 1.0"),
    ("search.ratio", 1.01, 1.0, "must be greater than 1, got 1.0"),
    ("search.cap", 1, 0, "must be at least 1, got 0"),
]
DEFAULTS = {  # the built-in defaults, under every profile (bench/profiles/*.toml set their own over these)
    "matrix": dict(archs=("lstm",), tasks=("copy",), seeds=(0,), params=(), lrs=(), distances=(), task_distances={}),
    "model": dict(d_model=64, n_layers=2, n_heads=4, dropout=0.0, max_len=0),
    "train": dict(max_steps=300, max_time=None, batch_size=32, lr=3e-3, weight_decay=0.0, warmup_steps=20,
                  grad_clip=1.0, label_smoothing=0.0, bucket=False, val_every=100, solved_at=None, patience=None,
                  min_delta=0.0, flush_denormal=True, accelerator="auto", precision="32-true", throughput_warmup=5, devices=1,
                  strategy="auto"),
    "eval": dict(n_val=256, n_test=256, batch_size=128, generation_warmup=1, val_generate=0, beam_width=1,
                 max_len_a=1.5, max_len_b=10, length_penalty=0.6, grad_examples=256, select="val_gen_acc"),
    "search": dict(enabled=False, start=16, growth=2.0, ratio=1.25, cap=256, task_caps={}, arch_caps={}),
    "sweep": dict(enabled=False, lrs=(1e-3, 3e-3, 1e-2), seeds=(0,), task_distances={}),
}


def build(key: str, value: Any) -> Any:
    where, name = key.split(".")
    return C.section(SECTIONS[where], {name: value}, where)


def refusal(key: str, value: Any) -> str:
    with pytest.raises(ConfigError) as e:
        build(key, value)
    return str(e.value)


@pytest.mark.parametrize("key, inside, outside, says", EDGES, ids=[f"{e[0]}={e[2]}" for e in EDGES])
def test_a_bounded_setting_takes_its_edge_and_refuses_past_it_in_one_line(key, inside, outside, says):
    assert getattr(build(key, inside), key.split(".")[1]) == inside
    assert refusal(key, outside) == f"{key}: {says}"


@pytest.mark.parametrize("section", list(DEFAULTS))
def test_the_defaults_are_what_the_documentation_and_the_cell_ids_assume(section):
    built = C.section(SECTIONS[section], {}, section)
    assert {f.name: getattr(built, f.name) for f in dataclasses.fields(built)} == DEFAULTS[section]


@pytest.mark.parametrize("key, choices", [
    ("train.precision", ["32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true"]),
    ("train.accelerator", ["auto", "cpu", "gpu", "cuda", "mps"]),
    ("train.strategy", ["auto", "ddp"]),
])
def test_a_choice_takes_each_of_its_values_and_refuses_others_naming_them(key, choices):
    for choice in choices:
        assert getattr(build(key, choice), key.split(".")[1]) == choice
    line = refusal(key, "fast")
    assert line.startswith(f"{key}: must be one of ") and line.endswith(", got 'fast'")
    assert all(f"'{c}'" in line for c in choices)


def test_an_integer_setting_takes_integers_and_their_text_only():
    assert build("train.max_steps", "40").max_steps == 40 and build("train.max_steps", " 7 ").max_steps == 7
    assert refusal("train.max_steps", 8.0) == "train.max_steps: must be an integer, got 8.0"
    assert refusal("train.max_steps", "8.5") == "train.max_steps: must be an integer, got '8.5'"
    assert refusal("train.max_steps", True) == "train.max_steps: must be a number, got true"
    assert refusal("train.lr", False) == "train.lr: must be a number, got false"
    assert refusal("train.lr", float("nan")) == "train.lr: must be a finite number, got nan"
    assert refusal("train.lr", "fast") == "train.lr: must be a number, got 'fast'"


@pytest.mark.parametrize("key, value, says", [
    ("train.bucket", "maybe", "must be true or false, got 'maybe'"), ("train.bucket", [1], "must be true or false, "
                                                                                        "got [1]"),
    ("eval.select", 5, "must be text, got 5"), ("train.max_steps", [3], "must be an integer, got [3]"),
    ("train.lr", [1], "must be a number, got [1]"),
    ("matrix.distances", [1.5], "must be text, got 1.5"),  # the first of the union's errors, its member unnamed
])
def test_a_value_of_the_wrong_type_is_refused_in_one_line_naming_the_type(key, value, says):
    assert refusal(key, value) == f"{key}: {says}"


def test_an_empty_or_unset_value_is_refused_with_what_to_do():
    assert refusal("train.max_steps", " ") == ("train.max_steps: must not be empty (leave the key out for its "
                                              "default)")
    assert refusal("train.max_steps", None) == "train.max_steps: must be an integer; it cannot be unset (none)"
    assert build("train.patience", None).patience is None  # optional: none unsets it


def test_lists_take_text_a_single_value_or_a_list_and_refuse_empty_items_and_repeats():
    assert build("matrix.archs", "lstm, gru").archs == ("lstm", "gru")
    assert build("matrix.seeds", 3).seeds == (3,) and build("matrix.seeds", [0, 1]).seeds == (0, 1)
    assert build("matrix.params", ()).params == ()
    assert refusal("matrix.archs", "lstm,,gru") == "matrix.archs: a list must not have empty items, got 'lstm,,gru'"
    assert refusal("matrix.seeds", [0, 1, 0]) == "matrix.seeds: lists 0 twice: [0, 1, 0]"
    assert refusal("matrix.archs", []) == "matrix.archs: must not be empty"
    assert refusal("matrix.seeds", -1) == "matrix.seeds: must be at least 0, got -1"
    assert refusal("matrix.params", 0) == "matrix.params: must be at least 1, got 0"
    assert refusal("matrix.lrs", 0) == "matrix.lrs: must be greater than 0 (positive), got 0"
    assert refusal("sweep.lrs", 11) == "sweep.lrs: must be at most 10, got 11"
    assert refusal("sweep.lrs", []) == "sweep.lrs: must not be empty"
    assert refusal("matrix.archs", "a b") == "matrix.archs: must be a name without spaces, got 'a b'"
    assert refusal("matrix.distances", True) == "matrix.distances: must be a number, got true"


def test_an_unknown_key_is_refused_with_the_nearest_and_every_allowed_key():
    line = refusal("train.lrr", 0.1)
    assert line.startswith("Unknown key 'train.lrr'. Did you mean 'lr'? Allowed: ")
    assert line.endswith(", ".join(sorted(f.name for f in dataclasses.fields(C.TrainConfig))))
    assert str(C.unknown_key("", "zzz", [])) == "Unknown key 'zzz'. Allowed: (none)"
    assert str(C.unknown_key("task", "coppy", ["copy", "cloze"], "task")) == ("Unknown task 'task.coppy'. Did you "
                                                                              "mean 'copy'? Allowed: cloze, copy")


def test_a_section_that_is_not_a_table_is_refused_naming_what_it_is():
    for value, what in ((3, "an integer"), ("x", "a string"), ([1], "a list"), (1.5, "a number"), (None, "NoneType")):
        with pytest.raises(ConfigError) as e:
            C.section(C.TrainConfig, value, "train")
        assert str(e.value) == f"train must be a section of key = value, got {what}"


def test_a_mapping_setting_is_a_table_of_names():
    assert build("search.task_caps", {"copy": 64}).task_caps == {"copy": 64}
    assert refusal("search.task_caps", 64) == "search.task_caps: must be a section of key = value, got 64"
    assert refusal("search.task_caps", {"copy": 0}) == "search.task_caps.copy: must be at least 1, got 0"
    assert refusal("matrix.task_distances", {"copy": []}) == "matrix.task_distances.copy: must not be empty"


def test_the_cap_of_a_search_is_the_lower_of_its_tasks_and_its_architectures():
    s = C.section(C.SearchConfig, {"cap": 256, "task_caps": {"copy": 128}, "arch_caps": {"gpt": 64, "rnn": 512}},
                  "search")
    assert s.cap_for("lstm", "cloze") == 256 and s.cap_for("lstm", "copy") == 128
    assert s.cap_for("gpt", "copy") == 64 and s.cap_for("gpt", "cloze") == 64
    assert s.cap_for("rnn", "copy") == 128 and s.cap_for("rnn", "cloze") == 256


def _run_config(train: dict[str, Any], lr_table: dict[str, dict[str, float]] | None = None) -> C.RunConfig:
    return C.RunConfig(matrix=C.MatrixConfig(), model=C.ModelConfig(), train=C.section(C.TrainConfig, train, "train"),
                       train_set=frozenset(train), eval=C.EvalConfig(), distances={}, task_options={},
                       arch_options={}, lr_table=lr_table or {})


def test_a_cells_training_settings_are_the_architectures_defaults_under_the_configured_values():
    rc = _run_config({"max_steps": 50}, {"copy": {"gru": 0.01}})
    cell = rc.train_for({"lr": 1e-3, "max_steps": 999, "warmup_steps": 7})
    assert (cell.lr, cell.max_steps, cell.warmup_steps) == (1e-3, 50, 7)  # configured max_steps wins
    assert rc.train_for({"lr": 1e-3}, lr=0.02).lr == 0.02  # the matrix's rate wins over the architecture's
    assert rc.train_for({}) is rc.train
    assert rc.lr_for("gru", "copy") == 0.01 and rc.lr_for("lstm", "copy") is None and rc.lr_for("gru", "cloze") is None


@dataclasses.dataclass(frozen=True)
class ToyOptions:
    """A plugin's options: a plain dataclass, which checks nothing itself."""

    width: int = 4
    ratio: float = 0.5
    tied: bool = False
    sizes: tuple[int, ...] = (1,)


@pytest.mark.parametrize("key, value, says", [
    ("width", True, "must be a number, got true"),
    ("width", 2.0, "must be an integer (it is declared int), got 2.0"),
    ("ratio", False, "must be a number, got false"),
    ("tied", "yes", "must be true or false, got 'yes'"),
    ("sizes", "2,,3", "a list must not have empty items, got '2,,3'"),
    ("width", "many", "must be an integer, got 'many'"),  # pydantic's own error types, each in one line
    ("width", [1], "must be an integer, got [1]"),
    ("ratio", "x", "must be a number, got 'x'"),
    ("ratio", [1], "must be a number, got [1]"),
    ("tied", [1], "must be true or false, got [1]"),
    ("sizes", 5, "must be a list, got 5"),
])
def test_plugin_options_are_checked_as_strictly_as_the_sections(key, value, says):
    with pytest.raises(ConfigError) as e:
        C.section(ToyOptions, {key: value}, "arch.toy")
    assert str(e.value) == f"arch.toy.{key}: {says}"


def test_plugin_options_take_text_from_flags():
    assert C.section(ToyOptions, {"sizes": "2, 3", "tied": "true", "width": 5}, "arch.toy") == \
        ToyOptions(width=5, sizes=(2, 3), tied=True)
    assert C.section(ToyOptions, {"tied": "False"}, "arch.toy").tied is False  # either word, in any case
    with pytest.raises(ConfigError) as e:  # none is not a boolean: the option's type says so, not a special case
        C.section(ToyOptions, {"tied": None}, "arch.toy")
    assert str(e.value) == "arch.toy.tied: must be true or false; it cannot be unset (none)"


def test_every_list_axis_of_the_matrix_needs_an_item_and_a_name_may_be_one_character():
    for key in ("matrix.archs", "matrix.tasks", "matrix.seeds"):
        assert refusal(key, []) == f"{key}: must not be empty"
    for key in ("matrix.params", "matrix.lrs", "matrix.distances"):
        assert getattr(build(key, []), key.split(".")[1]) == ()  # empty: each architecture's or task's own
    assert build("matrix.archs", "x").archs == ("x",) and build("eval.select", "b").select == "b"
    assert refusal("eval.select", "") == "eval.select: must not be empty (leave the key out for its default)"


@pytest.mark.parametrize("section", list(SECTIONS))
def test_a_built_section_cannot_be_changed_in_place(section):
    built = C.section(SECTIONS[section], {}, section)
    name = dataclasses.fields(built)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, name, getattr(built, name))


def test_an_architectures_cap_and_the_sweeps_seeds_have_their_bounds():
    assert build("search.arch_caps", {"gpt": 1}).arch_caps == {"gpt": 1}
    assert refusal("search.arch_caps", {"gpt": 0}) == "search.arch_caps.gpt: must be at least 1, got 0"
    assert refusal("sweep.seeds", []) == "sweep.seeds: must not be empty"


def test_an_unset_option_does_not_stop_the_check_of_the_next_one():
    with pytest.raises(ConfigError) as e:
        C.section(ToyOptions, {"tied": None, "width": 2.0}, "arch.toy")
    assert str(e.value) == "arch.toy.width: must be an integer (it is declared int), got 2.0"


def test_the_whole_configuration_cannot_be_changed_in_place_and_has_empty_defaults():
    rc = _run_config({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        rc.train = rc.train
    assert rc.search == C.SearchConfig() and rc.sweep == C.SweepConfig() and rc.lr_table == {}
    bare = C.RunConfig(matrix=C.MatrixConfig(), model=C.ModelConfig(), train=C.TrainConfig(), train_set=frozenset(),
                       eval=C.EvalConfig(), distances={}, task_options={}, arch_options={})
    assert (bare.search, bare.sweep, bare.lr_table) == (C.SearchConfig(), C.SweepConfig(), {})
    assert bare.lr_for("lstm", "copy") is None


def _pydantic_error(kind: Any, value: Any) -> Any:
    from pydantic import TypeAdapter, ValidationError

    with pytest.raises(ValidationError) as e:
        TypeAdapter(kind).validate_python(value)
    return e.value


@pydantic_dataclass
class _Fields:
    """Settings shaped as the sections' are: one required, unions whose members pydantic names in an error's place."""

    a: int
    b: int | float = 1
    c: str | bool = "x"
    d: float | int = 1.0
    e: bool | int = True
    f: list[int] | int = 1


@pytest.mark.parametrize("kind, value, says", [
    (int, 8.5, "w: must be an integer, got 8.5"),  # int_from_float
    (Annotated[tuple[int, ...], Field(min_length=2)], (1,), "w: needs at least 2 items"),
    (Annotated[tuple[int, ...], Field(min_length=2)], (), "w: must not be empty"),
    (list[int], 5, "w: Input should be a valid list"),  # a kind without a line of ours: pydantic's own words
    (list[int], None, "w: Input should be a valid list; it cannot be unset (none)"),
    (_Fields, {}, "w.a: is required"),
    (_Fields, {"a": 1, "b": "q"}, "w.b: must be an integer, got 'q'"),  # the union's members are not places
    (_Fields, {"a": 1, "c": 5}, "w.c: must be text, got 5"),
    (_Fields, {"a": 1, "d": "q"}, "w.d: must be a number, got 'q'"),
    (_Fields, {"a": 1, "e": "q"}, "w.e: must be true or false, got 'q'"),
    (_Fields, {"a": 1, "f": "q"}, "w.f: Input should be a valid list"),  # nor is a member named with brackets
])
def test_each_kind_of_pydantic_error_is_one_line_naming_the_setting(kind, value, says):
    assert C.message(_pydantic_error(kind, value), "w") == says
