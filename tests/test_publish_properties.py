"""Property: any mutation of a valid record is either accepted and rendered by `table`, `plot` and `report`, or
rejected by name (a warning naming the file and the field): never a traceback.

The default profile tries a few dozen mutations in the normal run; `-m slow` tries many more."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _records import make_record
from seqbench.cli import main
from seqbench.publish.cli import printable
from seqbench.records import store

BASE = make_record("lstm", "copy", distance="2-8", seed=0, bins=[(2, 3), (4, 8)], acc=[0.9, 0.4], n=20,
                   history=[{"step": 10, "val_loss": 1.0, "val_acc": 0.5, "time_s": 1.0}])
OTHER = make_record("gru", "copy", distance="2-8", seed=0, bins=[(2, 3), (4, 8)], acc=[0.8, 0.7], n=20)

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def paths(data, prefix=()):
    """Every path to a value inside the record's JSON data."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield prefix + (key,)
        yield from paths(value, prefix + (key,))


ALL_PATHS = list(paths(BASE.to_dict()))


@st.composite
def mutated(draw):
    data = copy.deepcopy(BASE.to_dict())
    path = draw(st.sampled_from(ALL_PATHS))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(VALUES)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=6))] = draw(VALUES)
    else:
        parent.append(draw(VALUES))
    return data


def publish(folder: Path, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def check(data: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "res"
        store.save(folder, OTHER)
        name = f"{BASE.cell_id}.json"
        text = json.dumps(data)
        (folder / "records" / name).write_text(text, encoding="utf-8")
        try:
            record = store.read(folder / "records" / name)
        except store.BadRecord as e:
            record, reason = None, str(e)
        code, out, err = publish(folder, ["table", str(folder)])
        assert code == 0, err
        if record is None:  # rejected by name: the file and the field
            (warning,) = err.rstrip("\n").split("\n")  # one line, whatever the field's name holds
            assert warning == f"warning: skipped {printable(reason)}" and name in warning and ": " in reason
            assert "gru" in out
            return
        assert err == ""
        if record.arch.split():  # an architecture named by spaces alone prints as blank: nothing to look for
            assert record.arch.split()[0] in out
        code, _, err = publish(folder, ["plot", str(folder), "--out", str(Path(tmp) / "plots"), "--format", "png"])
        assert code == 0, err
        code, _, err = publish(folder, ["report", str(folder)])
        assert code == 0, err
        assert (folder / "report" / "report.html").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_record_is_rendered_or_rejected_by_name(data):
    check(data)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_record_is_rendered_or_rejected_by_name_many(data):
    check(data)
