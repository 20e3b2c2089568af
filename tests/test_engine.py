"""End-to-end tests of the training engine: real data, run folders, load_run, resume, EMA, loggers, bad files.

Models are tiny (channels [8,16], latent 4) and runs are a few dozen steps, so the module runs in well under
two minutes on two CPU cores.
"""

from __future__ import annotations

import csv
import shutil
import signal
import sqlite3
import stat
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import spriteforge
import torch
from PIL import Image
from safetensors.torch import load_file
from spriteforge import io
from spriteforge.data.palette import Palette
from spriteforge.engine import module as module_file
from spriteforge.engine import run as runfiles
from spriteforge.engine.config import load_config
from spriteforge.errors import SpriteforgeError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

VAE_TINY = ["vae.channels=[8,16]", "vae.latent_dim=4", "train.batch_size=16", "train.progress=false"]
AE_TINY = ["ae.channels=[8,16]", "ae.latent_dim=4", "train.batch_size=16", "train.progress=false"]
# Resume tests: 64 procedural sprites (58 train = 3 batches of 16 per epoch), checkpoints every 10 steps.
RESUME = [
    *AE_TINY,
    "data.count=64",
    "train.checkpoint_every=10",
    "train.val_every=5",
    "train.warmup_steps=3",
    "train.sample_every=0",
]
FLAT_LR = ["train.min_lr_ratio=1.0"]  # constant learning rate after warm-up: the schedule does not depend on max_steps


def _copy_tiles(test_data: Path, dest: Path, count: int) -> Path:
    folder = test_data / "kenney" / "tiles" / "1bit_pack_colored"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    dest.mkdir(parents=True)
    for file in sorted(folder.glob("*.png"))[:count]:
        shutil.copy(file, dest / file.name)
    return dest


def _palette_colors(palette: Palette) -> set[tuple[int, ...]]:
    return {tuple(c) for c in palette.colors.tolist()}


def _colors(rgba: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(c) for c in np.unique(rgba.reshape(-1, 4), axis=0).tolist()}


def _weights_equal(a: Path, b: Path) -> tuple[bool, list[str]]:
    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys()
    differing = [k for k in first if not torch.equal(first[k], second[k])]
    return not differing, differing


def _ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------- a tiny VAE on real Kenney tiles


@pytest.fixture(scope="module")
def kenney_tiles(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_tiles(test_data, tmp_path_factory.mktemp("kenney") / "tiles", 128)


@pytest.fixture(scope="module")
def kenney_run(kenney_tiles: Path, tmp_path_factory: pytest.TempPathFactory) -> spriteforge.Run:
    out = tmp_path_factory.mktemp("runs") / "kenney_vae"
    overrides = [
        *VAE_TINY,
        "train.max_steps=40",
        "train.val_every=10",
        "train.sample_every=20",
        "train.checkpoint_every=20",
        "train.warmup_steps=0",
        "train.lr=5e-3",
    ]
    return spriteforge.train("vae", kenney_tiles, out, overrides=overrides, logger="csv")


def test_training_lowers_the_loss(kenney_run: spriteforge.Run) -> None:
    with open(kenney_run.path / "logs" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    train_loss = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    val_loss = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert len(train_loss) >= 2 and len(val_loss) >= 2, rows
    assert train_loss[-1] < train_loss[0], train_loss
    assert val_loss[-1] < val_loss[0], val_loss


def test_samples_are_palette_colours(kenney_run: spriteforge.Run) -> None:
    sprites = kenney_run.sample(64, seed=0)
    assert sprites.indices.shape == (64, 16, 16)
    assert sprites.palette == kenney_run.palette
    assert _colors(sprites.to_rgba()) <= _palette_colors(kenney_run.palette)
    # With temperature the colours are sampled, and still exact.
    hot = kenney_run.sample(16, seed=0, temperature=1.5)
    assert _colors(hot.to_rgba()) <= _palette_colors(kenney_run.palette)


def test_run_folder_contents(kenney_run: spriteforge.Run) -> None:
    path = kenney_run.path
    for name in ("config.yaml", "palette.hex", "weights.safetensors", "last.ckpt", "metrics.json"):
        assert (path / name).is_file(), name
    grids = sorted((path / "samples").glob("*.png"))
    assert [g.name for g in grids] == ["step_000020.png", "step_000040.png"]
    # The grids are pixel art too: only palette colours and the grid background, no blur.
    allowed = _palette_colors(kenney_run.palette) | {io.GRID_BACKGROUND}
    for grid in grids:
        assert _colors(np.asarray(Image.open(grid).convert("RGBA"))) <= allowed, grid
    config = load_config(path / "config.yaml")
    assert config.model == "vae" and config.data.size == 16 and config.train.max_steps == 40
    assert Palette.load(path / "palette.hex") == kenney_run.palette
    metrics = kenney_run.metrics
    assert metrics["model"] == "vae" and metrics["steps"] == 40
    assert metrics["train_sprites"] + metrics["val_sprites"] == 128
    assert 0.0 <= metrics["val/pixel_accuracy"] <= 1.0
    assert metrics["val/palette_adherence"] == 1.0  # index mode: exact by construction
    assert _ckpt(path / "last.ckpt")["global_step"] == 40


def test_no_partial_checkpoint_or_temporary_file_remains(kenney_run: spriteforge.Run) -> None:
    leftovers = [
        p.name
        for p in kenney_run.path.iterdir()
        if p.name != runfiles.LOCK and (p.name.startswith(".") or p.name.endswith((".tmp", ".partial")))
    ]
    assert leftovers == []
    assert not (kenney_run.path / ".last.ckpt.partial").exists()


def test_saved_weights_are_the_trained_weights(kenney_run: spriteforge.Run) -> None:
    weights = load_file(str(kenney_run.path / "weights.safetensors"))
    state = _ckpt(kenney_run.path / "last.ckpt")["state_dict"]
    assert weights.keys() == {k.removeprefix("model.") for k in state if k.startswith("model.")}
    for key, value in weights.items():
        assert torch.equal(value, state[f"model.{key}"]), key


def test_load_run_rebuilds_the_same_model(kenney_run: spriteforge.Run) -> None:
    reloaded = spriteforge.load_run(kenney_run.path)
    assert type(reloaded.model) is type(kenney_run.model)
    assert reloaded.config == kenney_run.config
    before = kenney_run.sample(8, seed=7)
    after = reloaded.sample(8, seed=7)
    np.testing.assert_array_equal(before.indices, after.indices)
    np.testing.assert_array_equal(reloaded.sample(8, seed=7).indices, after.indices)
    for key, value in kenney_run.model.state_dict().items():
        assert torch.equal(value, reloaded.model.state_dict()[key]), key


def test_reconstruct_and_interpolate(kenney_run: spriteforge.Run, kenney_tiles: Path) -> None:
    sprites = spriteforge.load_sprites(kenney_tiles, count=6, size=16)
    rebuilt = kenney_run.reconstruct(sprites)
    assert rebuilt.indices.shape == sprites.indices.shape
    assert _colors(rebuilt.to_rgba()) <= _palette_colors(kenney_run.palette)
    path = kenney_run.interpolate(sprites.subset([0, 1]), sprites.subset([2, 3]), steps=5)
    assert path.indices.shape == (10, 16, 16)
    # The ends of each path are the reconstructions of the ends.
    np.testing.assert_array_equal(path.indices[0], rebuilt.indices[0])
    np.testing.assert_array_equal(path.indices[4], rebuilt.indices[2])
    with pytest.raises(SpriteforgeError, match="at least 2"):
        kenney_run.interpolate(sprites.subset([0]), sprites.subset([1]), steps=1)
    with pytest.raises(SpriteforgeError, match="--size 16"):
        kenney_run.reconstruct(spriteforge.load_sprites(kenney_tiles, count=2, size=24))


def test_sample_n_zero_is_refused(kenney_run: spriteforge.Run) -> None:
    with pytest.raises(SpriteforgeError, match="--n 0"):
        kenney_run.sample(0)


def test_palette_swap(kenney_run: spriteforge.Run) -> None:
    gameboy = Palette.named("gameboy")
    for palette in ("gameboy", gameboy):
        sprites = kenney_run.sample(8, seed=1, palette=palette)
        assert sprites.palette == gameboy
        assert _colors(sprites.to_rgba()) <= _palette_colors(gameboy)
    # The swap keeps the shapes: transparent pixels stay transparent.
    plain = kenney_run.sample(8, seed=1)
    np.testing.assert_array_equal(sprites.indices == 0, plain.indices == 0)
    # Run.sample re-colours exactly as SpriteSet.with_palette does, with either remap method.
    nearest = kenney_run.sample(8, seed=1, palette="gameboy", remap="nearest")
    np.testing.assert_array_equal(nearest.indices, plain.with_palette(gameboy, "nearest").indices)


def test_run_files_follow_the_umask_like_other_files(kenney_run: spriteforge.Run) -> None:
    reference = stat.S_IMODE((kenney_run.path / "palette.hex").stat().st_mode)
    modes = {
        name: stat.S_IMODE((kenney_run.path / name).stat().st_mode)
        for name in ("config.yaml", "metrics.json", "weights.safetensors")
    }
    assert modes == {name: reference for name in modes}


# ---------------------------------------------------------------------- load_run on bad folders


@pytest.fixture
def run_copy(kenney_run: spriteforge.Run, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(kenney_run.path, copy)
    return copy


def test_load_run_on_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "a.png").write_bytes(b"x")
    with pytest.raises(SpriteforgeError) as caught:
        spriteforge.load_run(tmp_path / "stuff")
    assert "not a spriteforge run" in str(caught.value) and "stuff" in str(caught.value)
    with pytest.raises(SpriteforgeError):
        spriteforge.load_run(tmp_path / "missing")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_load_run_with_corrupt_weights(run_copy: Path, damage: str) -> None:
    weights = run_copy / "weights.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        {"garbage": b"\x00\xffnot safetensors" * 100, "truncated": data[: len(data) // 2], "empty": b""}[damage]
    )
    with pytest.raises(SpriteforgeError) as caught:
        spriteforge.load_run(run_copy)
    assert "weights.safetensors" in str(caught.value)
    assert "corrupt" in str(caught.value)


def test_load_run_with_missing_weights(run_copy: Path) -> None:
    (run_copy / "weights.safetensors").unlink()
    with pytest.raises(SpriteforgeError, match="missing"):
        spriteforge.load_run(run_copy)


def test_load_run_with_weights_of_another_config(run_copy: Path) -> None:
    config = run_copy / "config.yaml"
    text = config.read_text()
    assert "latent_dim: 4" in text
    config.write_text(text.replace("latent_dim: 4", "latent_dim: 6"))
    with pytest.raises(SpriteforgeError) as caught:
        spriteforge.load_run(run_copy)
    assert "do not belong" in str(caught.value) and "weights.safetensors" in str(caught.value)


def test_load_run_with_a_broken_config(run_copy: Path) -> None:
    (run_copy / "config.yaml").write_text("model: vae\nvae:\n  latent_dimm: 4\n")
    with pytest.raises(SpriteforgeError) as caught:
        spriteforge.load_run(run_copy)
    assert "config.yaml" in str(caught.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_resume_with_a_corrupt_checkpoint(run_copy: Path, damage: str) -> None:
    checkpoint = run_copy / "last.ckpt"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(b"garbage" * 50 if damage == "garbage" else data[: len(data) // 3])
    weights_before = (run_copy / "weights.safetensors").read_bytes()
    with pytest.raises(SpriteforgeError) as caught:
        spriteforge.resume(run_copy, ["train.max_steps=50"])
    assert "last.ckpt" in str(caught.value)
    assert (run_copy / "weights.safetensors").read_bytes() == weights_before


def test_resume_with_a_foreign_checkpoint(run_copy: Path, tmp_path: Path) -> None:
    # An AE with one level fewer: its checkpoint holds other tensor names than the run's VAE.
    other = spriteforge.train(
        "ae",
        "procedural",
        tmp_path / "other",
        overrides=[*AE_TINY, "ae.channels=[8]", "data.count=32", "train.max_steps=2"],
        logger="none",
    )
    shutil.copy(other.path / "last.ckpt", run_copy / "last.ckpt")
    with pytest.raises(SpriteforgeError) as caught:
        spriteforge.resume(run_copy, ["train.max_steps=50"])
    assert "does not match" in str(caught.value) and "last.ckpt" in str(caught.value)


def test_resume_with_a_foreign_checkpoint_of_the_same_layout(run_copy: Path, tmp_path: Path) -> None:
    other = spriteforge.train(
        "ae",
        "procedural",
        tmp_path / "other",
        overrides=[*AE_TINY, "data.count=32", "train.max_steps=2"],
        logger="none",
    )
    shutil.copy(other.path / "last.ckpt", run_copy / "last.ckpt")
    with pytest.raises(SpriteforgeError) as caught:
        spriteforge.resume(run_copy, ["train.max_steps=50"])
    assert "does not match" in str(caught.value)


def test_resume_without_a_checkpoint(run_copy: Path) -> None:
    (run_copy / "last.ckpt").unlink()
    with pytest.raises(SpriteforgeError, match="no last.ckpt"):
        spriteforge.resume(run_copy)


def test_train_refuses_an_existing_run(kenney_run: spriteforge.Run) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in kenney_run.path.iterdir()}
    with pytest.raises(SpriteforgeError, match="already holds a run"):
        spriteforge.train("vae", "procedural", kenney_run.path, overrides=VAE_TINY)
    assert {p.name: p.stat().st_mtime_ns for p in kenney_run.path.iterdir()} == before


# ---------------------------------------------------------------------- rgba representation


def test_rgba_mode_trains_and_snaps_to_the_palette(tmp_path: Path) -> None:
    run = spriteforge.train(
        "vae",
        "procedural",
        tmp_path / "rgba",
        overrides=[*VAE_TINY, "vae.representation=rgba", "data.count=64", "train.max_steps=8", "train.val_every=4"],
        logger="none",
    )
    assert run.model.representation == "rgba"
    adherence = run.metrics["val/palette_adherence"]
    assert 0.0 <= adherence <= 1.0
    assert 0.0 <= run.metrics["val/pixel_accuracy"] <= 1.0
    sprites = run.sample(16, seed=0)
    assert sprites.indices.shape == (16, 16, 16)
    assert int(sprites.indices.max()) < len(run.palette)
    assert _colors(sprites.to_rgba()) <= _palette_colors(run.palette)
    np.testing.assert_array_equal(run.sample(16, seed=0).indices, sprites.indices)


# ---------------------------------------------------------------------- resume: nothing lost


def _resume_pair(root: Path, extra: list[str], model: str = "ae") -> tuple[Path, Path]:
    """Run A: 20 steps straight; run B: 10 steps, then resumed to 20."""
    common = [o.replace("ae.", f"{model}.") if o.startswith("ae.") else o for o in RESUME] + extra
    a = spriteforge.train(model, "procedural", root / "A", overrides=[*common, "train.max_steps=20"], logger="none")
    b = spriteforge.train(model, "procedural", root / "B", overrides=[*common, "train.max_steps=10"], logger="none")
    assert _ckpt(b.path / "last.ckpt")["global_step"] == 10
    resumed = spriteforge.resume(b.path, ["train.max_steps=20"])
    assert resumed.metrics["steps"] == 20 and _ckpt(resumed.path / "last.ckpt")["global_step"] == 20
    assert load_config(resumed.path / "config.yaml").train.max_steps == 20
    return a.path, b.path


@pytest.fixture(scope="module")
def flat_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _resume_pair(tmp_path_factory.mktemp("resume_flat"), FLAT_LR)


def test_resume_loses_nothing(flat_pair: tuple[Path, Path]) -> None:
    """Data order, optimiser state, LR schedule and the AE's latent statistics all continue exactly."""
    a, b = flat_pair
    equal, differing = _weights_equal(a / "weights.safetensors", b / "weights.safetensors")
    assert equal, differing
    state_a, state_b = _ckpt(a / "last.ckpt"), _ckpt(b / "last.ckpt")
    assert state_a["loops"]["fit_loop"]["state_dict"] == state_b["loops"]["fit_loop"]["state_dict"]
    for group_a, group_b in zip(
        state_a["optimizer_states"][0]["state"].values(), state_b["optimizer_states"][0]["state"].values()
    ):
        assert torch.equal(group_a["exp_avg"], group_b["exp_avg"])
    assert state_a["lr_schedulers"][0]["last_epoch"] == state_b["lr_schedulers"][0]["last_epoch"] == 20


def test_resume_after_ctrl_c_loses_nothing(
    flat_pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt raised inside a step by code (not by a signal, which StopSignals defers to the step's
    end): no checkpoint is written half-way through the step; the last periodic one resumes exactly."""
    a, _ = flat_pair
    original = module_file.SpriteModule.training_step

    def interrupted(self, batch, batch_idx):
        if self.global_step == 10:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    monkeypatch.setattr(module_file.SpriteModule, "training_step", interrupted)
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):  # Lightning shuts down gracefully and exits after Ctrl-C
            spriteforge.train(
                "ae", "procedural", tmp_path / "B", overrides=[*RESUME, *FLAT_LR, "train.max_steps=20"], logger="none"
            )
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores further Ctrl-C after the first
    monkeypatch.setattr(module_file.SpriteModule, "training_step", original)
    assert _ckpt(tmp_path / "B" / "last.ckpt")["global_step"] == 10
    assert not (tmp_path / "B" / ".last.ckpt.partial").exists()
    spriteforge.resume(tmp_path / "B")
    equal, differing = _weights_equal(a / "weights.safetensors", tmp_path / "B" / "weights.safetensors")
    assert equal, differing


def test_resume_of_a_stochastic_model_loses_nothing(tmp_path: Path) -> None:
    a, b = _resume_pair(tmp_path, FLAT_LR, model="vae")
    equal, differing = _weights_equal(a / "weights.safetensors", b / "weights.safetensors")
    assert equal, differing


def test_resume_after_a_crash_from_a_periodic_checkpoint_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed at step 13 resumes from its step-10 checkpoint (written mid-run, with EMA, a stochastic model
    and validations in between) and ends with exactly the weights of an uninterrupted run."""
    common = [o.replace("ae.", "vae.") if o.startswith("ae.") else o for o in RESUME]
    common += [*FLAT_LR, "train.ema=true", "train.ema_decay=0.9", "train.max_steps=20"]
    straight = spriteforge.train("vae", "procedural", tmp_path / "A", overrides=common, logger="none")
    original = module_file.SpriteModule.training_step

    def crash(self, batch, batch_idx):
        if self.global_step == 13:
            raise RuntimeError("the machine went away")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(module_file.SpriteModule, "training_step", crash)
    with pytest.raises(RuntimeError, match="went away"):
        spriteforge.train("vae", "procedural", tmp_path / "B", overrides=common, logger="none")
    monkeypatch.setattr(module_file.SpriteModule, "training_step", original)
    assert _ckpt(tmp_path / "B" / "last.ckpt")["global_step"] == 10
    resumed = spriteforge.resume(tmp_path / "B")
    equal, differing = _weights_equal(straight.path / "weights.safetensors", resumed.path / "weights.safetensors")
    assert equal, differing


# ---------------------------------------------------------------------- EMA


def test_ema_weights_are_saved_as_the_run_weights(tmp_path: Path) -> None:
    run = spriteforge.train(
        "vae",
        "procedural",
        tmp_path / "ema",
        overrides=[
            *VAE_TINY,
            "data.count=32",
            "train.max_steps=6",
            "train.ema=true",
            "train.ema_decay=0.8",
            "train.val_every=3",
        ],
        logger="none",
    )
    weights = load_file(str(run.path / "weights.safetensors"))
    state = _ckpt(run.path / "last.ckpt")["state_dict"]
    raw = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    ema = {k.removeprefix("ema.model."): v for k, v in state.items() if k.startswith("ema.model.")}
    assert weights.keys() == raw.keys() == ema.keys()
    for key in weights:
        assert torch.equal(weights[key], ema[key]), key
    parameters = {name for name, _ in run.model.named_parameters()}
    assert any(not torch.equal(weights[k], raw[k]) for k in parameters), "EMA weights equal the raw weights"


# ---------------------------------------------------------------------- atomic checkpoints


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = L.Trainer.save_checkpoint

    def failing(self, filepath, *args, **kwargs):
        calls.append(Path(filepath).name)
        if len(calls) == 2:  # the second write dies half-way
            Path(filepath).write_bytes(b"PK\x03\x04half a checkpoint")
            raise OSError(28, "No space left on device")
        return original(self, filepath, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "save_checkpoint", failing)
    out = tmp_path / "atomic"
    with pytest.raises(OSError):
        spriteforge.train(
            "ae",
            "procedural",
            out,
            overrides=[*AE_TINY, "data.count=32", "train.max_steps=10", "train.checkpoint_every=3"],
            logger="none",
        )
    assert calls[0] == ".last.ckpt.partial"  # written beside, then renamed
    assert _ckpt(out / "last.ckpt")["global_step"] == 3  # the first, complete checkpoint survives


# ---------------------------------------------------------------------- loggers


def _mlflow_run(out: Path) -> spriteforge.Run:
    return spriteforge.train(
        "vae",
        "procedural",
        out,
        overrides=[*VAE_TINY, "data.count=32", "train.max_steps=4", "train.sample_every=2", "train.val_every=2"],
        logger="mlflow",
    )


def test_mlflow_default_is_a_sqlite_file_beside_the_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "runs"
    run = _mlflow_run(root / "m1")
    database = root / "mlflow.db"
    assert database.is_file()
    artifacts = sorted(p.name for p in (root / "mlartifacts").rglob("*.png"))
    assert "step_000002.png" in artifacts and "step_000004.png" in artifacts
    with sqlite3.connect(database) as connection:
        runs = connection.execute("select name, status from runs").fetchall()
        keys = {row[0] for row in connection.execute("select key from metrics")}
        params = {row[0] for row in connection.execute("select key from params")}
    assert runs == [("m1", "FINISHED")]
    assert {"train/loss", "val/loss", "val/palette_adherence"} <= keys
    assert {"model", "train.max_steps", "vae.latent_dim"} <= params
    assert run.path == root / "m1"
    assert not (tmp_path / "mlruns").exists()  # nothing written into the working directory


def test_mlflow_tracking_uri_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = tmp_path / "tracking" / "custom.db"
    custom.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{custom}")
    _mlflow_run(tmp_path / "runs" / "m2")
    assert custom.is_file()
    assert not (tmp_path / "runs" / "mlflow.db").exists()
    with sqlite3.connect(custom) as connection:
        assert connection.execute("select name from runs").fetchall() == [("m2",)]


def test_a_resumed_run_continues_its_mlflow_run_and_its_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "runs"
    first = _mlflow_run(root / "m3")
    resumed = spriteforge.resume(first.path, ["train.max_steps=8"])
    with sqlite3.connect(root / "mlflow.db") as connection:
        assert connection.execute("select name, status from runs").fetchall() == [("m3", "FINISHED")]
        steps = {row[0] for row in connection.execute("select step from metrics where key = 'train/loss'")}
    assert max(steps) >= 4  # the resumed steps were logged into the same MLflow run
    assert resumed.metrics["steps"] == 8
    assert resumed.metrics["wall_seconds"] > first.metrics["wall_seconds"]  # the clock includes the first part


def test_tensorboard_writes_event_files(tmp_path: Path) -> None:
    run = spriteforge.train(
        "vae",
        "procedural",
        tmp_path / "tb",
        overrides=[*VAE_TINY, "data.count=32", "train.max_steps=4", "train.sample_every=2", "train.val_every=2"],
        logger="tensorboard",
    )
    events = list((run.path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and sum(e.stat().st_size for e in events) > 0


def test_unknown_logger_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpriteforgeError) as caught:
        spriteforge.train("vae", "procedural", tmp_path / "x", overrides=[*VAE_TINY, "data.count=32"], logger="wandb")
    assert "wandb" in str(caught.value) and "mlflow" in str(caught.value)


@pytest.mark.parametrize(
    "bad",
    [["train.logger=wandb"], ["vae.channels=[8,16,32,64,128]"]],
    ids=["unknown-logger", "size-not-divisible"],
)
def test_a_failed_train_leaves_no_half_written_run(tmp_path: Path, bad: list[str]) -> None:
    out = tmp_path / "half"
    with pytest.raises(SpriteforgeError):
        spriteforge.train("vae", "procedural", out, overrides=[*VAE_TINY, "data.count=32", "train.max_steps=2", *bad])
    assert not (out / "config.yaml").exists(), sorted(p.name for p in out.iterdir())


def test_ema_decay_warms_up() -> None:
    """After t updates the decay is min(decay, (1 + t) / (10 + t)): the first update keeps only 10% of the start."""
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = module_file.EMA(model, decay=0.999)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    assert ema.model.weight.item() == pytest.approx(0.9)  # decay 0.1 at t=0
    ema.update(model)
    assert ema.model.weight.item() == pytest.approx(1.0 - 0.1 * (2 / 11))  # decay 2/11 at t=1
    assert int(ema.updates) == 2


def test_csv_log_keeps_earlier_rows_across_a_resume(tmp_path: Path) -> None:
    out = tmp_path / "csv"
    overrides = [*AE_TINY, "data.count=32", "train.max_steps=6", "train.val_every=3", "train.sample_every=0"]
    spriteforge.train("ae", "procedural", out, overrides=overrides, logger="csv")
    before = (out / "logs" / "metrics.csv").read_text().splitlines()
    spriteforge.resume(out, ["train.max_steps=12"])
    after = (out / "logs" / "metrics.csv").read_text().splitlines()
    steps = [int(float(line.split(",")[after[0].split(",").index("step")])) for line in after[1:]]
    assert len(after) > len(before) and min(steps) < 6 < max(steps)
    assert len(set(after[1:])) == len(after) - 1  # no row written twice


# ---------------------------------------------------------------------- the fast path


def _module(overrides: list[str]) -> module_file.SpriteModule:
    from spriteforge.data.sprites import load_sprites
    from spriteforge.engine.batches import SpriteBatches
    from spriteforge.engine.config import build_config
    from spriteforge.engine.run import build_model, data_spec

    sprites = load_sprites("procedural", size=16, count=16)
    config = build_config("vae", overrides=[*VAE_TINY, *overrides])
    model = build_model(config, data_spec(sprites.palette, *sprites.size, None))
    batches = SpriteBatches(sprites.indices, None, 8, num_colors=len(sprites.palette), shuffle=True)
    return module_file.SpriteModule(model, config.train, batches, None)


def test_convolution_weights_are_channels_last_unless_turned_off() -> None:
    on, off = _module(["train.ema=true"]), _module(["train.channels_last=false"])
    convs = [m.weight for m in on.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convs)
    ema_convs = [m.weight for m in on.ema.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in ema_convs)  # copied after the change
    assert all(m.weight.is_contiguous() for m in off.modules() if isinstance(m, torch.nn.Conv2d))


def test_the_optimiser_is_fused_adamw() -> None:
    optimizer = _module([]).configure_optimizers()["optimizer"]
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"] is True


def test_training_terms_are_logged_only_on_the_steps_the_logger_writes(tmp_path: Path) -> None:
    """64 sprites, 58 for training = 3 whole batches of 16 per epoch, so the logger writes every 3rd step: the
    module logs those and no others, also after a resume (whose step count Lightning keeps one ahead)."""
    out = tmp_path / "logged"
    overrides = [*AE_TINY, "data.count=64", "train.max_steps=12", "train.val_every=100", "train.sample_every=0"]
    spriteforge.train("ae", "procedural", out, overrides=overrides, logger="csv")
    spriteforge.resume(out, ["train.max_steps=20"])
    with (out / "logs" / "metrics.csv").open() as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle) if row.get("train/loss")]
    assert steps == [2, 5, 8, 11, 14, 17]


def test_compiled_training_trains(tmp_path: Path) -> None:
    """train.compile=true runs the training loss through torch.compile (forward and backward) and still learns."""
    from torch._dynamo.utils import counters

    counters.clear()
    overrides = [
        *AE_TINY,
        "data.count=64",
        "train.max_steps=12",
        "train.val_every=100",
        "train.sample_every=0",
        "train.compile=true",
        "train.lr=5e-3",
        "train.warmup_steps=0",
    ]
    run = spriteforge.train("ae", "procedural", tmp_path / "compiled", overrides=overrides, logger="csv")
    assert counters["frames"]["ok"] >= 1  # dynamo captured the loss
    with (run.path / "logs" / "metrics.csv").open() as handle:
        losses = [float(row["train/loss"]) for row in csv.DictReader(handle) if row.get("train/loss")]
    assert len(losses) == 4 and losses[-1] < losses[0]  # steps 2, 5, 8, 11


def test_the_progress_bar_counts_steps_not_epochs(tmp_path: Path) -> None:
    # Training length is max_steps (Lightning's max_epochs is -1): the bar read "Epoch 35/-2" before.
    from spriteforge.engine.callbacks import StepProgressBar
    from spriteforge.engine.config import TrainConfig
    from spriteforge.engine.train import _trainer

    trainer = _trainer(TrainConfig(max_steps=500, progress=True), False, [], 10, False, tmp_path)
    bar = trainer.progress_bar_callback
    assert isinstance(bar, StepProgressBar)
    bar.setup(trainer, None, "fit")
    assert bar.total_train_batches == 500
    description = bar._get_train_description(35)
    assert "Epoch" not in description and "-2" not in description and description.strip() == "Training"
    quiet = _trainer(TrainConfig(max_steps=500, progress=False), False, [], 10, False, tmp_path)
    assert quiet.progress_bar_callback is None


@pytest.mark.parametrize("model", ["discrete_diffusion", "vqvae"])
def test_bf16_mixed_precision_trains_with_gradient_clipping(
    model: str, kenney_tiles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bf16 autocast (the default on a GPU) with the fused AdamW and norm clipping: Lightning's mixed-precision plugin
    refuses to clip for a fused optimizer, which once stopped every GPU training at its first step. The CPU runs the
    same plugin, so this is caught here; the clipping must still happen."""
    clipped: list[float] = []
    original = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda p, v, *a, **k: clipped.append(v) or original(p, v))
    overrides = ["train.precision=bf16-mixed", "train.max_steps=2", "train.grad_clip=0.5", "data.count=16"]
    run = spriteforge.train(model, kenney_tiles, tmp_path / "run", overrides=overrides, preset="tiny", logger="none")
    weights = load_file(str(run.path / "weights.safetensors"))
    assert all(torch.isfinite(w.float()).all() for w in weights.values())
    assert clipped == [0.5, 0.5]
