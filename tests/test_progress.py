"""What a run says while it runs: the plain-text lines and their time left."""

from __future__ import annotations

import io

import pytest

from seqbench.run import progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progress.time, "monotonic", c)
    return c


class Finished:
    """The part of a Record that Display reads."""

    def __init__(self, arch: str) -> None:
        self.status, self.arch, self.task, self.distance, self.error = "failed", arch, "copy", "8", None
        self.metrics = None


def test_time_left_counts_down_while_a_cell_runs(clock):
    err = io.StringIO()
    shown = progress.Display(3, 1, {("a", "copy"): 1, ("b", "copy"): 1, ("c", "copy"): 1}, err=err, live=False)
    assert shown.eta() is None  # nothing finished: no estimate
    shown.start("a", "a/copy", 10)
    clock.now += 600
    shown.finish("a", Finished("a"), 600.0)
    shown.start("b", "b/copy", 10)
    assert shown.eta() == pytest.approx(1200)  # two cells of 600 s left, one at a time
    clock.now += 450
    assert shown.eta() == pytest.approx(750)  # the running one has had 450 s of its 600
    clock.now += 300
    assert shown.eta() == pytest.approx(600)  # overdue: counted as almost done, never negative
    shown.heartbeat()
    assert err.getvalue().splitlines()[-1] == "seqbench: [1/3] cells done, elapsed 0:22:30, about 0:10:00 left"


def test_time_left_shares_the_work_over_the_slots(clock):
    shown = progress.Display(4, 2, {("a", "copy"): 4}, err=io.StringIO(), live=False)
    for key in ("a0", "a1"):
        shown.start(key, key, 10)
    clock.now += 100
    shown.finish("a0", Finished("a"), 100.0)
    shown.start("a2", "a2", 10)
    # left: a1 (100 s, has had 100), a2 (100 s, has had 0), a3 (100 s): 200 s of work over two slots
    assert shown.eta() == pytest.approx(100)


def test_a_cell_keeps_its_number_from_start_to_end(clock):
    """Cells finish out of order when several run at once: each line about a cell carries the number it started
    with (it said `[2/2] b: training`, then `[1/2] b: FAILED`)."""
    err = io.StringIO()
    shown = progress.Display(2, 2, {("a", "copy"): 1, ("b", "copy"): 1}, err=err, live=False, verbose=True)
    shown.start("a", "a/copy", 10)
    shown.start("b", "b/copy", 10)
    shown.finish("b", Finished("b"), 5.0)
    shown.finish("a", Finished("a"), 6.0)
    lines = [l for l in err.getvalue().splitlines() if "/copy:" in l]
    assert [l.split(": ", 2)[1] for l in lines] == ["[1/2] a/copy", "[2/2] b/copy", "[2/2] b/copy", "[1/2] a/copy"]
    assert "training" in lines[1] and "FAILED" in lines[2]


def test_a_translation_row_is_announced_by_its_sacrebleu_and_copy_by_token_accuracy(clock):
    """Issue 25: positional token accuracy is no headline for translation, in the log either."""
    from _records import make_record

    err = io.StringIO()
    rows = {("seq2seq", "translation"): 2, ("lstm", "copy"): 1}
    shown = progress.Display(3, 1, rows, err=err, live=False, verbose=True)
    cells = [("t0", make_record("seq2seq", "translation", distance="5-60", seed=0, overall={"sacrebleu": 60.0})),
             ("t1", make_record("seq2seq", "translation", distance="5-60", seed=1, overall={"sacrebleu": 63.0})),
             ("c0", make_record("lstm", "copy", distance=8, acc=0.5))]
    for key, record in cells:
        shown.start(key, key, 10)
        shown.finish(key, record, 1.0)
    lines = err.getvalue().splitlines()
    assert any("t0: sacreBLEU=60.00" in line for line in lines)
    assert any(line.endswith("seq2seq on translation done: sacreBLEU by distance 5-60: 61.5") for line in lines)
    assert any(line.endswith("lstm on copy done: token_acc by distance 8: 0.50") for line in lines)
    assert progress.headline(make_record("lstm", status="oom")) is None
