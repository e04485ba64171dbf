"""Cells as Ray tasks (`seqbench run --executor ray`, the extra `seqbench[ray]`).

Each cell is one Ray task that asks for what the cell needs (its CPU threads; its GPUs when it runs on CUDA) and
runs in a fresh worker process (`max_calls=1`, so its peak memory is its own and a crash ends only that worker).
The task returns the record; the runner, here on the driver, writes it, so workers need no shared filesystem:
they need seqbench and the plugins installed, and a `-p FILE` plugin at the same path. Progress events come back
through a Ray queue. The executor connects to a running cluster (`--address`, or RAY_ADDRESS) or starts a local
instance and stops it at the end.
"""

from __future__ import annotations

from typing import Any

from seqbench.contract.errors import UserError
from seqbench.records.schema import Record
from seqbench.run.executors import Job, cpu_count, execute
from seqbench.run.processes import WorkerDied


def _cell(job: Job, events: Any) -> Record | None:
    """The body of a cell's Ray task."""

    def report(event: dict) -> None:
        try:
            events.put_nowait(event)
        except Exception:  # a full queue only costs a display update
            pass

    return execute(job, report)


class RayCells:
    """Each cell a Ray task, `slots` in flight at a time."""

    shares_files = False  # workers may be on other machines: checkpoints go to a temporary folder of the worker

    def __init__(self, slots: int | None, address: str | None = None, gpus: int | None = None) -> None:
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise UserError("--executor ray needs Ray: pip install 'seqbench[ray]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            local = dict(num_cpus=cpu_count(), object_store_memory=2**28) if address is None else {}
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                         **local)
            except ConnectionError as e:
                raise UserError(f"--address {address}: no Ray cluster there ({e})") from None
        resources = ray.cluster_resources()
        self.slots = slots or max(1, int(resources.get("GPU", 0)) or int(resources.get("CPU", 1)))
        self.events_q = Queue(maxsize=10_000, actor_options={"num_cpus": 0})
        self.task = ray.remote(max_calls=1, max_retries=0)(_cell)
        self.running: dict[Any, str] = {}  # object ref -> cell key
        self.gpus = gpus  # GPUs per cell, when given; else what the job says

    def submit(self, key: str, job: Job) -> None:
        gpus = job.gpus if self.gpus is None else self.gpus
        ref = self.task.options(num_cpus=job.threads * job.devices, num_gpus=gpus, name=f"seqbench-{key}").remote(
            job, self.events_q)
        self.running[ref] = key

    def wait(self, timeout: float) -> list[tuple[str, Record | BaseException]]:
        if not self.running:
            return []
        ready, _ = self.ray.wait(list(self.running), num_returns=len(self.running), timeout=timeout)
        done: list[tuple[str, Record | BaseException]] = []
        for ref in ready:
            key = self.running.pop(ref)
            try:
                done.append((key, self.ray.get(ref)))
            except self.ray.exceptions.RayTaskError as e:  # raised outside the cell (run_cell catches the rest)
                cause = e.cause if isinstance(e.cause, WorkerDied) else WorkerDied(
                    f"the Ray task of the cell failed: {_first_line(e.cause or e)}")
                done.append((key, cause))
            except self.ray.exceptions.RayError as e:  # the worker died (a crash, the OOM killer) or its node did
                done.append((key, WorkerDied(f"the Ray worker running the cell died before it finished: "
                                             f"{_first_line(e)}")))
        return done

    def events(self) -> list[dict]:
        try:
            return self.events_q.get_nowait_batch(self.events_q.qsize())
        except Exception:  # the queue is gone (shutting down): only the display misses updates
            return []

    def shutdown(self) -> None:
        """Cancel every running cell (an interrupted run); stop the local instance if this executor started it."""
        for ref in list(self.running):
            self.ray.cancel(ref, force=True)
        self.running.clear()
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]

