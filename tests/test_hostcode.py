"""A cell id follows the host's computing code too (issue 22): an edit to training, evaluation, data, sizing or
decoding changes every id; an edit to publishing or the command line changes none."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import seqbench
import seqbench.plugins
import seqbench.tasks
from seqbench.cli import main
from seqbench.records import store
from seqbench.run import hostcode
from test_run import TINY



def _source_tree(dest: Path) -> Path:
    """A copy of the imported package laid out as an importable `seqbench` folder (bench/ with plugins/ and tasks/
    inside), so a subprocess can import the copy through PYTHONPATH."""
    root = dest / "seqbench"
    for part, target in ((seqbench, root), (seqbench.plugins, root / "plugins"), (seqbench.tasks, root / "tasks")):
        shutil.copytree(Path(part.__file__).parent, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _planned_ids(tree: Path) -> list[str]:
    """The cell ids `seqbench run --dry-run` plans when run from the copy in `tree`."""
    code = ("import sys, seqbench.cli; assert seqbench.cli.__file__.startswith(sys.argv[1]), seqbench.cli.__file__; "
            "sys.exit(seqbench.cli.main(sys.argv[2:]))")
    env = {**os.environ, "PYTHONPATH": str(tree), "SEQBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(tree), "run", "--profile", "quick", "--arch", "lstm,gpt",
                           "--task", "copy", "--seeds", "0,1", "--distance", "8", "--dry-run", "--out",
                           str(tree / "out")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ids = re.findall(r"^([0-9a-f]{16})  ", done.stdout, flags=re.M)
    assert len(ids) == 4, done.stdout
    return ids


def _edit(tree: Path, relative: str, old: str, new: str) -> None:
    path = tree / "seqbench" / relative
    text = path.read_text()
    assert old in text, f"{relative} no longer holds {old!r}: update this test"
    path.write_text(text.replace(old, new, 1))


def test_an_edit_to_training_code_changes_every_id_and_one_to_publishing_none(tmp_path):
    tree = _source_tree(tmp_path)
    before = _planned_ids(tree)
    _edit(tree, "publish/tables.py", "chance = chance-level token accuracy.", "chance = the chance level.")
    _edit(tree, "cli/__init__.py", 'help="every plugin, its source', 'help="all plugins, their source')
    assert _planned_ids(tree) == before  # publishing and the CLI's wording compute nothing
    _edit(tree, "run/module.py", "return 0.1 + 0.9 *", "return 0.2 + 0.8 *")  # the cosine floor 0.1 -> 0.2
    after = _planned_ids(tree)
    assert not set(after) & set(before)


def test_the_digest_covers_the_modules_that_compute_and_leaves_out_those_that_do_not():
    counted = hostcode.modules()
    for name in ("seqbench.run.module", "seqbench.run.data", "seqbench.run.measure", "seqbench.run.cell",
                 "seqbench.records.distance", "seqbench.run.config"):
        assert name in counted, name
    assert any(n.endswith(".sizing") for n in counted) and any(n.endswith(".beam") for n in counted)
    assert any(n.endswith(".generate") for n in counted)
    for name in counted:
        assert not name.startswith(("seqbench.publish", "seqbench.cli", "seqbench.plugins", "seqbench.tasks"))
        assert hostcode.excluded(name) is None
    assert hostcode.excluded("seqbench.publish.tables") and hostcode.excluded("seqbench.run.progress")


def test_every_module_left_out_says_why_and_exists():
    root = hostcode.package_root()
    for name, why in hostcode.NOT_COMPUTE.items():
        assert why and len(why) > 10, name
        parts = name.split(".")[1:]
        assert (root.joinpath(*parts).with_suffix(".py").is_file() or (root.joinpath(*parts) / "__init__.py")
                .is_file()), f"NOT_COMPUTE names {name}, which is no module: update it"


def test_the_digest_changes_with_a_counted_file_only(tmp_path):
    tree = _source_tree(tmp_path) / "seqbench"
    before = hostcode.digest(tree)
    assert before == hostcode.digest()  # named by module: the same wherever the package lies
    (tree / "publish" / "render.py").write_text("# edited\n")
    assert hostcode.digest(tree) == before
    data = tree / "run" / "data.py"
    data.write_text(data.read_text() + "\n# edited\n")
    assert hostcode.digest(tree) != before


def test_run_names_records_of_other_host_code_as_stale(tmp_path, capsys, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    args = ["run", "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    first = store.load_dir(out).records[0]
    assert first.plugins["host"].digest == hostcode.digest()
    other = hostcode.ref().model_copy(update={"digest": "0" * 16})
    monkeypatch.setattr(hostcode, "ref", lambda: other)
    capsys.readouterr()
    assert main([*args, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "1 records in" in err and "are stale" in err
    assert f"lstm/copy/d=2-6/seed=0: {first.cell_id} -> " in err
    assert f"host code changed (seqbench {seqbench.__version__} -> {seqbench.__version__}, digest " \
           f"{first.plugins['host'].digest} -> {'0' * 16})" in err


def test_a_record_without_a_host_digest_is_named_as_such(tmp_path):
    from seqbench.contract import registry
    from seqbench.records.schema import Record
    from seqbench.run import plan, resolve, sources, stale

    config = tmp_path / "c.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    assert main(["run", "--config", str(config), "--profile", "none", "--out", str(out), "--no-progress"]) == 0
    data = store.load_dir(out).records[0].to_dict()
    del data["plugins"]["host"]  # as seqbench wrote records before the host's code had a digest
    older = Record.model_validate(data)
    reg = registry.load(entry_points=False)
    cells, _ = plan.plan(resolve.resolve(sources.gather("none", str(config), {}, []), reg), reg)
    assert stale.what_changed(cells[0], older) == "host code: recorded without a digest of seqbench's own code"
