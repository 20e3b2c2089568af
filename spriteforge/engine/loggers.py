"""Experiment tracking through Lightning loggers: MLflow (local SQLite by default), TensorBoard, CSV or none."""

from __future__ import annotations

import os
from dataclasses import asdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger
from PIL import Image

from spriteforge.engine.config import RunConfig
from spriteforge.engine.run import write_text
from spriteforge.errors import SpriteforgeError

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


def _csv(out: Path) -> Logger:
    return CSVLogger(save_dir=str(out), name="logs", version="")


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
