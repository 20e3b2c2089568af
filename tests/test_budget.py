"""Training for a time budget (train.max_time, --time): the duration parser, the stop, the schedules fitted to the
budget, what the run folder records, steps and time together, and a resume that keeps the remaining budget."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import spriteforge
from spriteforge import cli
from spriteforge.engine.config import BUDGET_MODEL, BUDGET_PRESET, UNBOUNDED_STEPS, build_config, parse_duration
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import model_class

# A tiny VAE on 64 procedural sprites; no validation, grids or checkpoints in between, so the budget goes to steps.
TINY = [
    "vae.channels=[8,16]",
    "vae.latent_dim=4",
    "vae.kl_warmup_steps=500",  # a quarter of the default 2000-step scale
    "data.count=64",
    "train.batch_size=16",
    "train.progress=false",
    "train.val_every=100000",
    "train.sample_every=0",
    "train.checkpoint_every=0",
]


class StepsHandedOn(L.Callback):
    """Records the step each training loss receives and the learning rate after the last step."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.last_lr = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        loss = pl_module.training_loss

        def recorded(batch: dict[str, Any], **options: Any) -> Any:
            self.steps.append(options["step"])
            return loss(batch, **options)

        pl_module.training_loss = recorded

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.last_lr = trainer.optimizers[0].param_groups[0]["lr"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("2.5m", 150), ("45", 45), (7.5, 7.5), (" 2M ", 120)],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15x", "m", "-5s", "0", "1h-30m", "nan", "inf", "1.5.2m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(SpriteforgeError, match="not a time budget"):
        parse_duration(text)


def test_a_bad_time_on_the_command_line_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "argv", ["spriteforge", "train", "--time", "15 minutes", "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    err = capsys.readouterr().err
    assert caught.value.code == 2 and "Traceback" not in err
    assert "train.max_time" in err and "15 minutes" in err
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def budget_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[spriteforge.Run, StepsHandedOn]:
    recorder = StepsHandedOn()
    out = tmp_path_factory.mktemp("budget") / "run"
    run = spriteforge.train("vae", "procedural", out, overrides=TINY, logger="none", time="3s", callbacks=[recorder])
    return run, recorder


def test_a_budget_stops_the_run_with_its_schedules_finished(budget_run: tuple[spriteforge.Run, StepsHandedOn]) -> None:
    run, recorder = budget_run
    config = run.config.train
    # No max_steps given: time binds, and the schedules keep the default 2000-step scale, stretched onto 3 s.
    assert config.max_steps == UNBOUNDED_STEPS and config.schedule_steps == 2000 and config.max_time == "3s"
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["max_time"] == "3s" and metrics["max_time_seconds"] == 3.0
    # Stops once the budget is spent: at least 3 s, and not far past (a loose bound: a loaded machine slows each step).
    assert 3.0 <= metrics["wall_seconds"] < 20.0
    assert metrics["steps"] == len(recorder.steps) > 10
    # The steps handed to the model climb with the clock to the end of the scale: the KL warm-up (first 500 of
    # 2000 steps) took the first quarter of the budget, and beta ended at 1.
    steps = recorder.steps
    # The first step starts near 0 (not at 0 exactly: on a loaded machine the clock has run before it).
    assert steps == sorted(steps) and steps[0] <= 100
    assert steps[-1] >= 1800
    assert any(0 < step < 500 for step in steps)
    assert run.model._beta(steps[-1]) == 1.0
    # The learning rate ended near the cosine's floor (min_lr_ratio * lr), as a run of max_steps steps would.
    # (rel 0.5: on a loaded machine the last step can come a little before the deadline, the cosine not quite done)
    assert recorder.last_lr == pytest.approx(config.lr * config.min_lr_ratio, rel=0.5)


def test_steps_and_time_whichever_ends_first(tmp_path: Path) -> None:
    recorder = StepsHandedOn()
    overrides = [*TINY, "train.max_steps=6"]
    run = spriteforge.train(
        "vae", "procedural", tmp_path / "r", overrides=overrides, logger="none", time="1h", callbacks=[recorder]
    )
    assert run.config.train.max_steps == 6 and run.config.train.schedule_steps is None  # explicit steps are the cap
    assert json.loads((run.path / "metrics.json").read_text())["steps"] == 6
    assert recorder.steps == list(range(6))  # far from the hour, steps drive the schedule as without a budget


def test_resume_keeps_the_remaining_budget(budget_run: tuple[spriteforge.Run, StepsHandedOn], tmp_path: Path) -> None:
    first, _ = budget_run
    before = json.loads((first.path / "metrics.json").read_text())
    shutil.copytree(first.path, tmp_path / "run")
    with pytest.raises(SpriteforgeError, match="already trained for its time budget"):
        spriteforge.resume(tmp_path / "run")
    resumed = spriteforge.resume(tmp_path / "run", time="4s")  # one second more: the first 3 s count
    after = json.loads((resumed.path / "metrics.json").read_text())
    assert after["max_time"] == "4s" and after["steps"] > before["steps"]
    assert 4.0 <= after["wall_seconds"] < 20.0  # loose above: a loaded machine slows each step


def test_a_budget_alone_picks_the_recipe_that_wins_in_a_budget() -> None:
    """Given only data and a time budget, the run is the leaderboard's winning recipe; naming a model, a preset or a
    step count keeps the user's choice (and the vae stays the default of step-counted runs)."""
    recipe = model_class(BUDGET_MODEL).presets[BUDGET_PRESET]
    chosen = build_config(overrides=["train.max_time=15m"])
    assert chosen.model == BUDGET_MODEL and chosen.model_config.channels == recipe["channels"]
    assert build_config(overrides=["train.max_time=15m", "train.max_steps=50"]).model == "vae"
    assert build_config(overrides=["train.max_time=15m"], model="ddpm").model == "ddpm"
    assert build_config(overrides=["train.max_time=15m"], preset="tiny").model_config.channels == [8, 16]
    assert build_config().model == "vae"


def test_a_preset_may_set_training_and_data_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """A recipe is more than a network shape: a preset's train and data keys go to those sections."""
    vae = model_class("vae")
    recipe = {"latent_dim": 3, "train": {"lr": 0.0123, "ema": True}, "data": {"augment": {"flip": True}}}
    monkeypatch.setattr(vae, "presets", {**vae.presets, "recipe": recipe})
    config = build_config(model="vae", preset="recipe", overrides=["train.ema=false"])
    assert config.model_config.latent_dim == 3 and config.train.lr == 0.0123 and config.data.augment.flip
    assert not config.train.ema  # --set still wins over the preset
