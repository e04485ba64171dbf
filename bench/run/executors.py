"""Where cells run: in this process, or each in its own process, several at once.

An executor takes jobs (one cell each, picklable) and hands back records; it never writes records or holds locks
(the runner does), so every executor gives the same resume, lock and failure behaviour.

- `InProcess` runs each cell in the calling process, one after another (`--jobs 0`; what `--debug` wants).
- `LocalProcesses` runs each cell in a fresh process forked from a server that has imported torch and Lightning
  once (`multiprocessing`'s forkserver), so a cell starts in milliseconds, its peak memory is its own, a plugin that
  crashes the interpreter takes down only its cell, and several cells run at once, threads divided between them.
"""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_any
from typing import Any, Callable

import torch

from seqbench.contract import registry
from seqbench.records.schema import Record
from seqbench.run import measure, ranks
from seqbench.run.cell import CellInputs, run_cell
from seqbench.run.plan import device_type
from seqbench.run.processes import WorkerDied, die_with_parent, ended


@dataclass(frozen=True)
class PluginLoad:
    """How a worker loads the same registry as the runner: the same `-p` plugins, environment and import path."""

    extra: tuple[str, ...]  # `-p` values
    env_plugins: str  # $SEQBENCH_PLUGINS as the runner saw it
    entry_points: bool  # whether installed entry points load
    sys_path: tuple[str, ...]
    cwd: str

    @classmethod
    def here(cls, extra: tuple[str, ...] | list[str]) -> "PluginLoad":
        """As the runner loads plugins now: its `-p` values, environment, import path and working folder."""
        return cls(tuple(extra), os.environ.get(registry.PLUGINS_ENV, ""), registry.autoload(), tuple(sys.path),
                   os.getcwd())


@dataclass(frozen=True)
class Job:
    """One cell to run, with what a fresh process needs to run it. The cell's inputs travel pickled and are
    unpickled only after the plugins are loaded, since they may hold a plugin's own classes (a task, options)."""

    payload: bytes  # pickle of CellInputs
    load: PluginLoad
    threads: int  # torch CPU threads for this cell (for each of its ranks)
    devices: int = 1  # devices (ranks) that train the cell together
    gpus: int = 0  # GPUs the cell needs: `devices` when it runs on CUDA, else 0
    visible: tuple[int, ...] = ()  # the GPUs an executor gave it (CUDA_VISIBLE_DEVICES); () leaves them as they are

    @classmethod
    def of(cls, inputs: CellInputs, load: PluginLoad, threads: int) -> "Job":
        train = inputs.cell.train
        gpus = train.devices if inputs.cell.fault is None and device_type(train.accelerator) == "cuda" else 0
        return cls(pickle.dumps(inputs), load, threads, train.devices, gpus)

    @property
    def inputs(self) -> CellInputs:
        return pickle.loads(self.payload)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def default_jobs(device: str, devices: int = 1, timed: bool = False) -> int:
    """One cell per GPU (per `devices` GPUs) on a GPU machine; on a CPU, one cell per core (small models use two
    processes better than two threads), but one cell at a time when the cells have a time budget (`timed`:
    `train.max_time`): cells that share the cores do not each get the same machine, and an equal time is then not an
    equal budget (the last cell would run alone, on a quieter machine, than the ones before it)."""
    if device == "cuda":
        return max(1, torch.cuda.device_count() // devices)
    return cpu_count() if device == "cpu" and not timed else 1


def default_threads(device: str, slots: int, timed: bool = False) -> int:
    """CPU threads per cell. On a CPU, one, whatever `--jobs` is: a thread count changes the order of a CPU's
    floating-point reductions (a Transformer's metrics differ in their last digits between one and two threads), so
    fixing it makes `--jobs N` give the metrics of `--jobs 1` bit for bit, and small models use processes better
    than threads. With a time budget (`timed`), the cores divided between the cells: how many steps fit in the time
    depends on the machine anyway, and a budget should buy all of it. On a GPU, the cores divided between the cells
    (they only feed the device)."""
    if device == "cpu" and not timed:
        return 1
    return max(1, cpu_count() // max(1, slots))


def execute(job: Job, report: Callable[[dict], None] | None = None) -> Record | None:
    """Run one job in this (fresh) process: the same registry as the runner's, this cell's threads and devices.
    On another machine (Ray, SLURM) the runner's folders that exist there come first on the import path."""
    measure.CELL_PROCESS = True
    if os.path.isdir(job.load.cwd):
        os.chdir(job.load.cwd)
    sys.path[:] = list(dict.fromkeys([p for p in job.load.sys_path if not p or os.path.exists(p)] + sys.path))
    if job.load.env_plugins:
        os.environ[registry.PLUGINS_ENV] = job.load.env_plugins
    else:
        os.environ.pop(registry.PLUGINS_ENV, None)
    if job.visible:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, job.visible))  # before CUDA starts in this process
    torch.set_num_threads(job.threads)
    reg = registry.load(list(job.load.extra), entry_points=job.load.entry_points, err=io.StringIO())
    return run_job(job, reg, report)


def run_job(job: Job, reg: registry.Registry, report: Callable[[dict], None] | None = None) -> Record | None:
    """The cell's record: trained here, or on several devices by a process per rank (`seqbench.run.ranks`).
    The inputs are unpickled here, once the plugins are loaded."""
    inputs = job.inputs
    if job.devices > 1 and inputs.cell.fault is None and not ranks.is_rank():
        return with_machine(ranks.supervise(job, inputs, execute, report))
    return with_machine(run_cell(inputs, reg, report))


def with_machine(record: Record | None) -> Record | None:
    """The record with the instruction set of the CPU it ran on beside its environment (`env.cpu_capability`, as
    torch dispatches: "AVX2", "AVX512", "DEFAULT", ...). The same cell id run on two CPUs can differ in the last bits
    of its floats, and where a cell ends near a threshold (a budget-bound one) in its verdict too; this says which
    machine a record's numbers came from. Set here, where the cell ran, not by the cell's own code: it describes
    the machine, not what was computed, so it is not part of the cell id."""
    if record is None:
        return None
    env = record.env.model_copy(update={"cpu_capability": torch.backends.cpu.get_cpu_capability()})
    return record.model_copy(update={"env": env})


def _child(conn: Any, events: Any, job: Job) -> None:
    """Entry point of a cell's process: run it, send the record (or the error) back, exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the runner decides
    die_with_parent()

    def report(event: dict) -> None:
        try:
            events.put_nowait(event)
        except Exception:  # a full or closed queue only costs a display update
            pass

    try:
        conn.send(("ok", execute(job, report)))
    except WorkerDied as e:  # a rank of the cell died (seqbench.run.ranks)
        conn.send(("died", str(e)))
    except BaseException as e:  # noqa: BLE001 - reported to the runner, which records the cell as failed
        conn.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc(limit=5)))
    finally:
        conn.close()


class InProcess:
    """Each cell in this process, one after another."""

    def __init__(self, reg: registry.Registry) -> None:
        self.reg, self.slots = reg, 1
        self._done: list[tuple[str, Record | BaseException]] = []
        self._events: list[dict] = []

    def submit(self, key: str, job: Job) -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(job.threads)
        try:
            self._done.append((key, run_job(job, self.reg, self._events.append)))
        except WorkerDied as e:  # a rank of the cell died (seqbench.run.ranks)
            self._done.append((key, e))
        finally:
            torch.set_num_threads(before)

    def wait(self, timeout: float) -> list[tuple[str, Record | BaseException]]:
        done, self._done = self._done, []
        return done

    def events(self) -> list[dict]:
        ev, self._events = self._events, []
        return ev

    def shutdown(self) -> None:
        pass


class LocalProcesses:
    """Each cell in its own process, `slots` at a time."""

    def __init__(self, slots: int, gpus: list[int] | None = None) -> None:
        self.slots = slots
        methods = multiprocessing.get_all_start_methods()
        self.ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if self.ctx.get_start_method() == "forkserver":
            self.ctx.set_forkserver_preload(["seqbench.run.forkserver"])  # torch and Lightning, imported once
        self.events_q = self.ctx.Queue()
        self.free_gpus = list(gpus or [])
        self.running: dict[str, tuple[Any, Any, tuple[int, ...]]] = {}  # key -> (process, connection, GPUs)

    def submit(self, key: str, job: Job) -> None:
        given = tuple(self.free_gpus[: job.gpus])
        del self.free_gpus[: job.gpus]
        if given:
            job = dataclasses.replace(job, visible=given)
        receive, send = self.ctx.Pipe(duplex=False)
        # Not a daemon, so that a cell on several devices may start its ranks; `shutdown` and the death signal
        # (`die_with_parent`) end it instead.
        proc = self.ctx.Process(target=_child, args=(send, self.events_q, job), name=f"seqbench-{key}", daemon=False)
        proc.start()
        send.close()
        self.running[key] = (proc, receive, given)

    def wait(self, timeout: float) -> list[tuple[str, Record | BaseException]]:
        if not self.running:
            return []
        handles = {}
        for key, (proc, conn, _) in self.running.items():
            handles[conn] = key
            handles[proc.sentinel] = key
        ready = wait_any(list(handles), timeout=timeout)
        done: list[tuple[str, Record | BaseException]] = []
        for key in dict.fromkeys(handles[h] for h in ready):
            proc, conn, gpus = self.running[key]
            result: Record | BaseException
            try:
                message = conn.recv() if conn.poll() else None
            except (EOFError, OSError):
                message = None
            if message is None:
                proc.join(timeout=5)
                if proc.exitcode is None:
                    continue  # the sentinel fired before the process ended: look again next time
                result = WorkerDied(ended(proc.exitcode))
            elif message[0] == "ok":
                result = message[1]
            elif message[0] == "died":
                result = WorkerDied(message[1])
            else:
                result = WorkerDied(f"the cell's process failed outside the cell: {message[1]}")
            proc.join(timeout=30)
            conn.close()
            del self.running[key]
            self.free_gpus.extend(gpus)
            done.append((key, result))
        return done

    def events(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self.events_q.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return out

    def shutdown(self) -> None:
        """Stop every running cell at once (an interrupted run); their cells stay unfinished."""
        for proc, conn, _ in self.running.values():
            proc.kill()
        for proc, conn, _ in self.running.values():
            proc.join(timeout=10)
            conn.close()
        self.running.clear()
        self.events_q.close()
