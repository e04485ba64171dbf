"""One source of truth for names (issue 22): every record column that the publishing code reads is declared in the
record schema, the runner writes only declared names, and no test asserts something that cannot fail."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import pydantic
import pytest

import seqbench
from seqbench.contract import registry
from seqbench.contract.specs import Distance
from seqbench.publish import tables
from seqbench.publish.render import details_caption, details_cells
from seqbench.records import schema
from seqbench.records.schema import MEMORY_KINDS, TEXT_METRICS, Record
from _records import real_record

BENCH = Path(seqbench.__file__).parent
TESTS = Path(__file__).parent
COLUMN = re.compile(r"^(bin|metrics|throughput|times|env|error)\.[a-z0-9_.]*[a-z0-9_]$")  # a record column (not
# the head of an f-string such as f"metrics.overall.{m}", whose names come from the schema's declarations)
FREE = ("env.",)  # `Env` keeps further keys (a GPU's driver...) as text


def _models(annotation) -> list[type[pydantic.BaseModel]]:
    """The pydantic models inside an annotation: `Optional[Bin]`, `list[Bin]`, `Bin`."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def declared_columns() -> set[str]:
    """Every flattened column (`throughput.train_tokens_per_s`, `bin.sacrebleu`...) a valid record can hold."""
    out: set[str] = set()

    def walk(model: type[pydantic.BaseModel], prefix: str) -> None:
        for name, f in model.model_fields.items():
            inner = _models(f.annotation)
            is_list = typing.get_origin(f.annotation) is list
            if inner and not is_list:
                walk(inner[0], f"{prefix}{name}.")
            out.add(f"{prefix}{name}")
        if issubclass(model, schema._Scores):
            out.update(f"{prefix}{m}{end}" for m in TEXT_METRICS for end in ("", *schema.TEXT_INTERVAL))

    walk(Record, "")
    walk(schema.Bin, "bin.")
    out.update(f"metrics.text_signatures.{m}" for m in TEXT_METRICS)
    return out


def literals(folder: Path) -> list[tuple[str, int, str]]:
    """(file, line, text) of every string constant in the modules of `folder` that names a record column."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and COLUMN.match(node.value):
                found.append((str(path.relative_to(BENCH)), node.lineno, node.value))
    return found


def test_every_record_column_the_publishing_code_reads_is_declared_in_the_schema():
    declared = declared_columns()
    used = literals(BENCH / "publish")
    assert len(used) > 20  # the scan finds the names: throughput.*, metrics.*, bin.*
    unknown = [(f, line, name) for f, line, name in used if name not in declared and not name.startswith(FREE)]
    assert not unknown, f"names the record schema does not declare: {unknown}"


def test_the_scan_catches_a_misspelt_name():
    assert "throughput.peak_memory_mb" in declared_columns()
    assert "throughput.peak_memory" not in declared_columns() and "metrics.overall.bleu" not in declared_columns()
    assert "metrics.overall.sacrebleu" in declared_columns() and "bin.chrf2" in declared_columns()


def test_every_builtin_task_reports_only_declared_text_metrics():
    reg = registry.load(entry_points=False)
    seen = set()
    for name in reg.tasks:
        spec = reg.task(name)
        task = spec.build(spec.options(), Distance.parse(spec.default_distances[0]))
        names = set(task.text_metrics()) | set(task.binned_text_metrics())
        assert names <= set(TEXT_METRICS), (name, names - set(TEXT_METRICS))
        seen |= names
    assert {"sacrebleu", "chrf2"} <= seen


def test_every_memory_kind_has_a_header_and_a_meaning():
    assert set(tables.MEMORY_HEADERS) == set(MEMORY_KINDS) == set(tables.MEMORY)
    assert set(typing.get_args(schema.MemoryKind)) == set(MEMORY_KINDS)
    with pytest.raises(pydantic.ValidationError, match="memory_kind"):
        Record.model_validate({**real_record("copy"), "throughput": {"memory_kind": "cell_peak_rss"}})


def test_a_real_records_memory_kind_names_its_column_and_caption():
    record = Record.model_validate(real_record("copy"))
    (t,) = tables.task_tables([record])
    headers, _ = details_cells(t)
    kind = record.throughput.memory_kind
    assert tables.MEMORY_HEADERS[kind] in headers and MEMORY_KINDS[kind] in details_caption(t)
    assert f"{kind}: {kind}" not in details_caption(t)


def test_translation_tables_show_sacrebleu_and_chrf_from_real_records():
    data = real_record("translation")
    record = Record.model_validate(data)
    assert set(record.metrics.text_metrics) == {"sacrebleu", "chrf2"}
    (t,) = tables.task_tables([record])
    headers, rows = details_cells(t)
    for name, label in (("sacrebleu", "sacreBLEU"), ("chrf2", "chrF2")):
        assert label in headers and label in t.texts
        assert rows[0][headers.index(label)] == f"{data['metrics']['overall'][name]:.1f}"
    assert "mean sacreBLEU, chrF2 over ok cells" in details_caption(t)


def _cannot_fail(test: ast.expr) -> bool:
    """An assertion that holds whatever it checks: `x or True`, `x if c else True`, `True`."""
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        return any(_cannot_fail(v) for v in test.values)
    if isinstance(test, ast.IfExp):
        return _cannot_fail(test.body) or _cannot_fail(test.orelse)
    return False


def test_no_test_asserts_something_that_cannot_fail():
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert) and _cannot_fail(node.test):
                found.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert not found, f"assertions that cannot fail: {found}"


@pytest.mark.parametrize("source, bad", [("assert x or True", True), ("assert a if c else True", True),
                                         ("assert True", True), ("assert x or y", False), ("assert x", False),
                                         ("assert (a if c else b) == 1", False)])
def test_the_scan_for_assertions_that_cannot_fail(source, bad):
    assert _cannot_fail(ast.parse(source).body[0].test) is bad

