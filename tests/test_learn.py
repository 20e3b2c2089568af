"""Every tutorial in docs/learn runs top to bottom with tiny budgets, so a tutorial that the code has outgrown fails
the build. One test per docs/learn/NN_*.py, found by the glob: a new tutorial is tested without editing this file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

LEARN_DIR = Path(__file__).resolve().parents[1] / "docs" / "learn"


def _executor():
    spec = importlib.util.spec_from_file_location("learn_execute", LEARN_DIR / "_execute.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


executor = _executor()
# Tiny mode budgets each tutorial a few seconds (most of it the kernel start and imports); this bounds a runaway one.
TIMEOUT_S = 120


@pytest.mark.timeout(TIMEOUT_S + 30)
@pytest.mark.parametrize("source", executor.tutorials(), ids=lambda path: path.stem)
def test_tutorial_runs_with_tiny_budgets(source: Path, tmp_path: Path) -> None:
    # A failing cell raises CellExecutionError with the cell and its traceback; the executed notebook is kept.
    executor.execute(source, tmp_path / f"{source.stem}.ipynb", tiny=True, timeout=TIMEOUT_S, build=tmp_path)
    # Tiny pictures went to the build folder, never over the committed full-mode ones in docs/images/learn.
    assert list((tmp_path / "figures-tiny").glob("*.png")), f"{source.name} saved no picture with L.save_figure"


def test_tutorials_are_numbered_uniquely() -> None:
    numbers = [path.name.split("_", 1)[0] for path in executor.tutorials()]
    assert len(numbers) == len(set(numbers)), f"two tutorials share a number: {sorted(numbers)}"
