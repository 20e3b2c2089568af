"""Shared fixtures for the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/models.json from the current code (after an intended numerical change)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `cuda` run only where a CUDA device is present (CI has none); elsewhere they skip, saying why."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run `pytest -m cuda` on a GPU machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The shared real-data folder (kenney/, cpunks/, photos/): $SPRITEFORGE_TEST_DATA, else <repo>/../shared/data.

    Tests that need it are skipped, with the reason, when it is absent. Never copy these files into the repository:
    tests that need a small dataset copy a few files into tmp_path.
    """
    folder = Path(os.environ.get("SPRITEFORGE_TEST_DATA") or REPO_ROOT.parent / "shared" / "data").expanduser()
    if not folder.is_dir():
        pytest.skip(
            f"real test data not found at {folder}; set SPRITEFORGE_TEST_DATA to the shared data folder "
            "(kenney/, cpunks/) to run these tests"
        )
    return folder.resolve()


@pytest.fixture(scope="session")
def served(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three tiny trained runs (kenney/vae, kenney/discrete, kenney/cyclegan) that the server tests
    share: trained once per session (about 3 s)."""
    from tests.kenney_fixtures import served_runs

    return served_runs(tmp_path_factory.mktemp("served"), test_data)


@pytest.fixture(scope="session")
def _empty_pretrained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no-pretrained")


@pytest.fixture(autouse=True)
def _no_shipped_models(monkeypatch: pytest.MonkeyPatch, _empty_pretrained_dir: Path) -> None:
    """Tests see no shipped pretrained models (SPRITEFORGE_PRETRAINED_DIR at an empty folder), so run listings stay
    what each test made whatever ships; tests of the shipped ones (test_pretrained.py) point it back."""
    monkeypatch.setenv("SPRITEFORGE_PRETRAINED_DIR", str(_empty_pretrained_dir))
