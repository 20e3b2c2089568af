"""Experiment tracking through Lightning loggers: MLflow (local SQLite by default), TensorBoard, CSV or none."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from PIL import Image

from spriteforge.engine.config import RunConfig
from spriteforge.errors import SpriteforgeError
from spriteforge.io import atomic_path, write_text

EXPERIMENT = "spriteforge"


MLFLOW_RUN_ID = "mlflow_run_id"  # in the run folder: a resumed run logs into the same MLflow run


def _mlflow(out: Path) -> Logger:
    """MLflow: $MLFLOW_TRACKING_URI when set, else a SQLite file beside the run folders (RUNS/mlflow.db)."""
    runs_root = out.resolve().parent
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{runs_root / 'mlflow.db'}"
    stored = out / MLFLOW_RUN_ID
    return MLFlowLogger(
        experiment_name=EXPERIMENT,
        run_name=out.name,
        tracking_uri=uri,
        artifact_location=(runs_root / "mlartifacts").as_uri(),
        run_id=stored.read_text().strip() if stored.is_file() else None,
    )


def _tensorboard(out: Path) -> Logger:
    return TensorBoardLogger(save_dir=str(out), name="tensorboard", version="")


class _ResumableCSVWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; a resumed run keeps its earlier rows instead. Rows
    at or after the first step this session logs (replayed after a checkpoint) are replaced by the new ones."""

    def _check_log_dir_exists(self) -> None:
        self._earlier: list[dict[str, str]] | None = None
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                self._earlier = list(csv.DictReader(handle))

    def save(self) -> None:
        if self._earlier is None or not self.metrics:
            super().save()
            return
        first = min(int(row["step"]) for row in self.metrics)
        kept = [{k: v for k, v in row.items() if v != ""} for row in self._earlier if int(float(row["step"])) < first]
        rows: list[dict[str, Any]] = [*kept, *self.metrics]
        self._earlier = None
        self.metrics_keys = sorted(set().union(*rows))
        with atomic_path(self.metrics_file_path) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(rows)
        self.metrics = []


class _ResumableCSVLogger(CSVLogger):
    _experiment: _ResumableCSVWriter | None  # the only writer this logger makes

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumableCSVWriter(log_dir=self.log_dir)
        return self._experiment


def _csv(out: Path) -> Logger:
    return _ResumableCSVLogger(save_dir=str(out), name="logs", version="")


LOGGERS: dict[str, Callable[[Path], Logger]] = {"mlflow": _mlflow, "tensorboard": _tensorboard, "csv": _csv}


def make_logger(name: str, out: Path) -> Logger | bool:
    """The logger called `name` for a run in `out` (nothing is written until it is used); False for none."""
    if name == "none":
        return False
    if name not in LOGGERS:
        raise SpriteforgeError(f"unknown logger {name!r}: choose one of {', '.join([*LOGGERS, 'none'])}.")
    return LOGGERS[name](out)


def log_config(logger: Logger | None, config: RunConfig, out: Path) -> None:
    """Record the run's whole config as flat parameters (data.size, train.lr, vae.beta, ...); for MLflow, also keep
    the MLflow run id in the run folder so that a resume continues the same MLflow run."""
    if logger is None:
        return
    logger.log_hyperparams(_flatten({"model": config.model, **_sections(config)}))
    if isinstance(logger, MLFlowLogger):
        write_text(out / MLFLOW_RUN_ID, f"{logger.run_id}\n")


def _sections(config: RunConfig) -> dict[str, Any]:
    return {"data": asdict(config.data), "train": asdict(config.train), config.model: asdict(config.model_config)}


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _mlflow_image(logger: MLFlowLogger, path: Path, step: int) -> None:
    logger.experiment.log_artifact(logger.run_id, str(path), artifact_path="samples")


def _tensorboard_image(logger: TensorBoardLogger, path: Path, step: int) -> None:
    logger.experiment.add_image("samples", np.asarray(Image.open(path).convert("RGB")), step, dataformats="HWC")


IMAGE_WRITERS: dict[type, Callable[[Any, Path, int], None]] = {
    MLFlowLogger: _mlflow_image,
    TensorBoardLogger: _tensorboard_image,
}


def log_image(logger: Logger | None, path: Path, step: int) -> None:
    """Send a sample grid to the tracker (the CSV logger has no images: the grid stays in RUN/samples/)."""
    writer = IMAGE_WRITERS.get(type(logger))
    if writer is not None:
        writer(logger, path, step)
