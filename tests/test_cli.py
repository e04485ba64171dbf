"""The command line, called as `main([...])`: list, plugins, show-task, dry runs and one-line errors."""

from __future__ import annotations


from seqbench.cli import main
from conftest import TOY_ARCH


def test_list_shows_every_architecture_and_task(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("rnn", "lstm", "gru", "seq2seq", "seq2seq-attn", "transformer", "gpt", "copy", "cloze",
                 "translation"):
        assert f"  {name} " in out


def test_plugins_lists_sources_and_errors(write_plugin, entry_point_dist, capsys):
    good = write_plugin("goodplug", TOY_ARCH.format(name="toy-mixer"))
    entry_point_dist("seqbench-badplug", "0.3", "seqbench_badplug", "raise ImportError('missing dependency xyz')\n")
    assert main(["plugins", "-p", str(good)]) == 0  # an installed plugin that cannot load is shown, and skipped
    captured = capsys.readouterr()
    assert "seqbench.plugins.recurrent" in captured.out and "builtin" in captured.out
    line = [l for l in captured.out.splitlines() if "goodplug" in l][0]
    assert "command line" in line and "architecture:toy-mixer" in line and line.rstrip().endswith("ok")
    bad = [l for l in captured.out.splitlines() if "badplug" in l][0]
    assert "entry point" in bad and "error: could not load: ImportError: missing dependency xyz" in bad
    assert "missing dependency xyz" in captured.err  # one line on stderr too


def test_unknown_architecture_exits_2_with_one_line(capsys, tmp_path):
    assert main(["run", "--arch", "lstmm", "--task", "copy", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "Unknown architecture 'lstmm'. Did you mean 'lstm'? Available: " in err[0]
    assert not (tmp_path / "o").exists()


def test_show_task_prints_examples(capsys):
    assert main(["show-task", "copy", "--n", "2", "--distance", "5"]) == 0
    out = capsys.readouterr().out
    assert out.count("source:") == 2 and out.count("distance: 5") == 2


def test_dry_run_lists_cells_without_training(capsys, tmp_path):
    code = main(["run", "--arch", "lstm,gru", "--task", "copy", "--seeds", "0,1", "--distance", "10,20",
                 "--params", "20000", "--dry-run", "--out", str(tmp_path / "o")])
    assert code == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if l.strip()]
    assert len(lines) == 2 * 2 * 2
    assert not (tmp_path / "o" / "records").exists()


def test_python_dash_m_seqbench_runs(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "seqbench", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("seqbench ")


def test_distance_flag_replaces_the_profiles_per_task_distances(capsys, tmp_path):
    assert main(["run", "--arch", "lstm", "--task", "copy,cloze", "--distance", "12", "--seeds", "0",
                 "--dry-run", "--out", str(tmp_path / "o")]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if l.strip()]
    assert len(lines) == 2 and all(" d=12 " in l for l in lines)
    assert {l.split()[2] for l in lines} == {"copy", "cloze"}
