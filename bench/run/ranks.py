"""One cell on several devices: a process per rank, trained together with Lightning's DDP.

Whatever runs the cell (this process, a cell's own process, a Ray task, a SLURM job) calls `supervise`, which
starts one fresh process per rank (spawned, so it is safe from any process, and each loads the plugins as a cell's
process does), sets the variables by which Lightning's `LightningEnvironment` knows that the ranks were launched
for it (`LOCAL_RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`), and waits. Every rank trains on its own slice
of each batch (`seqbench.run.data`); rank zero alone tests and sends back the record. A rank that dies, or fails,
ends the others at once: the cell is recorded as failed, saying which rank and how.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
import signal
import socket
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_any
from typing import Any, Callable

import torch

from seqbench.records.schema import Record
from seqbench.run.processes import WorkerDied, die_with_parent, ended


def strategy(devices: int) -> Any:
    """What the Trainer gets: "auto" for one device; for several, DDP in ranks started by `supervise`."""
    if devices == 1:
        return "auto"
    from lightning_fabric.plugins.environments import LightningEnvironment
    from pytorch_lightning.strategies import DDPStrategy

    # A static graph: parameters a plugin leaves unused (an option turned off) are found once, in the first step,
    # not searched for in every step.
    return DDPStrategy(cluster_environment=LightningEnvironment(), static_graph=True)


def close_group() -> None:
    """End this rank's part in the process group after training, so that testing on rank zero alone (and
    torchmetrics' computing there) does not wait for the other ranks."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def is_rank() -> bool:
    """Whether this process is one of a cell's ranks (then it trains; it does not start ranks of its own)."""
    return "LOCAL_RANK" in os.environ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _Rank:
    rank: int
    proc: Any
    conn: Any


# Not Lightning's ddp_spawn: it spawns inside trainer.fit and runs only fit there, while each rank here loads the
# plugins, builds its data and reports progress, rank zero tests and sends the record, and a dead rank ends the cell.
def supervise(job: Any, inputs: Any, execute: Callable[..., Record | None],
              report: Callable[[dict], None] | None = None) -> Record:
    """Train the cell of `job` on `inputs.cell.train.devices` ranks: rank zero's record, or the first failure.
    Each rank's process runs `execute(job, send)` (`seqbench.run.executors.execute`, passed in by the caller)."""
    world = inputs.cell.train.devices
    ctx = multiprocessing.get_context("spawn")
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(world), "NODE_RANK": "0"}
    ranks: list[_Rank] = []
    try:
        for r in range(world):
            mine = inputs if r == 0 else dataclasses.replace(inputs, work=None)  # checkpoints: rank zero's
            receive, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_rank_main, daemon=True, name=f"seqbench-rank{r}",
                               args=(send, dataclasses.replace(job, payload=pickle.dumps(mine)),
                                     {**env, "LOCAL_RANK": str(r)}, os.getpid(), execute))
            proc.start()
            send.close()
            ranks.append(_Rank(r, proc, receive))
        return _collect(ranks, report)
    finally:
        for k in ranks:
            if k.proc.is_alive():
                k.proc.kill()
            k.proc.join(timeout=10)
            k.conn.close()


def _collect(ranks: list[_Rank], report: Callable[[dict], None] | None) -> Record:
    """Rank zero's record, or the first failed record or death of any rank; progress events passed on meanwhile."""
    done: set[int] = set()
    while True:
        handles = {}
        for k in ranks:
            if k.rank not in done:
                handles[k.conn] = k
                handles[k.proc.sentinel] = k
        for h in wait_any(list(handles), timeout=5):
            k = handles[h]
            if k.rank in done:
                continue
            try:
                message = k.conn.recv() if k.conn.poll() else None
            except (EOFError, OSError):
                message = None
            if message is None:
                k.proc.join(timeout=5)
                if k.proc.exitcode is not None:
                    raise WorkerDied(f"rank {k.rank} of {len(ranks)}: {ended(k.proc.exitcode)}")
            elif message[0] == "event":
                if report is not None:
                    report(message[1])
            elif message[0] == "error":
                raise WorkerDied(f"rank {k.rank} of {len(ranks)} failed outside the cell: {message[1]}")
            else:
                done.add(k.rank)
                record = message[1]
                if record is not None and (k.rank == 0 or record.status != "ok"):
                    return record


def _rank_main(conn: Any, job: Any, env: dict[str, str], parent: int, execute: Callable[..., Record | None]) -> None:
    """Entry point of a rank's process: train (rank zero: and test), send what the cell returned, exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    if os.getppid() != parent:  # the supervisor ended before this process could ask to end with it
        os._exit(1)
    os.environ.update(env)
    send = (lambda event: conn.send(("event", event))) if env["LOCAL_RANK"] == "0" else None
    try:
        conn.send(("done", execute(job, send)))
    except BaseException as e:  # noqa: BLE001 - the supervisor records the cell as failed
        conn.send(("error", f"{type(e).__name__}: {e} | {traceback.format_exc(limit=3)}"))
    finally:
        conn.close()
