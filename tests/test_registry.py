"""The plugin registry: built-ins, entry points, command-line plugins, broken plugins, duplicates, unknown names."""

from __future__ import annotations

import io
import types
import zlib

import pytest

import seqbench
from seqbench.cli import main
from seqbench.contract import registry
from seqbench.contract.errors import UserError
from conftest import TOY_ARCH

BUILTIN_ARCHS = {"rnn", "lstm", "gru", "seq2seq", "seq2seq-attn", "transformer", "gpt"}
BUILTIN_TASKS = {"copy", "cloze", "translation"}


def test_builtins_register_through_the_hooks():
    reg = registry.load(entry_points=False)
    assert BUILTIN_ARCHS <= set(reg.archs)
    assert BUILTIN_TASKS <= set(reg.tasks)
    sources = {info.source for info in reg.plugins}
    assert sources == {"builtin"}
    assert all(info.status == "ok" for info in reg.plugins), [i.errors for i in reg.plugins]
    ref = reg.ref("architecture", "lstm")
    assert (ref.plugin, ref.version) == ("seqbench.plugins.recurrent", seqbench.__version__)
    assert ref.digest and ref == reg.ref("architecture", "gru")  # one module, one digest
    assert reg.ref("architecture", "gpt").digest != ref.digest
    assert reg.who("architecture", "lstm") == "architecture plugin 'lstm' (seqbench.plugins.recurrent)"


def test_entry_point_plugin_is_loaded_with_its_version(entry_point_dist):
    entry_point_dist("seqbench-toy", "1.2.3", "seqbench_toy_ep", TOY_ARCH.format(name="toy-ep"))
    reg = registry.load()
    assert "toy-ep" in reg.archs
    info = reg.owner[("architecture", "toy-ep")]
    assert (info.name, info.version, info.source) == ("seqbench-toy", "1.2.3", "entry point")


def test_entry_points_can_be_turned_off(entry_point_dist, monkeypatch):
    entry_point_dist("seqbench-toy2", "0.1", "seqbench_toy_ep2", TOY_ARCH.format(name="toy-ep2"))
    monkeypatch.setenv(registry.DISABLE_AUTOLOAD_ENV, "1")
    assert "toy-ep2" not in registry.load().archs


def test_command_line_plugin_file_identified_by_content_not_by_how_its_path_is_written(write_plugin, monkeypatch):
    path = write_plugin("myarch", TOY_ARCH.format(name="mine"))
    monkeypatch.chdir(path.parent)
    refs = []
    for spelling in ("myarch.py", "./myarch.py", str(path), f"../{path.parent.name}/myarch.py"):
        reg = registry.load([spelling], entry_points=False)
        info = reg.owner[("architecture", "mine")]
        assert (info.source, info.name) == ("command line", spelling)  # shown as written
        refs.append(reg.ref("architecture", "mine"))
    assert all(r == refs[0] for r in refs) and refs[0].plugin == "myarch" and refs[0].digest
    path.write_text(path.read_text() + "\n# edited\n")
    assert registry.load([str(path)], entry_points=False).ref("architecture", "mine").digest != refs[0].digest


def test_same_file_twice_loads_once(write_plugin, monkeypatch):
    path = write_plugin("twice", TOY_ARCH.format(name="twice"))
    monkeypatch.chdir(path.parent)
    err = io.StringIO()
    reg = registry.load(["twice.py", str(path)], entry_points=False, err=err)
    assert "twice" in reg.archs and "duplicate" not in err.getvalue()
    assert err.getvalue().strip() == (f"seqbench: plugin '{path}' (command line) is already loaded as command line "
                                      f"plugin 'twice.py'; not loaded twice")


@pytest.mark.parametrize("source, expected", [
    ("import not_a_module_anywhere\n", "could not load: ModuleNotFoundError"),
    ("raise RuntimeError('boom at import')\n", "could not load: RuntimeError: boom at import"),
    ("import seqbench\n@seqbench.hookimpl\ndef register_architectures(register):\n    raise ValueError('hook broke')\n",
     "hook register_architectures raised ValueError: hook broke"),
    ("import seqbench\n@seqbench.hookimpl\ndef register_architectures(register):\n    register('lstm')\n",
     "register() takes a ArchSpec, got str"),
    ("import seqbench\n@seqbench.hookimpl\ndef register_widgets(register):\n    pass\n", "could not load"),
    ("import sys\nsys.exit(3)\n", "could not load: SystemExit: it called sys.exit(3)"),
    ("import sys, seqbench\n@seqbench.hookimpl\ndef register_tasks(register):\n    sys.exit('bye')\n",
     "hook register_tasks raised SystemExit: it called sys.exit('bye')"),
])
def test_broken_installed_plugin_is_skipped_with_one_line(entry_point_dist, source, expected):
    entry_point_dist("seqbench-broken", "0.1", f"seqbench_broken_{zlib.crc32(source.encode())}", source)
    err = io.StringIO()
    reg = registry.load(err=err)
    assert {"lstm", "copy"} <= set(reg.archs) | set(reg.tasks)  # the host is still whole
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "plugin 'seqbench-broken' (entry point)" in lines[0] and expected in lines[0]
    # another installed plugin (the example package, say) may be there too: find ours by name
    info = [i for i in reg.plugins if i.source == "entry point" and i.name == "seqbench-broken"][0]
    assert info.status == "error" and not info.provides


@pytest.mark.parametrize("source, expected", [
    ("def f(:\n", "could not load: SyntaxError: "),
    ("import not_a_module_anywhere\n", "could not load: ModuleNotFoundError"),
    ("raise RuntimeError('boom at import')\n", "could not load: RuntimeError: boom at import"),
    ("import sys\nsys.exit(3)\n", "could not load: SystemExit: it called sys.exit(3)"),
    ("import sys, seqbench\n@seqbench.hookimpl\ndef register_tasks(register):\n    sys.exit('bye')\n",
     "hook register_tasks raised SystemExit: it called sys.exit('bye')"),
    ("import seqbench\n@seqbench.hookimpl\ndef register_architecture(register):\n    pass\n",
     "could not load: it implements hook 'register_architecture', which the contract does not have (hooks: "
     "register_architectures, register_tasks); did you mean 'register_architectures'?"),
])
@pytest.mark.parametrize("where", ["-p before the command", "-p after the command", "SEQBENCH_PLUGINS"])
def test_named_plugin_that_cannot_load_stops_the_command(write_plugin, monkeypatch, capsys, source, expected, where):
    path = write_plugin("broken", source)
    argv = {"-p before the command": ["-p", str(path), "list"], "-p after the command": ["list", "-p", str(path)],
            "SEQBENCH_PLUGINS": ["list"]}[where]
    if where == "SEQBENCH_PLUGINS":
        monkeypatch.setenv(registry.PLUGINS_ENV, str(path))
    assert main(argv) == 2
    out, err = capsys.readouterr()
    via = "SEQBENCH_PLUGINS" if where == "SEQBENCH_PLUGINS" else "-p"
    assert out == "" and err.startswith(f"seqbench: error: plugin '{path}' ({via}) {expected}")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["-p", "/nonexistent/plugin.py", "list"], ["list", "-p", "/nonexistent/plugin.py"],
                                  ["-p", "/nonexistent/plugin.py", "run", "--dry-run"],
                                  ["-p", "/nonexistent/plugin.py", "check-plugin", "lstm"]])
def test_dash_p_before_or_after_the_command_is_never_dropped(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == "seqbench: error: plugin file /nonexistent/plugin.py does not exist (-p takes a module name or a " \
                  "path to a .py file)\n"


def test_dash_p_before_the_command_loads_the_plugin(write_plugin, capsys):
    path = write_plugin("early", TOY_ARCH.format(name="early-bird"))
    assert main(["-p", str(path), "list"]) == 0
    assert "early-bird" in capsys.readouterr().out
    assert main(["-p", str(path), "run", "--arch", "early-bird", "--task", "copy", "--dry-run", "--out",
                 str(path.parent / "out")]) == 0
    assert "early-bird" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["table", "x"], ["plot", "x", "--out", "y"], ["merge", "x", "--out", "y"]])
def test_dash_p_for_a_command_that_loads_no_plugins_is_refused(write_plugin, command, capsys, tmp_path):
    path = write_plugin("unused", TOY_ARCH.format(name="unused"))
    assert main(["-p", str(path), *command]) == 2
    assert capsys.readouterr().err == (f"seqbench: error: -p {path}: seqbench {command[0]} reads records only and "
                                       f"loads no plugins; leave -p out\n")


@pytest.mark.parametrize("source, reason", [
    ("import seqbench\n", "registers nothing: no function marked @seqbench.hookimpl named register_architectures or "
                          "register_tasks (see seqbench.contract.hookspecs)"),
    (TOY_ARCH.format(name="unmarked").replace("    @seqbench.hookimpl\n", ""),
     "registers nothing: its register_architectures() is not marked @seqbench.hookimpl, so seqbench never calls it"),
    ("def register_task(register):\n    pass\n",
     "registers nothing: it has register_task(), not a hook of the contract; did you mean @seqbench.hookimpl def "
     "register_tasks(register)?"),
])
def test_plugin_that_registers_nothing_is_reported_by_name(write_plugin, capsys, source, reason):
    path = write_plugin("empty", source)
    assert main(["plugins", "-p", str(path)]) == 0
    out, err = capsys.readouterr()
    row = next(l for l in out.splitlines() if l.startswith(str(path)))
    assert row.split()[1:4] == ["unversioned", "command", "line"] and row.endswith(f"  -  empty: {reason}".split("  ")[-1])
    assert f"empty: {reason}" in row
    assert err == f"seqbench: plugin '{path}' (command line) {reason}\n"
    assert main(["check-plugin", "-p", str(path), "unmarked"]) == 2
    err = capsys.readouterr().err
    assert f"architecture or task 'unmarked' is not registered. Plugin '{path}' (command line) {reason}." in err


def test_hook_that_raises_after_registering_keeps_nothing(entry_point_dist):
    entry_point_dist("seqbench-half", "0.1", "seqbench_half_ep", TOY_ARCH.format(name="half-done").replace(
        "                          build=lambda ctx: Mixer(ctx.model.d_model)))",
        "                          build=lambda ctx: Mixer(ctx.model.d_model)))\n        raise KeyError('late')"))
    reg = registry.load(err=io.StringIO())
    assert "half-done" not in reg.archs and "lstm" in reg.archs


def test_duplicate_name_is_refused_naming_both_sources(write_plugin):
    path = write_plugin("dup", TOY_ARCH.format(name="lstm"))
    err = io.StringIO()
    reg = registry.load([str(path)], entry_points=False, err=err)
    message = err.getvalue()
    assert "duplicate architecture name 'lstm'" in message
    assert "builtin plugin 'seqbench.plugins.recurrent'" in message and str(path) in message
    assert reg.owner[("architecture", "lstm")].source == "builtin"  # the first one stays
    with pytest.raises(UserError) as e:  # but is not used: the user meant one of the two, seqbench cannot know which
        reg.arch("lstm")
    assert str(e.value) == (f"architecture 'lstm' is registered by builtin plugin 'seqbench.plugins.recurrent' and by "
                            f"command line plugin '{path}'; rename one")  # no entry point: autoload is no way out
    assert reg.arch("gru") is reg.archs["gru"]


def test_contested_name_is_refused_when_used_naming_both_plugins(write_plugin, entry_point_dist, monkeypatch, capsys,
                                                                tmp_path):
    # an installed package and a -p file both say "mine": the run would train whichever loaded first
    entry_point_dist("seqbench-mine", "2.0", "seqbench_mine_ep", TOY_ARCH.format(name="mine"))
    path = write_plugin("my_copy", TOY_ARCH.format(name="mine"))
    reg = registry.load([str(path)], err=io.StringIO())
    assert reg.owner[("architecture", "mine")].source == "entry point"
    with pytest.raises(UserError) as e:
        reg.arch("mine")
    assert str(e.value) == (f"architecture 'mine' is registered by entry point plugin 'seqbench-mine' and by command "
                            f"line plugin '{path}'; rename one, or leave installed packages out with "
                            f"{registry.DISABLE_AUTOLOAD_ENV}=1")
    assert reg.arch("lstm") is reg.archs["lstm"]  # the other names stay usable
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["run", "-p", str(path), "--arch", "mine", "--task", "copy", "--dry-run", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(str(e.value)) and "Traceback" not in "\n".join(err) and not out.exists()
    monkeypatch.setenv(registry.DISABLE_AUTOLOAD_ENV, "1")  # the way out the message names
    assert main(["run", "-p", str(path), "--arch", "mine", "--task", "copy", "--dry-run", "--out", str(out)]) == 0


def test_api_plugin_registers_and_unregisters_with_the_registry():
    module = types.ModuleType("throwaway")
    exec(compile(__import__("textwrap").dedent(TOY_ARCH.format(name="throwaway")), "throwaway", "exec"),
         module.__dict__)
    assert "throwaway" in registry.load(entry_points=False, plugins=[("throwaway", module)]).archs
    assert "throwaway" not in registry.load(entry_points=False).archs


def test_unknown_name_suggests_the_closest_and_lists_all():
    reg = registry.load(entry_points=False)
    with pytest.raises(UserError) as e:
        reg.arch("lstmm")
    assert str(e.value).startswith("Unknown architecture 'lstmm'. Did you mean 'lstm'? Available: ")
    assert all(name in str(e.value) for name in BUILTIN_ARCHS)
    with pytest.raises(UserError, match="Unknown task 'cpy'. Did you mean 'copy'"):
        reg.task("cpy")


SPEC = "import seqbench\nfrom seqbench.contract.specs import ArchSpec, TaskSpec\n{imports}\n" \
       "@seqbench.hookimpl\ndef register_architectures(register):\n    register({spec})\n" \
       "    register(ArchSpec('fine', 'kept', 'mixer', lambda ctx: None))\n"


@pytest.mark.parametrize("spec, imports, expected", [
    ("ArchSpec('typo-kind', 'x', 'mixr', lambda ctx: None)", "",
     "architecture 'typo-kind': kind 'mixr' is not one of seq2seq, causal_lm, mixer"),
    ("ArchSpec('has.dot', 'x', 'mixer', lambda ctx: None)", "", "architecture name 'has.dot' refused"),
    ("ArchSpec('', 'x', 'mixer', lambda ctx: None)", "", "architecture name '' refused"),
    ("ArchSpec('no-build', 'x', 'mixer', None)", "", "build must be callable"),
    ("ArchSpec('opts', 'x', 'mixer', lambda ctx: None, options=dict)", "", "options must be a dataclass class"),
    ("ArchSpec('opts2', 'x', 'mixer', lambda ctx: None, options=Needs)",
     "from dataclasses import dataclass\n@dataclass(frozen=True)\nclass Needs:\n    width: int\n",
     "its options must build with their defaults; Needs() raised"),
    ("ArchSpec('wm', 'x', 'mixer', lambda ctx: None, width_multiple=0)", "", "width_multiple must be a positive"),
])
def test_invalid_spec_is_refused_at_registration(write_plugin, capsys, spec, imports, expected):
    path = write_plugin("badspec", SPEC.format(spec=spec, imports=imports))
    reg = registry.load([str(path)], entry_points=False, err=io.StringIO())
    info = next(i for i in reg.plugins if i.source == "command line")
    assert info.status == "error" and len(info.errors) == 1 and expected in info.errors[0]
    assert info.provides == ["architecture:fine"]  # the valid spec beside it is kept

    assert main(["plugins", "-p", str(path)]) == 0  # `plugins` shows the truth, not "ok"
    line = next(l for l in capsys.readouterr().out.splitlines() if "badspec" in l)
    assert "error: " in line and expected in line


@pytest.mark.parametrize("name, default_distances, expected", [
    ("distance", ("10",), "task name 'distance' refused"),
    ("no-distances", (), "default_distances must be a tuple of distance settings"),
    ("bad-distance", ("far",), "default_distances must be a tuple of distance settings"),
])
def test_invalid_task_spec_is_refused(write_plugin, name, default_distances, expected):
    path = write_plugin("badtask", f"""
        import seqbench
        from seqbench.contract.specs import TaskSpec

        @seqbench.hookimpl
        def register_tasks(register):
            register(TaskSpec({name!r}, "x", lambda o, d: None, default_distances={default_distances!r}))
    """)
    reg = registry.load([str(path)], entry_points=False, err=io.StringIO())
    info = next(i for i in reg.plugins if i.source == "command line")
    assert name not in reg.tasks and info.status == "error" and expected in info.errors[0]


@pytest.mark.parametrize("spec, expected", [
    ("no_such_file.py", "plugin file no_such_file.py does not exist"),
    ("sub/dir/plugin.py", "plugin file sub/dir/plugin.py does not exist"),
    ("no_such_module_anywhere", "no plugin module named 'no_such_module_anywhere'"),
    ("no_such_package.sub", "no plugin module named 'no_such_package.sub'"),
])
def test_missing_plugin_is_a_typo_refused(spec, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=expected):
        registry.load([spec], entry_points=False)

    assert main(["run", "-p", spec, "--dry-run", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and not (tmp_path / "o").exists()


def test_dash_p_for_an_installed_entry_point_says_so_in_one_line(entry_point_dist):
    entry_point_dist("seqbench-toy3", "0.2", "seqbench_toy_ep3", TOY_ARCH.format(name="toy-ep3"))
    err = io.StringIO()
    reg = registry.load(["seqbench_toy_ep3"], err=err)
    assert "toy-ep3" in reg.archs and reg.owner[("architecture", "toy-ep3")].source == "entry point"
    lines = err.getvalue().strip().splitlines()
    assert lines == ["seqbench: plugin 'seqbench_toy_ep3' (command line) is already loaded as entry point plugin "
                     "'seqbench-toy3'; not loaded twice"]
