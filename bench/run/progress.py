"""What a matrix run says while it runs, on stderr only (stdout carries results).

In a terminal: a live display, one bar per running cell and a matrix line with elapsed time and ETA (rich).
Elsewhere (a log file, CI): plain lines, one per event that matters: the start, each finished row (an
architecture on a task, with its accuracy per distance), each cell that is not ok, a heartbeat every minute, and
the end. `--verbose` adds a line per cell.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from typing import Any, TextIO

from seqbench.records.schema import TEXT_METRICS, Record


def headline(record: Record) -> tuple[str, float, int] | None:
    """(name, value, decimals) of the number a finished ok cell is announced by: sacreBLEU for a task scored by
    text metrics (positional token accuracy is no headline for translation), else token accuracy."""
    whole = record.metrics.overall if record.status == "ok" else None
    if whole is None:
        return None
    for name in TEXT_METRICS:  # sacreBLEU first
        value = getattr(whole, name, None) if name in (record.metrics.text_metrics or []) else None
        if value is not None:
            return TEXT_METRICS[name], float(value), 1
    return "token_acc", float(whole.token_acc), 2

HEARTBEAT_S = 60.0


def hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Display:
    """Progress of one matrix run. `total` cells to run, `slots` at a time; `rows` counts cells per (arch, task)."""

    def __init__(self, total: int, slots: int, rows: dict[tuple[str, str], int], *, err: TextIO | None = None,
                 live: bool | None = None, verbose: bool = False) -> None:
        self.err = err if err is not None else sys.stderr
        self.total, self.slots, self.verbose = total, slots, verbose
        self.rows_left = dict(rows)
        self.row_scores: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.row_names: dict[tuple[str, str], tuple[str, int]] = {}  # row -> (what its scores are, decimals)
        self.done, self.spent, self.begun = 0, 0.0, 0
        self.started = time.monotonic()
        self.last_line = self.started
        self.names: dict[str, str] = {}
        self.index: dict[str, int] = {}  # key -> the cell's number, given when it starts
        self.running: dict[str, float] = {}  # key -> when the cell started (monotonic s)
        use_live = live if live is not None else (hasattr(self.err, "isatty") and self.err.isatty())
        self.live = _Live(self.err, total) if use_live and total else None

    # --- events ------------------------------------------------------------------------------------------------

    def skipped(self, name: str, why: str) -> None:
        if self.verbose:
            self._line(f"{name}: {why}")

    def start(self, key: str, name: str, params: int) -> None:
        self.names[key] = name
        self.running[key] = time.monotonic()
        self.begun += 1
        self.index[key] = self.begun  # the cell's number in every line about it, from its start to its end
        if self.live:
            self.live.add(key, name)
        if self.verbose:
            self._line(f"[{self.begun}/{self.total}] {name}: training ({params} parameters)")

    def progress(self, event: dict[str, Any]) -> None:
        if self.live and event.get("cell") in self.names:
            self.live.update(event["cell"], event["step"], event["max_steps"], event.get("val_acc"))
        self.heartbeat()

    def finish(self, key: str, record: Record, seconds: float) -> None:
        name = self.names.pop(key, key)
        self.running.pop(key, None)
        self.done += 1
        number = self.index.pop(key, None) or self.done  # a cell that never started (planned as failed): in order
        self.spent += seconds
        if self.live:
            self.live.remove(key)
            self.live.advance(self.eta())
        said = headline(record)
        score = (f"{said[0]}={said[1]:.{said[2] + 1}f}" if said is not None
                 else f"{record.status.upper()}: {record.error.message if record.error else ''}")
        if record.status != "ok" or self.verbose:
            self._line(f"[{number}/{self.total}] {name}: {score} ({seconds:.1f} s)")
        row = (record.arch, record.task)
        if said is not None:
            self.row_names[row] = said[0], said[2]
            self.row_scores[row][record.distance].append(said[1])
        if row in self.rows_left:
            self.rows_left[row] -= 1
            if self.rows_left[row] == 0:
                self._row_done(row)

    def heartbeat(self) -> None:
        now = time.monotonic()
        if not self.live and now - self.last_line >= HEARTBEAT_S:
            self._line(self.status())

    def close(self) -> None:
        if self.live:
            self.live.stop()
            self.live = None

    # --- text ----------------------------------------------------------------------------------------------------

    def eta(self) -> float | None:
        """Seconds left: the cells not finished at the mean time of those finished, less what the running ones
        have already had (each counted up to that mean), shared over the slots."""
        if not self.done:
            return None
        mean = self.spent / self.done
        now = time.monotonic()
        had = sum(min(now - t0, mean) for t0 in self.running.values())
        return max(0.0, mean * (self.total - self.done) - had) / max(1, self.slots)

    def status(self) -> str:
        eta = self.eta()
        return (f"[{self.done}/{self.total}] cells done, elapsed {hms(time.monotonic() - self.started)}"
                + (f", about {hms(eta)} left" if eta is not None else ""))

    def _row_done(self, row: tuple[str, str]) -> None:
        from seqbench.records.distance import sort_key

        scores = self.row_scores.get(row, {})
        name, digits = self.row_names.get(row, ("token_acc", 2))
        text = ", ".join(f"{d}: {sum(v) / len(v):.{digits}f}"
                         for d, v in sorted(scores.items(), key=lambda kv: sort_key(kv[0])))
        self._line(f"{self.status()} | {row[0]} on {row[1]} done: {name} by distance {text or '(none ok)'}")

    def _line(self, text: str) -> None:
        self.last_line = time.monotonic()
        if self.live:
            self.live.print(text)
        else:
            print(f"seqbench: {text}", file=self.err, flush=True)


class _Live:
    """The terminal display: a matrix bar with ETA, and a bar per running cell."""

    def __init__(self, err: TextIO, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(file=err)
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("{task.fields[note]}"), console=self.console,
                             transient=True)
        self.matrix = self.bars.add_task("matrix", total=total, note="")
        self.cells: dict[str, Any] = {}
        self.bars.start()

    def add(self, key: str, name: str) -> None:
        self.cells[key] = self.bars.add_task(f"  {name}", total=None, note="")

    def update(self, key: str, step: int, total: int, val_acc: float | None) -> None:
        note = f"val_acc {val_acc:.3f}" if val_acc is not None else None
        self.bars.update(self.cells[key], completed=step, total=total, **({"note": note} if note else {}))

    def remove(self, key: str) -> None:
        if key in self.cells:
            self.bars.remove_task(self.cells.pop(key))

    def advance(self, eta: float | None) -> None:
        self.bars.update(self.matrix, advance=1, note="" if eta is None else f"about {hms(eta)} left")

    def print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        self.bars.stop()
