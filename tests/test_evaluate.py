"""`evaluate` and `compare` end to end on tiny runs trained on real Kenney tiles, through the API and the CLI."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import spriteforge
from spriteforge.cli import main
from spriteforge.metrics import evaluate as evaluation_module
from spriteforge.metrics.stats import Estimate

TINY = [
    "vae.channels=[8,16]",
    "vae.latent_dim=4",
    "data.count=96",
    "train.max_steps=6",
    "train.batch_size=16",
    "train.val_every=3",
    "train.progress=false",
]


@pytest.fixture(scope="module")
def tiles(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 real 16x16 Kenney tiles in a folder of their own."""
    folder = tmp_path_factory.mktemp("tiles")
    for path in sorted((test_data / "kenney/tiles/1bit_pack_colored").glob("*.png"))[:64]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def runs(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[spriteforge.Run, spriteforge.Run]:
    """A tiny index-mode VAE and a tiny rgba-mode VAE on Kenney tiles."""
    root = tmp_path_factory.mktemp("runs")
    data = test_data / "kenney/tiles/1bit_pack_colored"
    index = spriteforge.train("vae", data, root / "index", overrides=TINY, logger="none")
    rgba = spriteforge.train("vae", data, root / "rgba", overrides=TINY, logger="none", representation="rgba")
    return index, rgba


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPRITEFORGE_CACHE", str(tmp_path / "cache"))


def test_evaluate_scores_every_group_and_writes_a_report(runs, tiles: Path, tmp_path: Path) -> None:
    index_run, _ = runs
    evaluation = spriteforge.evaluate(index_run, tiles, n=24, out=tmp_path / "report", use_cache=False, progress=False)
    metrics = evaluation.metrics
    for name in (
        "fid",
        "kid",
        "precision",
        "recall",
        "palette_adherence",
        "colors_per_sprite",
        "copies",
        "nearest_distance",
        "recon_pixel_accuracy",
        "recon_mse",
        "recon_ssim",
    ):
        assert isinstance(metrics[name], Estimate), name
    assert metrics["fid"].value > 0 and metrics["fid"].n == 24
    assert metrics["fid"].low is not None and metrics["fid"].low <= metrics["fid"].value * 1.5
    assert metrics["palette_adherence"].value == 1.0  # index models are exact by construction
    assert 0.0 <= metrics["precision"].value <= 1.0 and 0.0 <= metrics["recall"].value <= 1.0
    assert 0.0 <= metrics["recon_pixel_accuracy"].value <= 1.0
    assert metrics["recon_pixel_accuracy"].n == 24
    assert evaluation.details["conditional"]["available"] is False
    report = tmp_path / "report"
    saved = json.loads((report / "metrics.json").read_text())
    assert saved["metrics"]["fid"]["value"] == pytest.approx(metrics["fid"].value)
    assert "| fid |" in (report / "report.md").read_text()
    assert (report / "samples.png").stat().st_size > 0


def test_rgba_runs_report_adherence_before_snapping(runs, tiles: Path) -> None:
    _, rgba_run = runs
    evaluation = spriteforge.evaluate(rgba_run, tiles, n=16, metrics=["palette"], use_cache=False, progress=False)
    adherence = evaluation.metrics["palette_adherence"]
    assert 0.0 <= adherence.value < 1.0  # a 6-step continuous decoder does not hit palette colours exactly
    assert adherence.n == 16


def test_a_second_evaluation_comes_from_the_cache(runs, tiles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index_run, _ = runs
    first = spriteforge.evaluate(index_run, tiles, n=8, metrics=["palette", "novelty"], progress=False)

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached evaluation")

    monkeypatch.setattr(evaluation_module, "_compute", fail)
    second = spriteforge.evaluate(index_run, tiles, n=8, metrics=["palette", "novelty"], progress=False)
    assert second.metrics == first.metrics
    with pytest.raises(AssertionError, match="recomputed"):  # other settings are another key
        spriteforge.evaluate(index_run, tiles, n=8, seed=1, metrics=["palette", "novelty"], progress=False)


def test_compare_marks_the_best_run_per_column(runs, tiles: Path, tmp_path: Path) -> None:
    index_run, rgba_run = runs
    out = tmp_path / "compare.md"
    evaluations, written = spriteforge.compare(
        [index_run.path, rgba_run.path], tiles, n=16, out=out, metrics=["palette", "novelty", "recon"], progress=False
    )
    text = written.read_text()
    assert len(evaluations) == 2
    assert str(index_run.path) in text and str(rgba_run.path) in text
    assert "palette_adherence" in text and "**1**" in text  # the exact index model wins adherence
    assert out.with_suffix(".png").is_file()


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: object) -> int:
    """Run the console entry point with these arguments; return its exit code."""
    monkeypatch.setattr(sys, "argv", ["spriteforge", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


def test_cli_eval_and_compare(runs, tiles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    index_run, rgba_run = runs
    code = run_cli(
        monkeypatch,
        "eval",
        index_run.path,
        "--data",
        tiles,
        "--n",
        8,
        "--metrics",
        "palette,novelty",
        "--out",
        tmp_path / "r",
    )
    assert code == 0 and "palette_adherence" in capsys.readouterr().out
    assert (tmp_path / "r" / "report.md").is_file()
    code = run_cli(
        monkeypatch,
        "compare",
        index_run.path,
        rgba_run.path,
        "--data",
        tiles,
        "--n",
        8,
        "--metrics",
        "palette",
        "--out",
        tmp_path / "c.md",
    )
    assert code == 0 and "# Comparison" in capsys.readouterr().out


def test_cli_rejects_unknown_metrics(runs, tiles: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    index_run, _ = runs
    assert run_cli(monkeypatch, "eval", index_run.path, "--data", tiles, "--metrics", "fid,bogus") == 2
    error = capsys.readouterr().err
    assert "bogus" in error and "Traceback" not in error
