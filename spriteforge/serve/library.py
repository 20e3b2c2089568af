"""The runs a server offers: found under one folder, resolved by name only inside it, and the models shipped with
spriteforge (pretrained:NAME); loaded once and cached."""

from __future__ import annotations

import os
import threading
from pathlib import Path, PurePath
from typing import Any

from spriteforge.engine import pretrained
from spriteforge.engine import run as runfiles
from spriteforge.engine.trained import Run, load_run
from spriteforge.errors import SpriteforgeError


class UnknownRun(SpriteforgeError):
    """A run name that is not a run inside the served folder (HTTP 404)."""


MAX_NAME_BYTES = 255  # of one folder name, on every common file system
MAX_PATH_BYTES = 4096


def _can_name_a_folder(name: str) -> bool:
    """Whether `name` could be a relative path at all: no NUL byte, no folder name or whole path too long for the OS."""
    try:
        encoded = os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate: no file name on this system is spelt so
        return False
    short = 0 < len(encoded) <= MAX_PATH_BYTES and all(len(part) <= MAX_NAME_BYTES for part in encoded.split(b"/"))
    return short and b"\x00" not in encoded


class RunLibrary:
    """Runs under `root` (any depth), named by their path relative to it, e.g. "kenney/vae"."""

    def __init__(self, root: str | Path, device: str = "cpu") -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir() and not pretrained.names():  # with shipped models, a new user can serve those
            raise SpriteforgeError(f"--runs {root}: no such folder. Give the folder your runs are in (e.g. runs/).")
        self.device = device
        self._runs: dict[str, Run] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def names(self) -> list[str]:
        """Every finished run (config.yaml and weights) under the root, sorted, then the models shipped with
        spriteforge as pretrained:NAME."""
        found = (config.parent for config in self.root.rglob(runfiles.CONFIG))
        served = sorted(
            folder.relative_to(self.root).as_posix() for folder in found if (folder / runfiles.WEIGHTS).is_file()
        )
        return served + [pretrained.PREFIX + name for name in pretrained.names()]

    def path_of(self, name: str) -> Path:
        """The folder of run `name`; names that leave the root, or are not runs, are unknown.

        Names come from URLs: a NUL byte, an over-long name or a symbolic link loop is an unknown run, not an error.
        """
        unknown = UnknownRun(f"no run named {name[:100]!r} in the served folder; GET /api/v1/runs lists them.")
        if pretrained.is_pretrained(name):
            if name.removeprefix(pretrained.PREFIX) not in pretrained.names():
                raise unknown
            return pretrained.folder(name)
        relative = Path(name)
        if not _can_name_a_folder(name) or relative.is_absolute() or ".." in relative.parts or "\\" in name:
            raise unknown
        try:
            candidate = (self.root / relative).resolve()
            inside = self.root in candidate.parents  # also catches symbolic links that lead out of the root
            if not (inside and (candidate / runfiles.WEIGHTS).is_file()):
                raise unknown
        except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Path.resolve before Python 3.13)
            raise unknown from None
        return candidate

    def get(self, name: str) -> Run:
        """The loaded run, loading it on first use; concurrent first requests for one run load it once."""
        path = self.path_of(name)
        key = name if pretrained.is_pretrained(name) else path.relative_to(self.root).as_posix()
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._runs:
                try:
                    self._runs[key] = load_run(path, device=self.device)
                except SpriteforgeError as error:  # its message names files by path: relative to the root here
                    raise SpriteforgeError(self.relative(str(error))) from None
            return self._runs[key]

    def relative(self, text: str) -> str:
        """`text` with the served folder's and the shipped models' absolute paths left out: clients learn nothing of
        the server's disk."""
        shipped = pretrained.pretrained_dir()
        text = text.replace(f"{shipped}{os.sep}", pretrained.PREFIX)
        return text.replace(f"{self.root}{os.sep}", "").replace(str(self.root), ".")

    def shown_source(self, source: str) -> str:
        """A run's training data as clients see it: a named dataset as is; a path relative to the served folder
        when the data is inside it, else only its last part (never an absolute path on the server)."""
        path = PurePath(source)
        if len(path.parts) <= 1:
            return source
        try:
            return Path(source).resolve().relative_to(self.root).as_posix()
        except (OSError, RuntimeError, ValueError):
            return path.name

    def describe(self, name: str) -> dict[str, Any]:
        """What the studio's gallery shows: model, data, palette, labels, metrics, capabilities, options."""
        run = self.get(name)
        model = run.model
        return {
            "name": name,
            "model": run.config.model,
            "representation": model.representation,
            "data": self.shown_source(run.config.data.source),
            "size": [model.spec.width, model.spec.height],
            "slots": run.slots,  # > 1: trained on sheets of this many sprites (views, frames), completed by slot
            "palette": ["#" + "".join(f"{v:02x}" for v in color) for color in run.palette.colors.tolist()],
            "labels": None
            if run.labels is None
            else {"kind": run.labels.kind, "names": list(run.labels.names), "column": run.labels.column},
            "conditional": model.is_conditional,
            "capabilities": model.capabilities(),
            "fusion_modes": run.fusion_modes(),
            "sample_options": [spec.to_json() for spec in model.option_specs()],
            "metrics": run.metrics,
            "grid": latest_grid(run.path) is not None,
        }


def latest_grid(path: Path) -> Path | None:
    """The last sample grid the run wrote during training, if any."""
    grids = sorted((path / runfiles.SAMPLES).glob("step_*.png"))
    return grids[-1] if grids else None
