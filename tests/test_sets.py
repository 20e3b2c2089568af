"""Sets as sheets (data/sets.py) and completing them (Run.complete, `spriteforge complete`), on real LPC characters.

A few characters of lpc_views are copied into tmp folders in both layouts (a CSV naming set and slot columns, and a
folder per character); tiny discrete-diffusion and ddpm runs are trained on their sheets for a few steps.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import spriteforge as sf
from spriteforge import cli, io
from spriteforge.data.sets import load_sheets
from typer.testing import CliRunner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

CHARACTERS = 6
VIEWS = ("back", "left", "front", "right")  # lpc_views' view folders 0..3
SHEET_CSV = ["data.sheet_set_column=character_id", "data.sheet_slot_column=view"]
TINY = ["train.batch_size=4", "train.progress=false", "train.val_fraction=0", "train.sample_every=0", "data.size=32"]


@pytest.fixture(scope="module")
def lpc(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first characters of lpc_views in its own layout (VIEW/ID.png) with a labels.csv naming them."""
    source = test_data / "lpc_views"
    if not source.is_dir():
        pytest.skip(f"{source} not found")
    folder = tmp_path_factory.mktemp("lpc") / "views"
    rows = ["file,character_id,view"]
    for view in range(len(VIEWS)):
        (folder / str(view)).mkdir(parents=True)
        for character in range(CHARACTERS):
            shutil.copy(source / str(view) / f"{character}.png", folder / str(view) / f"{character}.png")
            rows.append(f"{view}/{character}.png,{character},{view}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def by_folder(lpc: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same characters as one folder per character, files named so that name order is view order."""
    folder = tmp_path_factory.mktemp("lpc") / "characters"
    for character in range(CHARACTERS):
        (folder / f"hero{character}").mkdir(parents=True)
        for view, name in enumerate(VIEWS):
            shutil.copy(lpc / str(view) / f"{character}.png", folder / f"hero{character}" / f"{view}_{name}.png")
    return folder


@pytest.fixture(scope="module")
def sheet_run(lpc: Path, tmp_path_factory: pytest.TempPathFactory) -> sf.Run:
    """A tiny discrete diffusion trained for 2 steps on the characters' sheets, at 32x32 per view (cropped), in 16
    colours rather than 256 (a cheaper k-means palette, 17 one-hot channels in and 16 logits out instead of 257 and
    256: in 256 colours this setup took 280 s and the tests' completions minutes on the shared 2-core CPU)."""
    overrides = [f"data.sheet_csv={lpc / 'labels.csv'}", *SHEET_CSV, *TINY, "data.crop=true", "train.max_steps=2"]
    overrides.append("data.max_colors=16")
    out = tmp_path_factory.mktemp("runs") / "views"
    return sf.train("discrete_diffusion", lpc, out, preset="tiny", overrides=overrides, logger="none")


def test_csv_and_folder_layouts_give_the_same_sheets(lpc: Path, by_folder: Path) -> None:
    from_csv = load_sheets(lpc, csv=lpc / "labels.csv", set_column="character_id", slot_column="view")
    from_folders = load_sheets(by_folder)
    assert from_csv.indices.shape == (CHARACTERS, 64, 4 * 64) and from_csv.slots == 4
    assert from_csv.names == [str(c) for c in range(CHARACTERS)]
    assert from_folders.names == [f"hero{c}" for c in range(CHARACTERS)]
    assert np.array_equal(from_csv.to_rgba(), from_folders.to_rgba())
    # slot k of a sheet is exactly view k of that character
    front = io.read_rgba(lpc / "2" / "3.png")
    visible = front[..., 3] >= 128
    assert np.array_equal(from_csv.slot(2).to_rgba()[3][visible], front[visible])


def test_incomplete_sets_are_left_out_and_reported(by_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "characters"
    shutil.copytree(by_folder, folder)
    (folder / "hero2" / "3_right.png").unlink()
    sheets = load_sheets(folder, count=3)
    assert sheets.names == ["hero0", "hero1", "hero3"]
    assert sheets.report is not None and sheets.report.incomplete_sets == ["hero2"]
    assert "left out 1 set(s) with a slot missing, e.g. hero2" in sheets.report.summary()


@pytest.mark.parametrize(
    ("csv_text", "columns", "mentions"),
    [
        ("file,set,slot\n", {}, "no rows"),
        ("file,character_id,view\n0/0.png,0,0\n", {}, "no column 'set', 'slot'"),
        ("file,set,slot\n0/0.png,a,front\n", {}, "slots (slot) are whole numbers"),
    ],
)
def test_bad_sheet_csv_is_explained(lpc: Path, tmp_path: Path, csv_text: str, columns: dict, mentions: str) -> None:
    folder = tmp_path / "one"
    (folder / "0").mkdir(parents=True)
    shutil.copy(lpc / "0" / "0.png", folder / "0" / "0.png")
    (folder / "sets.csv").write_text(csv_text)
    with pytest.raises(sf.SpriteforgeError, match="sets.csv") as caught:
        load_sheets(folder, csv=folder / "sets.csv", **columns)
    assert mentions in str(caught.value)


def test_loose_files_and_conflicting_settings_are_refused(by_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(sf.SpriteforgeError, match="lie at the top"):
        load_sheets(by_folder / "hero0")
    from spriteforge.engine.config import build_config

    with pytest.raises(sf.SpriteforgeError, match="data.augment.flip cannot be used with sheets"):
        build_config("discrete_diffusion", overrides=["data.sheet=true", "data.augment.flip=true"])
    with pytest.raises(sf.SpriteforgeError, match="data.slots is for sheets"):
        build_config("discrete_diffusion", overrides=["data.slots=4"])
    with pytest.raises(sf.SpriteforgeError, match="data.labels cannot be used with sheets"):
        sf.train(
            "discrete_diffusion", by_folder, tmp_path / "run", labels=tmp_path / "x.csv", overrides=["data.sheet=true"]
        )
    assert not (tmp_path / "run").exists()


def test_complete_keeps_given_slots_bit_exact_in_one_palette(sheet_run: sf.Run, lpc: Path) -> None:
    assert sheet_run.model.spec.width == 4 * 32 and sheet_run.slots == 4
    assert (sheet_run.metrics["slots"], sheet_run.metrics["incomplete_sets_left_out"]) == (4, 0)
    reloaded = sf.load_run(sheet_run.path)  # the run rebuilds its sheet-wide model from config.yaml
    data = reloaded.training_data()
    front, back = data.slot(2).to_rgba()[1], data.slot(0).to_rgba()[1]  # colours of the run's palette
    sets = reloaded.complete({2: front, 0: back}, n=3, seed=0, steps=8)
    assert sets.indices.shape == (3, 32, 128) and sets.slots == 4
    rgba = sets.to_rgba()
    assert np.array_equal(rgba[:, :, 64:96], np.broadcast_to(front, (3, 32, 32, 4)))
    assert np.array_equal(rgba[:, :, 0:32], np.broadcast_to(back, (3, 32, 32, 4)))
    palette = {tuple(c) for c in reloaded.palette.colors.tolist()}
    assert {tuple(c) for c in rgba.reshape(-1, 4).tolist()} <= palette
    again = reloaded.complete({2: front, 0: back}, n=3, seed=0, steps=8)
    assert np.array_equal(again.indices, sets.indices)


def test_complete_refuses_bad_input(sheet_run: sf.Run, served: Path) -> None:
    sprite = np.zeros((32, 32, 4), np.uint8)
    with pytest.raises(sf.SpriteforgeError, match="slot 4 is out of range: this run's sheets have 4 slots"):
        sheet_run.complete({4: sprite})
    with pytest.raises(sf.SpriteforgeError, match="the sprite for slot 1 is 16x16 but this run's sprites are 32x32"):
        sheet_run.complete({1: sprite[:16, :16]})
    with pytest.raises(sf.SpriteforgeError, match="all 4 slots are given"):
        sheet_run.complete(dict.fromkeys(range(4), sprite))
    single = sf.load_run(served / "kenney" / "discrete")
    with pytest.raises(sf.SpriteforgeError, match="trained on single sprites, not sheets"):
        single.complete({0: sprite})


def test_gaussian_diffusion_trains_on_sheets_and_completes(by_folder: Path, tmp_path: Path) -> None:
    overrides = ["data.sheet=true", *TINY, "data.crop=true", "train.max_steps=1", "data.max_colors=16"]
    run = sf.train("ddpm", by_folder, tmp_path / "ddpm", preset="tiny", overrides=overrides, logger="none")
    front = run.training_data().slot(2).to_rgba()[0]
    sets = run.complete({2: front}, n=2, seed=1, steps=2)
    assert np.array_equal(sets.slot(2).to_rgba(), np.broadcast_to(front, (2, 32, 32, 4)))


def test_complete_command(sheet_run: sf.Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    front = tmp_path / "front.png"
    io.write_png(front, sheet_run.training_data().slot(2).to_rgba()[0])
    out, each = tmp_path / "views.png", tmp_path / "each"
    args = ["complete", str(sheet_run.path), "--given", str(front), "--slot", "2", "--n", "2", "--seed", "0"]
    args += ["--steps", "8"]
    result = CliRunner().invoke(cli.app, [*args, "--out", str(out), "--each", str(each), "--scale", "1"])
    assert result.exit_code == 0, result.output
    assert io.read_rgba(out).shape == (1 + 3 * 33, 2 + 128, 4)  # the given row and 2 sets, 1-pixel gaps
    sheets = sorted(each.glob("*.png"))
    assert len(sheets) == 2 and io.read_rgba(sheets[0]).shape == (32, 128, 4)
    for bad, mentions in (
        (["--slot", "7"], "slot 7 is out of range"),
        (["--slot", "1", "--slot", "2"], "1 --given but 2 --slot"),
    ):
        monkeypatch.setattr(sys, "argv", ["spriteforge", "complete", str(sheet_run.path), "--given", str(front), *bad])
        with pytest.raises(SystemExit) as caught:
            cli.main()
        err = capsys.readouterr().err
        assert caught.value.code == 2 and mentions in " ".join(err.split()) and "Traceback" not in err


def test_complete_endpoint(sheet_run: sf.Run) -> None:
    from fastapi.testclient import TestClient
    from spriteforge.serve.app import create_app
    from spriteforge.serve.images import Limits, decode_base64_image, png_bytes, to_base64

    client = TestClient(create_app(sheet_run.path.parent), base_url="http://localhost")
    runs = {run["name"]: run for run in client.get("/api/v1/runs").json()["runs"]}
    assert runs["views"]["slots"] == 4
    front = sheet_run.training_data().slot(2).to_rgba()[0]
    given = [{"slot": 2, "sprite": to_base64(png_bytes(front))}]
    body = {"given": given, "n": 2, "seed": 3, "format": "json"}
    result = client.post("/api/v1/runs/views/complete", json=body).json()
    assert (result["width"], result["height"], result["seed"]) == (128, 32, 3)
    sheets = np.stack([decode_base64_image(text, Limits(), "sheet") for text in result["sprites"]])
    assert sheets.shape == (2, 32, 128, 4)
    assert np.array_equal(sheets[:, :, 64:96], np.broadcast_to(front, (2, 32, 32, 4)))
    wrong = client.post("/api/v1/runs/views/complete", json={**body, "given": [{**given[0], "slot": 5}]})
    assert wrong.status_code == 400 and "slot 5 is out of range" in wrong.json()["detail"]
    twice = client.post("/api/v1/runs/views/complete", json={**body, "given": given * 2})
    assert twice.status_code == 400 and "slot 2 is given twice" in twice.json()["detail"]


def test_kenney_two_frame_characters_as_sheets(test_data: Path, tmp_path: Path) -> None:
    """Pixel Platformer's walking characters: frames c0/c1, c2/c3... of rows 0 and 1 are two-frame animations."""
    source = test_data / "kenney" / "tiles" / "pixel_platformer_characters"
    if not source.is_dir():
        pytest.skip(f"{source} not found")
    rows = ["file,character,frame"]
    for row, pairs in ((0, 4), (1, 3)):
        for pair in range(pairs):
            for frame in range(2):
                rows.append(f"{source.name}_r{row:02d}c{2 * pair + frame:02d}.png,r{row}p{pair},{frame}")
    csv = tmp_path / "frames.csv"
    csv.write_text("\n".join(rows) + "\n")
    folder = tmp_path / "frames"
    folder.mkdir()
    for line in rows[1:]:
        shutil.copy(source / line.split(",")[0], folder)
    sheets = load_sheets(folder, csv=csv, set_column="character", slot_column="frame")
    assert sheets.indices.shape == (7, 24, 48) and sheets.slots == 2
    first = io.read_rgba(source / f"{source.name}_r00c01.png")
    assert np.array_equal(sheets.slot(1).to_rgba()[0], first * (first[..., 3:] >= 128))


def test_completed_sets_export_to_aseprite_with_a_tag_per_set(sheet_run: sf.Run, tmp_path: Path) -> None:
    """--format aseprite: a frame per sprite, set by set, a tag per set, read back by an independent parser; the given
    slot is the given sprite in every set."""
    from tests.aseprite_reader import read_aseprite

    front = sheet_run.training_data().slot(2)
    io.write_png(tmp_path / "front.png", front.to_rgba()[0])
    out = tmp_path / "views.aseprite"
    args = ["complete", str(sheet_run.path), "--given", str(tmp_path / "front.png"), "--slot", "2", "--n", "2"]
    result = CliRunner().invoke(cli.app, [*args, "--seed", "0", "--steps", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = read_aseprite(out)
    slots = sheet_run.training_data().slots
    assert len(document.frames) == 2 * slots and document.frames.shape[1:] == front.indices.shape[1:]
    assert document.tags == [("set0", 0, slots - 1), ("set1", slots, 2 * slots - 1)]
    for number in range(2):
        assert np.array_equal(document.frames[number * slots + 2], front.indices[0])
