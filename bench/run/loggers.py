"""Experiment tracking through Lightning's own loggers: one run per cell, named by its cell id, with its resolved
configuration as hyperparameters. `--logger csv` needs nothing more; the others are optional extras."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqbench.contract.errors import UserError, unknown

NEEDS = {"csv": None, "tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # kind -> import name


@dataclass(frozen=True)
class LoggerSpec:
    """Which logger, and where it writes (under the run's output folder). Picklable: cells build their own."""

    kind: str
    save_dir: str

    def __call__(self, cell: Any) -> Any:
        from pytorch_lightning import loggers

        from seqbench.records.flat import flatten

        name = cell.cell_id
        if self.kind == "csv":
            logger = loggers.CSVLogger(self.save_dir, name=name)
        elif self.kind == "tensorboard":
            logger = loggers.TensorBoardLogger(self.save_dir, name=name, default_hp_metric=False)
        elif self.kind == "wandb":
            logger = loggers.WandbLogger(name=name, save_dir=self.save_dir, project="seqbench", group=cell.task)
        else:
            logger = loggers.MLFlowLogger(experiment_name="seqbench", run_name=name,
                                          tracking_uri=Path(self.save_dir, "mlruns").resolve().as_uri())
        logger.log_hyperparams(flatten({"cell_id": cell.cell_id, **cell.resolved.to_dict()}))
        return logger


def logger_spec(kind: str | None, out: Path) -> LoggerSpec | None:
    """The logger a run asked for, refused up front when its package is missing."""
    if kind is None:
        return None
    if kind not in NEEDS:
        raise unknown("logger", kind, NEEDS)
    package = NEEDS[kind]
    if package and importlib.util.find_spec(package) is None:
        raise UserError(f"--logger {kind} needs the {package} package: pip install 'seqbench[{kind}]'")
    return LoggerSpec(kind, str(Path(out) / "logs"))
