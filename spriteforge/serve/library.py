"""The runs a server offers: found under one folder, resolved by name only inside it, loaded once and cached."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from spriteforge.engine import run as runfiles
from spriteforge.engine.trained import Run, load_run
from spriteforge.errors import SpriteforgeError


class UnknownRun(SpriteforgeError):
    """A run name that is not a run inside the served folder (HTTP 404)."""


class RunLibrary:
    """Runs under `root` (any depth), named by their path relative to it, e.g. "kenney/vae"."""

    def __init__(self, root: str | Path, device: str = "cpu") -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise SpriteforgeError(f"--runs {root}: no such folder. Give the folder your runs are in (e.g. runs/).")
        self.device = device
        self._runs: dict[str, Run] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def names(self) -> list[str]:
        """Every finished run (config.yaml and weights) under the root, sorted."""
        found = (config.parent for config in self.root.rglob(runfiles.CONFIG))
        return sorted(
            folder.relative_to(self.root).as_posix() for folder in found if (folder / runfiles.WEIGHTS).is_file()
        )

    def path_of(self, name: str) -> Path:
        """The folder of run `name`; names that leave the root, or are not runs, are unknown."""
        relative = Path(name)
        plain = bool(name) and not relative.is_absolute() and ".." not in relative.parts and "\\" not in name
        candidate = (self.root / relative).resolve()
        inside = self.root in candidate.parents  # also catches symbolic links that lead out of the root
        if not (plain and inside and (candidate / runfiles.WEIGHTS).is_file()):
            raise UnknownRun(f"no run named {name!r} in the served folder; GET /api/v1/runs lists them.")
        return candidate

    def get(self, name: str) -> Run:
        """The loaded run, loading it on first use; concurrent first requests for one run load it once."""
        path = self.path_of(name)
        key = path.relative_to(self.root).as_posix()
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._runs:
                self._runs[key] = load_run(path, device=self.device)
            return self._runs[key]

    def describe(self, name: str) -> dict[str, Any]:
        """What the studio's gallery shows: model, data, palette, labels, metrics, capabilities, options."""
        run = self.get(name)
        model = run.model
        return {
            "name": name,
            "model": run.config.model,
            "representation": model.representation,
            "data": run.config.data.source,
            "size": [model.spec.width, model.spec.height],
            "palette": ["#" + "".join(f"{v:02x}" for v in color) for color in run.palette.colors.tolist()],
            "labels": None
            if run.labels is None
            else {"kind": run.labels.kind, "names": list(run.labels.names), "column": run.labels.column},
            "conditional": model.is_conditional,
            "capabilities": model.capabilities(),
            "sample_options": [spec.to_json() for spec in model.option_specs()],
            "metrics": run.metrics,
            "grid": latest_grid(run.path) is not None,
        }


def latest_grid(path: Path) -> Path | None:
    """The last sample grid the run wrote during training, if any."""
    grids = sorted((path / runfiles.SAMPLES).glob("step_*.png"))
    return grids[-1] if grids else None
