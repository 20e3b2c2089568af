"""Training and run folders under faults: signals, kills, interrupted final writes, damaged or hostile run files,
and two writers at once (issue 19). Real subprocesses where the process itself is what is tested.

Runs are tiny (an AE with channels [8,16] on 64 procedural sprites, a few ms a step), so the module stays short.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import spriteforge
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from spriteforge.engine import run as runfiles
from spriteforge.engine.config import DataConfig, TrainConfig
from spriteforge.errors import Interrupted, SpriteforgeError

from test_cli import fails  # the real entry point must exit 2 with a message naming what it mentions

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "ae.channels=[8,16]",
    "ae.latent_dim=4",
    "train.batch_size=16",
    "train.progress=false",
    "data.count=64",
    "train.checkpoint_every=5",
    "train.val_every=10",
    "train.warmup_steps=3",
    "train.sample_every=0",
    "train.min_lr_ratio=1.0",
]
STEPS = 300  # about 2 s of training: long enough to be stopped several times after the first checkpoint


def _weights_equal(a: Path, b: Path) -> bool:
    first, second = load_file(str(a)), load_file(str(b))
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def _step(run: Path) -> int:
    return torch.load(run / "last.ckpt", map_location="cpu", weights_only=True)["global_step"]


def _cli(*args: object) -> subprocess.Popen:
    """`python -m spriteforge.cli ARGS` in its own process, with this checkout on the path."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "300"}
    command = [sys.executable, "-m", "spriteforge.cli", *map(str, args)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_new_checkpoint(process: subprocess.Popen, run: Path, previous: int | None, timeout: float = 60) -> bool:
    """True once `process` has written a checkpoint other than inode `previous`; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (run / "last.ckpt").stat().st_ino != previous:
                return True
        except FileNotFoundError:
            pass
        if process.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError(f"no checkpoint in {run} after {timeout} s")


def _inode(path: Path) -> int | None:
    return path.stat().st_ino if path.exists() else None


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run every stopped-and-resumed one must equal, bit for bit."""
    out = tmp_path_factory.mktemp("straight") / "run"
    spriteforge.train("ae", "procedural", out, overrides=[*TINY, f"train.max_steps={STEPS}"], logger="none")
    return out


# ---------------------------------------------------------------------- signals and kills, in real processes


def test_signals_and_kills_stop_cleanly_and_resume_to_the_same_weights(straight: Path, tmp_path: Path) -> None:
    """SIGINT, SIGTERM and random SIGKILLs, each at a random moment after a checkpoint, each followed by a resume
    of the same folder: every stop leaves a resumable run, and the end is bit-identical to the uninterrupted run.
    While a process trains, a second writer is refused (the folder's lock), and a killed one leaves no stuck lock."""
    run, chance = tmp_path / "run", random.Random()
    stops = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGKILL]
    process = _cli("train", "--model", "ae", "--out", run, "--logger", "none", "--steps", STEPS, *_sets(TINY))
    for number, stop in enumerate(stops):
        if number:
            process = _cli("train", "--resume", run)
        if not _wait_for_new_checkpoint(process, run, _inode(run / "last.ckpt") if number else None):
            break  # it finished before it could be stopped: nothing left to test with this process
        if number == 0:
            with pytest.raises(SpriteforgeError, match="another process is training into this run folder"):
                spriteforge.resume(run)
        time.sleep(chance.uniform(0, 0.3))
        process.send_signal(stop)
        out, err = process.communicate(timeout=120)
        if process.returncode == 0:
            break
        assert "Traceback" not in err, err
        assert not (run / "weights.safetensors").exists() and not (run / "metrics.json").exists()
        if stop != signal.SIGKILL:
            assert process.returncode == 128 + stop, out + err
            line = f"interrupted at step {_step(run)}; resume with `spriteforge train --resume {run}`"
            assert line in " ".join(err.split()), err
    resumed = spriteforge.resume(run)
    assert resumed.metrics["steps"] == STEPS
    assert _weights_equal(straight / "weights.safetensors", run / "weights.safetensors")


def _sets(overrides: list[str]) -> list[str]:
    return [part for item in overrides for part in ("--set", item)]


def test_a_signal_in_the_middle_of_a_step_waits_for_its_end(
    straight: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C arriving inside a training step (here, before its backward pass and optimizer step): the step
    completes, is checkpointed, and the resumed run equals the uninterrupted one."""
    original = spriteforge.engine.module.SpriteModule.training_step
    handler_before = signal.getsignal(signal.SIGINT)  # Python's, or SIG_IGN where the suite runs as a background job

    def signalled(self, batch, batch_idx):
        if self.global_step == 12:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(spriteforge.engine.module.SpriteModule, "training_step", signalled)
    run = tmp_path / "run"
    with pytest.raises(Interrupted) as caught:
        spriteforge.train("ae", "procedural", run, overrides=[*TINY, f"train.max_steps={STEPS}"], logger="none")
    assert caught.value.exit_code == 130 and caught.value.step == 13 == _step(run)
    assert signal.getsignal(signal.SIGINT) is handler_before  # the handlers are given back
    monkeypatch.setattr(spriteforge.engine.module.SpriteModule, "training_step", original)
    spriteforge.resume(run)
    assert _weights_equal(straight / "weights.safetensors", run / "weights.safetensors")


# ---------------------------------------------------------------------- a kill during the final writes


def test_a_run_killed_during_its_final_writes_is_finished_by_resume(
    straight: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """last.ckpt at max_steps is written, then the process dies before weights.safetensors and metrics.json:
    `sample` points to --resume, and --resume writes them from the checkpoint without training further."""

    def dies(*args: object) -> None:
        raise OSError(5, "the machine went away")

    monkeypatch.setattr(runfiles, "save_weights", dies)
    run = tmp_path / "run"
    with pytest.raises(OSError, match="went away"):
        spriteforge.train("ae", "procedural", run, overrides=[*TINY, f"train.max_steps={STEPS}"], logger="none")
    monkeypatch.undo()
    assert _step(run) == STEPS and not (run / "weights.safetensors").exists() and not (run / "metrics.json").exists()
    fails(monkeypatch, capsys, "sample", run, "--out", tmp_path / "s.png", mentions=(f"train --resume {run}",))
    finished = spriteforge.resume(run)
    assert _step(run) == STEPS and finished.metrics["steps"] == STEPS and "val/loss" in finished.metrics
    assert _weights_equal(straight / "weights.safetensors", run / "weights.safetensors")
    (run / "metrics.json").unlink()  # killed after the weights, before the metrics
    assert spriteforge.resume(run).metrics["steps"] == STEPS
    with pytest.raises(SpriteforgeError, match="already trained"):
        spriteforge.resume(run)


# ---------------------------------------------------------------------- one writer per run folder


def test_a_run_folder_has_one_writer(straight: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    with runfiles.single_writer(straight):
        mentions = (f"{straight}: another process is training into this run folder",)
        fails(monkeypatch, capsys, "train", "--resume", straight, "--steps", STEPS + 5, mentions=mentions)
    with runfiles.single_writer(straight):  # released when the holder let go
        pass


# ---------------------------------------------------------------------- damaged run files


@pytest.fixture
def short_run(tmp_path: Path) -> Path:
    """A finished 10-step run (checkpoint at step 10), copied fresh for each test that damages it."""
    out = tmp_path / "short"
    spriteforge.train("ae", "procedural", out, overrides=[*TINY, "train.max_steps=10"], logger="none")
    return out


def _rewrite_checkpoint(run: Path, change) -> None:
    state = torch.load(run / "last.ckpt", map_location="cpu", weights_only=True)
    change(state)
    torch.save(state, run / "last.ckpt")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda s: s.pop("optimizer_states"), "'optimizer_states' is missing"),
        (lambda s: s.update(global_step="10"), "'global_step' is '10'"),
        (lambda s: s.update(global_step=-3), "'global_step' is -3"),
        (lambda s: s.pop("loops"), "'loops' is missing"),
        (lambda s: s["loops"]["fit_loop"]["state_dict"].clear(), "combined_loader"),
        (lambda s: s["optimizer_states"][0].pop("param_groups"), "optimizer_states[0]"),
        (lambda s: next(iter(s["state_dict"].values())).fill_(float("nan")), "NaN"),
        (lambda s: s["callbacks"].clear(), "callbacks.RunWriter"),
    ],
    ids=[
        "no-optimizer",
        "step-a-string",
        "step-negative",
        "no-loops",
        "no-data-position",
        "bad-optimizer",
        "nan",
        "no-writer",
    ],
)
def test_a_damaged_checkpoint_is_refused_naming_the_key(
    short_run: Path, change, named: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _rewrite_checkpoint(short_run, change)
    fails(monkeypatch, capsys, "train", "--resume", short_run, "--steps", 12, mentions=(short_run / "last.ckpt", named))


@pytest.mark.parametrize(("key", "value"), [("size", -4), ("size", 10**12), ("count", 10**15), ("max_colors", 1)])
def test_out_of_range_config_values_are_refused_naming_the_key(
    short_run: Path, key: str, value: int, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    config = yaml.safe_load((short_run / "config.yaml").read_text())
    config["data"][key] = value
    (short_run / "config.yaml").write_text(yaml.safe_dump(config))
    for command in (["sample", short_run, "--out", short_run / "s.png"], ["train", "--resume", short_run]):
        fails(monkeypatch, capsys, *command, mentions=(f"{short_run / 'config.yaml'}: data.{key}={value}",))


def test_nan_weights_are_refused_naming_the_tensor(short_run: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    tensors = load_file(str(short_run / "weights.safetensors"))
    name = sorted(tensors)[0]
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(short_run / "weights.safetensors"))
    mentions = (f"{short_run / 'weights.safetensors'}: tensor {name!r} holds NaN",)
    fails(monkeypatch, capsys, "sample", short_run, "--out", short_run / "s.png", mentions=mentions)


# ---------------------------------------------------------------------- hostile contents (Hypothesis)

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
CONFIG_KEYS = [f"data.{f}" for f in DataConfig.__dataclass_fields__] + [
    f"train.{f}" for f in TrainConfig.__dataclass_fields__
]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=st.dictionaries(st.sampled_from([*CONFIG_KEYS, "model", "data", "train", "ae"]), ODD_VALUES, max_size=3))
def test_hostile_config_values_load_or_are_refused(straight: Path, tmp_path_factory, changes: dict) -> None:
    run = tmp_path_factory.mktemp("hostile_config")
    for name in ("config.yaml", "palette.hex", "labels.json", "weights.safetensors"):
        shutil.copy(straight / name, run / name)
    config = yaml.safe_load((straight / "config.yaml").read_text())
    for key, value in changes.items():
        section, _, field = key.partition(".")
        if field and isinstance(config.get(section), dict):
            config[section][field] = value
        else:
            config[section] = value
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    try:
        spriteforge.load_run(run)
    except SpriteforgeError:
        pass


def _mutations(state: dict) -> st.SearchStrategy:
    """(path of keys into the checkpoint, action): delete that entry or replace it with an odd value."""
    paths = []

    def walk(node: object, path: tuple) -> None:
        if isinstance(node, dict) and len(path) < 6:
            for key, value in node.items():
                paths.append((*path, key))
                walk(value, (*path, key))
        elif isinstance(node, list) and len(path) < 6:
            for index, value in enumerate(node[:2]):
                paths.append((*path, index))
                walk(value, (*path, index))

    walk(state, ())
    odd = st.one_of(ODD_VALUES, st.just(torch.zeros(3)), st.just(torch.full((2,), float("nan"))))
    return st.lists(st.tuples(st.sampled_from(paths), st.one_of(st.just("delete"), odd)), min_size=1, max_size=3)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_checkpoints_resume_or_are_refused(straight: Path, tmp_path_factory, data: st.DataObject) -> None:
    """A checkpoint with entries deleted or replaced (saved with torch.save): resuming it either works (one more
    step) or raises SpriteforgeError; never another exception."""
    run = tmp_path_factory.mktemp("hostile_checkpoint")
    for name in ("config.yaml", "palette.hex", "labels.json"):
        shutil.copy(straight / name, run / name)
    state = torch.load(straight / "last.ckpt", map_location="cpu", weights_only=True)
    for path, action in data.draw(_mutations(state)):
        parent = state
        for key in path[:-1]:
            parent = parent[key] if isinstance(parent, (dict, list)) and _has(parent, key) else None
        if parent is None or not _has(parent, path[-1]):
            continue
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = action
    torch.save(state, run / "last.ckpt")
    try:
        spriteforge.resume(run, [f"train.max_steps={STEPS + 1}"])
    except SpriteforgeError:
        pass


def _has(container: dict | list, key: object) -> bool:
    return key in container if isinstance(container, dict) else isinstance(key, int) and key < len(container)
