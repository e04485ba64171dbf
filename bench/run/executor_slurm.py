"""Cells as a SLURM job array (`seqbench run --executor slurm`, the extra `seqbench[slurm]`), through submitit.

The runner hands over every cell it has claimed; at the next `wait` they go to SLURM as one job array per kind of
cell (the same CPUs and GPUs), at most `--jobs` running at once (`slurm_array_parallelism`), each with the
partition and time limit given. Each array task runs one cell, writes its record atomically into the output
folder on the shared filesystem the cluster provides (so finished cells survive a runner that is stopped), and
returns it through submitit; the runner writes it again (the same bytes) as for any executor. submitit's files (the
pickled jobs, their logs) go to `OUT/.slurm`. SEQBENCH_SUBMITIT_CLUSTER=local runs the array with submitit's local
executor, on this machine (what the tests do).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from seqbench.contract.errors import UserError
from seqbench.records import store
from seqbench.records.schema import Record
from seqbench.run.executors import Job, execute
from seqbench.run.processes import WorkerDied

CLUSTER_ENV = "SEQBENCH_SUBMITIT_CLUSTER"


def _cell(job: Job, out: str) -> Record | None:
    """The body of one array task: the cell's record, also written to the shared output folder."""
    record = execute(job)
    if record is not None:
        store.save(Path(out), record)
    return record


class SlurmCells:
    """Every claimed cell in a job array; `parallel` of them running at once (None: as SLURM allows)."""

    def __init__(self, out: Path, cells: int, parallel: int | None = None, partition: str | None = None,
                 time_min: int | None = None, gpus: int | None = None) -> None:
        try:
            import submitit
        except ImportError:
            raise UserError("--executor slurm needs submitit: pip install 'seqbench[slurm]'") from None
        cluster = os.environ.get(CLUSTER_ENV) or "slurm"
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise UserError(f"--executor slurm: no SLURM here (sbatch is not on PATH); run on a login node of the "
                            f"cluster, or set {CLUSTER_ENV}=local to run the cells as local jobs through submitit")
        self.out = Path(out)
        self.executor = submitit.AutoExecutor(folder=self.out / ".slurm" / "%j", cluster=cluster)
        self.common = {"name": "seqbench", "timeout_min": time_min or 60 * 24, "slurm_partition": partition,
                       "slurm_array_parallelism": parallel}
        self.slots = max(1, cells)  # all at once: SLURM schedules them
        self.batch: list[tuple[str, Job]] = []
        self.running: dict[str, Any] = {}  # cell key -> submitit job
        self.gpus = gpus  # GPUs per cell, when given; else what the job says

    def submit(self, key: str, job: Job) -> None:
        self.batch.append((key, job))

    def _send(self) -> None:
        """The waiting cells as job arrays, one per kind of resources asked for."""
        kinds: dict[tuple[int, int], list[tuple[str, Job]]] = {}
        for key, job in self.batch:
            gpus = job.gpus if self.gpus is None else self.gpus
            kinds.setdefault((job.threads * job.devices, gpus), []).append((key, job))
        self.batch = []
        for (cpus, gpus), group in kinds.items():
            self.executor.update_parameters(**self.common, cpus_per_task=cpus, gpus_per_node=gpus)
            jobs = self.executor.map_array(_cell, [job for _, job in group], [str(self.out)] * len(group))
            self.running.update({key: sj for (key, _), sj in zip(group, jobs)})

    def wait(self, timeout: float) -> list[tuple[str, Record | BaseException]]:
        if self.batch:
            self._send()
        done: list[tuple[str, Record | BaseException]] = []
        for key, sj in list(self.running.items()):
            if not sj.done():
                continue
            del self.running[key]
            try:
                done.append((key, sj.result()))
            except Exception as e:  # noqa: BLE001 - submitit's failures: the task died or raised outside the cell
                done.append((key, WorkerDied(f"SLURM job {sj.job_id} of the cell ended before it finished: "
                                             f"{_summary(e)}")))
        if not done:
            time.sleep(timeout)
        return done

    def events(self) -> list[dict]:
        return []  # array tasks report nothing while they run; each record arrives when its task ends

    def shutdown(self) -> None:
        """Cancel the cells still queued or running (an interrupted run)."""
        for sj in self.running.values():
            sj.cancel(check=False)
        self.running.clear()
        self.batch = []


def _summary(e: BaseException) -> str:
    """submitit's error in a line: what it says before its separator, and the last line of a traceback after it."""
    head, _, tail = str(e).partition("-" * 40)
    text = " ".join(line.strip() for line in head.splitlines() if line.strip()) or type(e).__name__
    last = [line.strip() for line in tail.splitlines() if line.strip()]
    if "Traceback" in tail and last:
        text += f" ... {last[-1]}"
    return text[:400]
