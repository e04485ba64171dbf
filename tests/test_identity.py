"""A cell id follows the code: a digest of the plugin's source files is part of it (issue 15)."""

from __future__ import annotations

from pathlib import Path

from seqbench.cli import main
from seqbench.contract import identity, registry
from seqbench.run import plan, resolve
from conftest import TOY_ARCH

ALL_ARCHS = ["rnn", "lstm", "gru", "seq2seq", "seq2seq-attn", "transformer", "gpt"]


def planned_ids() -> dict[tuple[str, str], str]:
    """(arch, task) -> cell id of a small matrix of every built-in architecture on every built-in task."""
    reg = registry.load(entry_points=False)
    raw = {"matrix": {"archs": ALL_ARCHS, "tasks": ["copy", "cloze"], "distances": ["8"]},
           "model": {"d_model": 8, "n_layers": 1}}
    cells, _ = plan.plan(resolve.resolve(raw, reg), reg)
    return {(c.arch, c.task): c.cell_id for c in cells}


def test_editing_a_builtin_plugin_changes_its_cells_ids_and_nothing_else(monkeypatch):
    before = planned_ids()
    read = identity._read

    def edited(path: Path) -> bytes:  # plugins/recurrent.py as if someone added a line to it
        extra = b"\n# a LayerNorm before the head\n" if path.name == "recurrent.py" else b""
        return read(path) + extra

    monkeypatch.setattr(identity, "_read", edited)
    after = planned_ids()
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {(a, t) for a in ("rnn", "lstm", "gru") for t in ("copy", "cloze")}


def test_a_shared_private_module_counts_for_every_plugin_that_imports_it(monkeypatch):
    before = planned_ids()
    read = identity._read
    monkeypatch.setattr(identity, "_read", lambda p: read(p) + (b"\n#\n" if p.name == "_rnn.py" else b""))
    after = planned_ids()
    changed = {a for (a, _), cid in before.items() if after[(a, _)] != cid}
    assert changed == {"rnn", "lstm", "gru", "seq2seq", "seq2seq-attn"}


def test_source_files_follow_imports_inside_the_own_package():
    import seqbench.plugins.seq2seq as s2s
    import seqbench.tasks.translation as tr

    assert set(identity.source_files(s2s)) == {"seqbench.plugins.seq2seq", "seqbench.plugins._rnn"}
    assert {"seqbench.tasks.translation", "seqbench.tasks._corpus", "seqbench.tasks._grammar"} <= set(
        identity.source_files(tr))
    assert not any(n.startswith("seqbench.contract") for n in identity.source_files(tr))


def test_dry_run_ids_do_not_depend_on_how_a_plugin_path_is_written(write_plugin, monkeypatch, capsys):
    path = write_plugin("my_mixer", TOY_ARCH.format(name="toy"))
    monkeypatch.chdir(path.parent)
    ids = []
    for spelling in ("my_mixer.py", "./my_mixer.py", str(path)):
        assert main(["run", "-p", spelling, "--arch", "toy", "--task", "copy", "--distance", "5",
                     "--set", "model.d_model=8", "--dry-run"]) == 0
        ids.append(capsys.readouterr().out.split()[0])
    assert len(set(ids)) == 1
