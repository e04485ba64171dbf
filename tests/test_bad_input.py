"""Every bad input: one line saying what is wrong and what is allowed, exit code 2, no traceback, and nothing
already in the output directory touched."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from seqbench.cli import main


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output directory that already holds a finished run's files."""
    folder = tmp_path / "out"
    (folder / "records").mkdir(parents=True)
    (folder / "records" / "0123456789abcdef.json").write_text('{"kept": true}\n')
    (folder / "notes.txt").write_text("mine\n")
    return folder


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def corpus(tmp_path: Path, de_lines: int) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for split in ("train", "val", "test"):
        (folder / f"{split}.en").write_text("a small dog runs .\n" * 20)
        (folder / f"{split}.de").write_text("ein kleiner hund läuft .\n" * (de_lines if split == "train" else 20))
    return folder


CASES = [
    # (id, argv after "run", expected fragments of the one line)
    ("unknown-arch", ["--arch", "lstmm"], ["Unknown architecture 'lstmm'", "Did you mean 'lstm'", "Available:"]),
    ("unknown-task", ["--task", "clozee"], ["Unknown task 'clozee'", "Did you mean 'cloze'"]),
    ("unknown-key", ["--set", "train.lrr=0.1"], ["Unknown key 'train.lrr'", "Did you mean 'lr'", "Allowed:"]),
    ("unknown-section", ["--set", "trian.lr=0.1"], ["Unknown section 'trian'", "Did you mean 'train'"]),
    ("unknown-task-option", ["--set", "task.copy.alphabett=4"], ["task.copy.alphabett", "Did you mean 'alphabet'"]),
    ("unknown-task-in-task-section", ["--set", "task.coppy.k=4"], ["task.coppy", "Did you mean 'copy'"]),
    ("unknown-arch-option", ["--set", "arch.transformer.normm=pre"], ["arch.transformer.normm", "Did you mean 'norm'"]),
    ("bad-arch-option-value", ["--set", "arch.transformer.norm=middle"], ["arch.transformer.norm", "pre", "post"]),
    ("wrong-type", ["--max-steps", "many"], ["train.max_steps", "must be an integer", "'many'"]),
    ("wrong-type-float", ["--set", "train.lr=fast"], ["train.lr", "must be a number"]),
    ("zero-steps", ["--max-steps", "0"], ["train.max_steps", "at least 1"]),
    ("negative-seed", ["--seeds", "0,-1"], ["matrix.seeds", "at least 0"]),
    ("duplicate-seed", ["--seeds", "1,1"], ["matrix.seeds", "twice"]),
    ("distance-zero", ["--distance", "0"], ["matrix.distances", "at least 1"]),
    ("distance-text", ["--distance", "far"], ["matrix.distances", "integer or 'low-high'"]),
    ("distance-reversed", ["--distance", "100-10"], ["matrix.distances", "empty", "low-high"]),
    ("vocabulary-too-small", ["--set", "task.copy.alphabet=1"], ["task.copy", "alphabet", "at least 2"]),
    ("budget-too-small", ["--arch", "transformer", "--params", "50"], ["too small for 'transformer'", "at least"]),
    ("negative-budget", ["--params", "-5"], ["matrix.params", "at least 1"]),
    ("distance-beyond-max-len", ["--distance", "500", "--set", "model.max_len=128"],
     ["needs sequences of", "model.max_len=128"]),
    ("bad-precision", ["--precision", "fp8"], ["train.precision", "32-true", "bf16-mixed"]),
    ("bad-accelerator", ["--accelerator", "tpu9"], ["train.accelerator", "cpu"]),
    ("negative-lr", ["--set", "train.lr=-1"], ["train.lr", "positive"]),
    ("dropout-out-of-range", ["--set", "model.dropout=1.5"], ["model.dropout", "less than 1.0"]),
    ("zero-layers", ["--set", "model.n_layers=0"], ["model.n_layers", "at least 1"]),
    ("zero-test-set", ["--set", "eval.n_test=0"], ["eval.n_test", "at least 1"]),
    ("set-without-equals", ["--set", "train.lr"], ["--set takes section.key=value"]),
    ("set-without-section", ["--set", "lr=0.1"], ["must name a section and a key"]),
    ("section-not-a-table", ["--set", "task.copy=3"], ["task.copy must be a section"]),
    ("unknown-profile", ["--profile", "quik"], ["Unknown profile 'quik'", "Did you mean 'quick'"]),
    ("unknown-flag", ["--max-step", "5"], ["unrecognized arguments", "--max-step"]),
    ("empty-arch-list", ["--arch", ","], ["matrix.archs", "empty items"]),
]


def check_one_line(capsys, expected: list[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    for fragment in expected:
        assert fragment in err[0], (fragment, err[0])
    return err[0]


@pytest.mark.parametrize("argv, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_flag_or_setting(argv, expected, out, capsys):
    before = snapshot(out)
    argv = ["--arch", "lstm", "--task", "copy", *argv] if "--arch" not in argv else ["--task", "copy", *argv]
    assert main(["run", "--out", str(out), "--no-progress", *argv]) == 2
    check_one_line(capsys, expected)
    assert snapshot(out) == before


def test_malformed_toml_names_line_and_column(tmp_path, out, capsys):
    bad = write(tmp_path, "bad.toml", "[train]\nmax_steps = 10\nlr = = 3\n")
    before = snapshot(out)
    assert main(["run", "--config", str(bad), "--out", str(out)]) == 2
    check_one_line(capsys, [str(bad), "not valid TOML", "line 3", "column"])
    assert snapshot(out) == before


def test_missing_config_file(tmp_path, out, capsys):
    assert main(["run", "--config", str(tmp_path / "nope.toml"), "--out", str(out)]) == 2
    check_one_line(capsys, ["nope.toml", "does not exist"])


def test_config_value_of_wrong_shape(tmp_path, out, capsys):
    cfg = write(tmp_path, "c.toml", '[matrix]\narchs = "lstm"\ntasks = ["copy"]\nseeds = [0, "one"]\n')
    assert main(["run", "--config", str(cfg), "--out", str(out)]) == 2
    check_one_line(capsys, ["matrix.seeds", "must be an integer", "'one'"])


def test_missing_translation_data(tmp_path, out, capsys):
    before = snapshot(out)
    argv = ["run", "--arch", "lstm", "--task", "translation", "--set", f"task.translation.data_dir={tmp_path/'nodata'}",
            "--out", str(out)]
    assert main(argv) == 2
    check_one_line(capsys, ["nodata"])
    assert snapshot(out) == before


def test_unequal_corpus_lines(tmp_path, out, capsys):
    folder = corpus(tmp_path, de_lines=19)
    argv = ["run", "--arch", "lstm", "--task", "translation", "--set", f"task.translation.data_dir={folder}",
            "--set", "task.translation.tokenizer=word", "--out", str(out)]
    assert main(argv) == 2
    check_one_line(capsys, ["train.en", "train.de", "20", "19"])


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    assert main(["run", "--arch", "lstm", "--task", "copy", "--out", str(target)]) == 2
    check_one_line(capsys, ["exists and is not a folder"])
    assert target.read_text() == "keep me"


def test_debug_shows_the_traceback_and_keeps_the_exit_code(out, capsys):
    assert main(["run", "--arch", "lstmm", "--task", "copy", "--out", str(out), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "Unknown architecture 'lstmm'" in err.strip().splitlines()[-1]


# --- the classes of issue 15: each answered with one line and exit 2, the output untouched -------------------


@pytest.mark.parametrize("make, expected", [
    (lambda root: root / "file.txt" / "out", ["is a file, not a folder"]),  # a component is a file
    (lambda root: "", ["must name a folder", "empty"]),
    (lambda root: root / "out-records-file", ["records", "must be a folder"]),
    (lambda root: root / "out-locks-file", [".locks", "must be a folder"]),
], ids=["under-a-file", "empty", "records-is-a-file", "locks-is-a-file"])
def test_run_destination_checked_before_any_work(tmp_path, capsys, make, expected):
    (tmp_path / "file.txt").write_text("keep me")
    for name, inner in (("out-records-file", "records"), ("out-locks-file", ".locks")):
        (tmp_path / name).mkdir()
        (tmp_path / name / inner).write_text("a file where a folder must be")
    before = snapshot(tmp_path)
    assert main(["run", "--arch", "lstm", "--task", "copy", "--out", str(make(tmp_path))]) == 2
    check_one_line(capsys, expected)
    assert snapshot(tmp_path) == before


VALUE_CASES = [
    ("lr-inf", ["--set", "train.lr=inf"], ["train.lr", "finite"]),
    ("weight-decay-inf", ["--set", "train.weight_decay=inf"], ["train.weight_decay", "finite"]),
    ("lr-nan-text", ["--set", "train.lr=nan"], ["train.lr", "finite"]),
    ("params-empty", ["--params", ""], ["matrix.params", "empty"]),
    ("params-twice", ["--params", "40000,40000"], ["matrix.params", "twice"]),
    ("seeds-empty-item", ["--seeds", "0,,1"], ["matrix.seeds", "empty items"]),
    ("data-dir-empty", ["--task", "translation", "--set", "task.translation.data_dir="],
     ["task.translation.data_dir", "must not be empty"]),
    ("profile-empty", ["--profile", ""], ["--profile needs a name"]),
    ("config-empty", ["--config", ""], ["--config needs a file name"]),
    ("bool-for-number", ["--set", "train.max_steps=true"], ["train.max_steps", "must be a number"]),
    ("jobs-negative", ["--jobs", "-1"], ["--jobs", "0"]),
    ("logger-unknown", ["--logger", "tensorbord"], ["Unknown logger 'tensorbord'", "Did you mean 'tensorboard'"]),
]


@pytest.mark.parametrize("argv, expected", [c[1:] for c in VALUE_CASES], ids=[c[0] for c in VALUE_CASES])
def test_values_that_are_not_values(argv, expected, out, capsys):
    before = snapshot(out)
    argv = ["--task", "copy", *argv] if "--task" not in argv else argv
    assert main(["run", "--arch", "lstm", "--out", str(out), "--no-progress", *argv]) == 2
    check_one_line(capsys, expected)
    assert snapshot(out) == before


def test_lr_inf_in_a_toml_file_too(tmp_path, out, capsys):
    cfg = write(tmp_path, "c.toml", "[train]\nlr = inf\nweight_decay = 0.0\n")
    assert main(["run", "--config", str(cfg), "--out", str(out)]) == 2
    check_one_line(capsys, ["train.lr", "finite"])


@pytest.mark.parametrize("argv, expected", [
    (["--accelerator", "gpu"], ["train.accelerator=gpu needs a CUDA GPU", "use auto or cpu"]),
    (["--accelerator", "mps"], ["train.accelerator=mps needs Apple MPS"]),
    (["--precision", "16-mixed"], ["train.precision=16-mixed needs a GPU", "32-true or bf16-mixed"]),
], ids=["gpu-without-one", "mps-on-linux", "fp16-on-cpu"])
def test_the_machine_is_checked_before_any_cell(argv, expected, out, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusals under test are for a CPU-only machine")
    before = snapshot(out)
    assert main(["run", "--arch", "lstm", "--task", "copy", "--out", str(out), *argv]) == 2
    check_one_line(capsys, expected)
    assert snapshot(out) == before


def test_show_task_checks_its_seed_like_run_checks_seeds(capsys):
    assert main(["show-task", "copy", "--seed", "-1"]) == 2
    check_one_line(capsys, ["--seed", "0 or more"])


def test_show_task_bad_input(capsys):
    assert main(["show-task", "copyy"]) == 2
    check_one_line(capsys, ["Unknown task 'copyy'", "Did you mean 'copy'"])
    assert main(["show-task", "copy", "--n", "0"]) == 2
    check_one_line(capsys, ["--n must be at least 1"])
