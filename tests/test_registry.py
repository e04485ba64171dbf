"""The plugin registry: built-ins, entry points, command-line plugins, broken plugins, duplicates, unknown names."""

from __future__ import annotations

import io
import types

import pytest

import seqbench
from seqbench.contract import registry
from seqbench.contract.errors import UserError
from seqbench.contract.specs import ArchSpec
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
    assert reg.version_of("architecture", "lstm") == f"seqbench.plugins.recurrent=={seqbench.__version__}"


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


def test_command_line_plugin_file_versioned_by_content(write_plugin):
    path = write_plugin("myarch", TOY_ARCH.format(name="mine"))
    reg = registry.load([str(path)], entry_points=False)
    info = reg.owner[("architecture", "mine")]
    assert info.source == "command line" and info.version.startswith("file-")
    path.write_text(path.read_text() + "\n# edited\n")
    assert registry.load([str(path)], entry_points=False).owner[("architecture", "mine")].version != info.version


@pytest.mark.parametrize("source, expected", [
    ("import not_a_module_anywhere\n", "could not load: ModuleNotFoundError"),
    ("raise RuntimeError('boom at import')\n", "could not load: RuntimeError: boom at import"),
    ("import seqbench\n@seqbench.hookimpl\ndef register_architectures(register):\n    raise ValueError('hook broke')\n",
     "hook register_architectures raised ValueError: hook broke"),
    ("import seqbench\n@seqbench.hookimpl\ndef register_architectures(register):\n    register('lstm')\n",
     "register() takes a ArchSpec, got str"),
    ("import seqbench\n@seqbench.hookimpl\ndef register_widgets(register):\n    pass\n", "could not load"),
])
def test_broken_plugin_is_skipped_with_one_line(write_plugin, source, expected):
    path = write_plugin("broken", source)
    err = io.StringIO()
    reg = registry.load([str(path)], entry_points=False, err=err)
    assert {"lstm", "copy"} <= set(reg.archs) | set(reg.tasks)  # the host is still whole
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "plugin" in lines[0] and str(path) in lines[0] and expected in lines[0]
    info = [i for i in reg.plugins if i.source == "command line"][0]
    assert info.status == "error" and not info.provides


def test_hook_that_raises_after_registering_keeps_nothing(write_plugin):
    path = write_plugin("half", TOY_ARCH.format(name="half-done").replace(
        "                          build=lambda ctx: Mixer(ctx.model.d_model)))",
        "                          build=lambda ctx: Mixer(ctx.model.d_model)))\n        raise KeyError('late')"))
    reg = registry.load([str(path)], entry_points=False, err=io.StringIO())
    assert "half-done" not in reg.archs


def test_duplicate_name_is_refused_naming_both_sources(write_plugin):
    path = write_plugin("dup", TOY_ARCH.format(name="lstm"))
    err = io.StringIO()
    reg = registry.load([str(path)], entry_points=False, err=err)
    message = err.getvalue()
    assert "duplicate architecture name 'lstm'" in message
    assert "builtin plugin 'seqbench.plugins.recurrent'" in message and str(path) in message
    assert reg.owner[("architecture", "lstm")].source == "builtin"  # the first one stays


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


def test_spec_must_be_the_right_type():
    assert ArchSpec("x", "y", "mixer", lambda ctx: None).uses_heads is False
