"""The `spriteforge` command end to end: happy paths through typer's CliRunner, bad input through the real entry
point (`spriteforge.cli.main`, which turns SpriteforgeError into exit code 2 and a one-line message).

Every bad-input case checks: exit code 2, a message naming the file or value, no traceback, and nothing
half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import spriteforge
from PIL import Image
from spriteforge import cli, io
from spriteforge.data.palette import Palette
from typer.testing import CliRunner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

SPRITEFORGE = Path(sys.executable).parent / "spriteforge"
TINY = [
    "--set",
    "vae.channels=[8,16]",
    "--set",
    "vae.latent_dim=4",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.progress=false",
    "--set",
    "train.val_every=3",
    "--set",
    "train.sample_every=3",
]

runner = CliRunner()


def invoke(*args: object) -> str:
    """Run a command that must succeed; return its output."""
    result = runner.invoke(cli.app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    return result.output


def squash(text: str) -> str:
    """The text without whitespace: rich wraps long messages at the console width, even inside paths."""
    return "".join(text.split())


def fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object, mentions: tuple = ()) -> str:
    """Run the real entry point with argv; it must exit 2 with a message that mentions each of `mentions`."""
    monkeypatch.setattr(sys, "argv", ["spriteforge", *map(str, args)])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    out, err = capsys.readouterr()
    assert caught.value.code == 2, out + err
    assert "Traceback" not in out + err
    assert err.strip(), "no message on stderr"
    for needle in mentions:
        assert squash(str(needle)) in squash(err), f"{needle!r} not in stderr: {err}"
    return err


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


def _colors(path: Path) -> set[tuple[int, ...]]:
    rgba = np.asarray(Image.open(path).convert("RGBA")).reshape(-1, 4)
    return {tuple(c) for c in np.unique(rgba, axis=0).tolist()}


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiles(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = test_data / "kenney" / "tiles" / "1bit_pack_colored"
    if not source.is_dir():
        pytest.skip(f"{source} not found")
    folder = tmp_path_factory.mktemp("data") / "tiles"
    folder.mkdir()
    for file in sorted(source.glob("*.png"))[:64]:
        shutil.copy(file, folder / file.name)
    return folder


@pytest.fixture(scope="module")
def run_dir(tiles: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "RUN"
    output = invoke("train", "--model", "vae", "--data", tiles, "--steps", 6, *TINY, "--logger", "csv", "--out", out)
    assert "next: spriteforge sample" in output
    return out


@pytest.fixture
def run_copy(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "RUNCOPY"
    shutil.copytree(run_dir, copy)
    return copy


# ---------------------------------------------------------------------- happy paths


def test_train_writes_a_complete_run(run_dir: Path) -> None:
    for name in ("config.yaml", "palette.hex", "weights.safetensors", "last.ckpt", "metrics.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "logs" / "metrics.csv").is_file()
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == ["step_000003.png", "step_000006.png"]
    run = spriteforge.load_run(run_dir)
    assert run.config.train.max_steps == 6 and run.metrics["steps"] == 6


def test_sample_grid_each_palette_and_seed(run_dir: Path, tmp_path: Path) -> None:
    grid, each = tmp_path / "g.png", tmp_path / "each"
    output = invoke(
        "sample", run_dir, "--n", 8, "--out", grid, "--seed", 1, "--palette", "pico8", "--each", each, "--scale", 2
    )
    assert squash("wrote 8 sprites") in squash(output)
    pico8 = {tuple(c) for c in Palette.named("pico8").colors.tolist()}
    assert _colors(grid) <= pico8 | {io.GRID_BACKGROUND}
    files = sorted(each.glob("*.png"))
    assert len(files) == 8
    for file in files:
        assert Image.open(file).size == (16, 16)  # files for a game: true size, whatever the preview's --scale
        assert _colors(file) <= pico8
    again = tmp_path / "g2.png"
    invoke("sample", run_dir, "--n", 8, "--out", again, "--seed", 1, "--palette", "pico8", "--scale", 2)
    np.testing.assert_array_equal(np.asarray(Image.open(grid)), np.asarray(Image.open(again)))


def test_sample_sheet(run_dir: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"
    invoke("sample", run_dir, "--n", 4, "--sheet", "--scale", 1, "--seed", 0, "--out", sheet)
    image = np.asarray(Image.open(sheet).convert("RGBA"))
    assert image.shape == (32, 32, 4)  # 2 x 2 sprites of 16 px, no gaps
    palette = {tuple(c) for c in Palette.load(run_dir / "palette.hex").colors.tolist()}
    assert _colors(sheet) <= palette  # transparent background, palette colours only


def test_sample_temperature(run_dir: Path, tmp_path: Path) -> None:
    invoke("sample", run_dir, "--n", 4, "--temperature", 1.0, "--seed", 3, "--out", tmp_path / "t.png")
    assert (tmp_path / "t.png").is_file()


def test_reconstruct(run_dir: Path, tiles: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.png"
    output = invoke("reconstruct", run_dir, "--data", tiles, "--n", 8, "--out", out)
    assert out.is_file() and "accuracy" in output


@pytest.mark.parametrize("suffix", [".gif", ".png"])
def test_interpolate(run_dir: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"i{suffix}"
    output = invoke("interpolate", run_dir, "--steps", 4, "--pairs", 2, "--out", out)
    assert squash("2 pairs x 4 steps") in squash(output)
    if suffix == ".gif":
        frames = iio.imread(out, index=None)
        assert frames.ndim == 4 and frames.shape[0] >= 4
    else:
        assert Image.open(out).size[0] > Image.open(out).size[1]  # one row of 4 per pair


@pytest.mark.parametrize("suffix", [".hex", ".gpl"])
def test_palette_extract(tiles: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"p{suffix}"
    invoke("palette", "extract", tiles, "--max-colors", 8, "--out", out)
    palette = Palette.load(out)
    assert 2 <= len(palette) <= 8
    # The palette is the exact set of colours of the tiles (1-bit pack: few colours, no quantisation needed).
    sprites = spriteforge.load_sprites(tiles)
    assert palette == sprites.palette or {tuple(c) for c in palette.colors.tolist()} == {
        tuple(c) for c in sprites.palette.colors.tolist()
    }


def test_palette_show_and_list(tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    output = invoke("palette", "show", "pico8", "--out", out)
    assert out.is_file() and squash("16 colours") in squash(output)
    listing = invoke("palette", "list")
    for name in Palette.names():
        assert name in listing


def _lines_at_80_columns(*args: object) -> list[str]:
    result = runner.invoke(cli.app, [str(a) for a in args], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, f"{len(too_long)} lines over 80 columns, e.g. {too_long[0]!r}"
    return lines


def test_models_fits_80_columns_with_every_option_named() -> None:
    """A model's row may fold onto continuation lines (its options column wraps), never past 80 columns."""
    lines = _lines_at_80_columns("models")
    names = set(spriteforge.registered())
    for name, model in spriteforge.registered().items():
        start = next(i for i, line in enumerate(lines) if line.split() and line.split()[0] == name)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].split()[:1] and lines[i].split()[0] in names),
            len(lines),
        )
        block = " ".join(lines[start:end])
        assert all(spec.name in block.split() for spec in model.option_specs()), block
    assert "discrete_diffusion" in "\n".join(lines) and "--long" in "\n".join(lines)


def test_models_long_shows_config_keys_and_option_ranges() -> None:
    output = squash(_lines_at_80_columns("models", "--long") and invoke("models", "--long"))
    assert squash("vae.latent_dim") in output and squash("sampler (ddim|ddpm, default ddim)") in output
    assert squash("temperature (float 0..100") in output


def test_models_json_has_the_option_specs() -> None:
    described = json.loads(invoke("models", "--json"))
    assert set(described) == set(spriteforge.registered())
    steps = next(spec for spec in described["ddpm"]["sample_options"] if spec["name"] == "steps")
    assert steps == {**steps, "type": "int", "min": 1, "max": 10000, "default": None}
    assert "inpaint" in described["ddpm"]["capabilities"] and "vae.beta" not in described["vae"]["config"]
    assert "beta" in described["vae"]["config"]


def test_sample_help_lists_each_model_s_options() -> None:
    output = " ".join(invoke("sample", "--help").split())
    for flag in ("--temperature", "--guidance", "--sampler", "--steps", "--eta", "--top-k", "--opt"):
        assert flag in output
    assert "ddpm: sampler, steps, eta, guidance" in output and "prior: temperature, top_k" in output


def test_opt_sets_any_option_and_flags_still_work(run_dir: Path, tmp_path: Path) -> None:
    first, second, third = (tmp_path / f"{name}.png" for name in "abc")
    invoke("sample", run_dir, "--n", 4, "--seed", 1, "--opt", "temperature=1.5", "--out", first)
    invoke("sample", run_dir, "--n", 4, "--seed", 1, "--temperature", 1.5, "--out", second)
    invoke("sample", run_dir, "--n", 4, "--seed", 1, "--temperature", 1e-40, "--out", third)  # safe: the argmax
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize(
    "args, mentions",
    [
        (["--temperature", "nan"], ("--temperature", "100")),  # typer refuses it first
        (["--opt", "temperature=1e308"], ("temperature=1e+308", "from 0 to 100")),
        (["--opt", "temperature"], ("--opt", "NAME=VALUE")),
        (["--opt", "guidance=3"], ("guidance", "temperature")),
        (["--opt", "temperature=hot"], ("temperature='hot'", "a number")),
        (["--temperature", "1", "--opt", "temperature=2"], ("temperature", "once")),
    ],
)
def test_bad_sampling_options_exit_2(run_dir: Path, tmp_path: Path, monkeypatch, capsys, args, mentions) -> None:
    out = tmp_path / "g.png"
    fails(monkeypatch, capsys, "sample", run_dir, *args, "--out", out, mentions=mentions)
    assert not out.exists()


def test_datasets_inspect(tiles: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.png"
    output = invoke("datasets", "inspect", tiles, "--out", out)
    assert out.is_file()
    assert "64" in output


def test_datasets_list() -> None:
    assert "procedural" in invoke("datasets", "list")


def test_resume_from_the_command_line(run_copy: Path) -> None:
    invoke("train", "--resume", run_copy, "--steps", 9)
    run = spriteforge.load_run(run_copy)
    assert run.metrics["steps"] == 9 and run.config.train.max_steps == 9


COMMANDS = [
    ["train"],
    ["sample"],
    ["reconstruct"],
    ["interpolate"],
    ["eval"],
    ["compare"],
    ["convert"],
    ["models"],
    ["demo"],
    ["datasets", "list"],
    ["datasets", "download"],
    ["datasets", "inspect"],
    ["palette", "extract"],
    ["palette", "show"],
    ["palette", "list"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_help_has_an_example(command: list[str]) -> None:
    output = invoke(*command, "--help")
    assert "Example" in output
    assert f"spriteforge {' '.join(command)}" in " ".join(output.split())


def test_top_level_help_lists_the_commands() -> None:
    output = invoke("--help")
    for name in ("train", "sample", "reconstruct", "interpolate", "models", "demo", "datasets", "palette"):
        assert name in output


# ---------------------------------------------------------------------- bad input: exit 2, message, nothing written


def test_missing_data_path(tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    fails(
        monkeypatch,
        capsys,
        "train",
        "--data",
        tmp_path / "nowhere",
        "--out",
        out,
        "--logger",
        "none",
        mentions=("nowhere",),
    )
    assert not out.exists()


def test_empty_data_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    fails(
        monkeypatch,
        capsys,
        "train",
        "--data",
        tmp_path / "empty",
        "--out",
        out,
        "--logger",
        "none",
        mentions=("empty", "no image files"),
    )
    assert not out.exists()


def test_only_corrupt_or_non_image_files(tmp_path: Path, monkeypatch, capsys) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    fails(
        monkeypatch,
        capsys,
        "train",
        "--data",
        folder,
        "--out",
        out,
        "--logger",
        "none",
        mentions=("broken.png", "unreadable"),
    )
    assert not out.exists()


def test_sprites_larger_than_size(tiles: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    fails(
        monkeypatch,
        capsys,
        "train",
        "--data",
        tiles,
        "--size",
        8,
        "--out",
        out,
        "--logger",
        "none",
        mentions=("8x8", "--crop"),
    )
    assert not out.exists()


def _labels_csv(path: Path, names: list[str]) -> Path:
    path.write_text("file,kind\n" + "".join(f"{n},{i % 2}\n" for i, n in enumerate(names)))
    return path


def test_labels_csv_missing_sprites(tiles: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    names = sorted(p.name for p in tiles.glob("*.png"))
    csv = _labels_csv(tmp_path / "labels.csv", names[:-3])
    out = tmp_path / "out"
    fails(
        monkeypatch,
        capsys,
        "train",
        "--data",
        tiles,
        "--labels",
        csv,
        "--out",
        out,
        "--logger",
        "none",
        mentions=("labels.csv", "no row for 3", names[-1]),
    )
    assert not out.exists()


def test_labels_csv_naming_unknown_files(tiles: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    names = sorted(p.name for p in tiles.glob("*.png"))
    csv = _labels_csv(tmp_path / "labels.csv", [*names, "ghost_sprite.png"])
    out = tmp_path / "out"
    fails(
        monkeypatch,
        capsys,
        "train",
        "--data",
        tiles,
        "--labels",
        csv,
        "--out",
        out,
        "--logger",
        "none",
        mentions=("labels.csv", "ghost_sprite.png"),
    )
    assert not out.exists()


def test_unknown_model(tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    fails(monkeypatch, capsys, "train", "--model", "gan9000", "--out", out, mentions=("gan9000", "vae", "ae"))
    assert not out.exists()


def test_unknown_set_key(tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    fails(monkeypatch, capsys, "train", "--set", "train.lrr=1", "--out", out, mentions=("train.lrr", "train.lr"))
    assert not out.exists()


def test_set_without_equals(tmp_path: Path, monkeypatch, capsys) -> None:
    fails(
        monkeypatch, capsys, "train", "--set", "train.lr", "--out", tmp_path / "out", mentions=("train.lr", "key=value")
    )
    assert not (tmp_path / "out").exists()


def test_train_without_out(monkeypatch, capsys) -> None:
    fails(monkeypatch, capsys, "train", "--data", "procedural", mentions=("--out",))


def test_corrupt_weights_for_sample(run_copy: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    (run_copy / "weights.safetensors").write_bytes(b"\x00" * 64)
    out = tmp_path / "g.png"
    fails(monkeypatch, capsys, "sample", run_copy, "--out", out, mentions=("weights.safetensors", "corrupt"))
    assert not out.exists()


def test_sample_from_a_folder_that_is_not_a_run(tiles: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "g.png"
    fails(monkeypatch, capsys, "sample", tiles, "--out", out, mentions=(tiles, "not a spriteforge run"))
    assert not out.exists()


def _copy_foreign_checkpoint(run_copy: Path, tmp_path: Path, channels: str) -> None:
    """Put the last.ckpt of a tiny `ae` run (with these channels) into the run under test."""
    other = spriteforge.train(
        "ae",
        "procedural",
        tmp_path / "other",
        overrides=[
            f"ae.channels={channels}",
            "ae.latent_dim=4",
            "data.count=32",
            "train.max_steps=2",
            "train.progress=false",
        ],
        logger="none",
    )
    shutil.copy(other.path / "last.ckpt", run_copy / "last.ckpt")


def test_foreign_checkpoint(run_copy: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    _copy_foreign_checkpoint(run_copy, tmp_path, "[8]")
    before = _files(run_copy)
    fails(monkeypatch, capsys, "train", "--resume", run_copy, "--steps", 12, mentions=("last.ckpt", "does not match"))
    after = _files(run_copy)
    assert after.keys() == before.keys()  # no new files (no logs, no partial checkpoint)
    assert {k: v for k, v in after.items() if k != "config.yaml"} == {
        k: v for k, v in before.items() if k != "config.yaml"
    }


def test_a_failed_resume_leaves_config_yaml_untouched(run_copy: Path, monkeypatch, capsys) -> None:
    (run_copy / "last.ckpt").write_bytes(b"not a checkpoint")
    config = (run_copy / "config.yaml").read_text()
    fails(monkeypatch, capsys, "train", "--resume", run_copy, "--steps", 12, mentions=("last.ckpt",))
    assert (run_copy / "config.yaml").read_text() == config


def test_foreign_checkpoint_with_the_same_layer_names(run_copy: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    _copy_foreign_checkpoint(run_copy, tmp_path, "[8,16]")
    fails(monkeypatch, capsys, "train", "--resume", run_copy, "--steps", 12, mentions=("last.ckpt",))


def test_corrupt_checkpoint_for_resume(run_copy: Path, monkeypatch, capsys) -> None:
    (run_copy / "last.ckpt").write_bytes(b"not a checkpoint")
    fails(monkeypatch, capsys, "train", "--resume", run_copy, "--steps", 12, mentions=("last.ckpt", "unreadable"))


def test_sample_n_zero(run_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "g.png"
    fails(monkeypatch, capsys, "sample", run_dir, "--n", 0, "--out", out, mentions=("--n",))
    assert not out.exists()


def test_label_for_an_unconditional_run(run_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "g.png"
    fails(
        monkeypatch,
        capsys,
        "sample",
        run_dir,
        "--label",
        "female",
        "--out",
        out,
        mentions=("not conditional", "--labels"),
    )
    assert not out.exists()


def test_sampling_option_the_model_lacks(run_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "g.png"
    fails(monkeypatch, capsys, "sample", run_dir, "--guidance", 3, "--out", out, mentions=("guidance", "temperature"))
    assert not out.exists()


def test_negative_size(tiles: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    fails(monkeypatch, capsys, "train", "--data", tiles, "--size", -1, "--out", out, mentions=("--size",))
    assert not out.exists()
    fails(
        monkeypatch,
        capsys,
        "datasets",
        "inspect",
        tiles,
        "--size",
        -1,
        "--out",
        tmp_path / "c.png",
        mentions=("--size",),
    )
    assert not (tmp_path / "c.png").exists()


def test_palette_file_with_a_bad_line(tmp_path: Path, monkeypatch, capsys) -> None:
    bad = tmp_path / "bad.hex"
    bad.write_text("ff0000\nzzzzzz\n00ff00\n")
    out = tmp_path / "s.png"
    fails(monkeypatch, capsys, "palette", "show", bad, "--out", out, mentions=("bad.hex:2", "zzzzzz"))
    assert not out.exists()


def test_unknown_palette_name_for_sample(run_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "g.png"
    fails(monkeypatch, capsys, "sample", run_dir, "--palette", "rainbow9", "--out", out, mentions=("rainbow9", "pico8"))
    assert not out.exists()


def test_output_below_a_file(run_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    fails(monkeypatch, capsys, "sample", run_dir, "--n", 2, "--out", blocker / "g.png", mentions=("file.txt",))
    assert blocker.read_text() == "x"


def test_train_into_an_existing_run(run_dir: Path, monkeypatch, capsys) -> None:
    before = _files(run_dir)
    contents = {name: (run_dir / name).read_bytes() for name in ("config.yaml", "weights.safetensors", "last.ckpt")}
    fails(
        monkeypatch,
        capsys,
        "train",
        "--data",
        "procedural",
        "--out",
        run_dir,
        "--logger",
        "none",
        mentions=(run_dir, "already holds a run", "--resume"),
    )
    assert _files(run_dir) == before
    assert {name: (run_dir / name).read_bytes() for name in contents} == contents


def test_a_model_that_cannot_handle_the_size_writes_nothing(tiles: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    fails(
        monkeypatch,
        capsys,
        "train",
        "--data",
        tiles,
        "--set",
        "vae.channels=[8,16,32,64,128]",
        "--out",
        out,
        "--logger",
        "none",
        mentions=("divisible by 32",),
    )
    assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.iterdir())


def test_repr_applies_to_the_model_named_in_the_config_file(tmp_path: Path, monkeypatch, capsys) -> None:
    config = tmp_path / "ae.yaml"
    config.write_text(
        "model: ae\nae:\n  channels: [8, 16]\n  latent_dim: 4\ndata:\n  count: 32\n"
        "train:\n  max_steps: 2\n  progress: false\n  logger: none\n"
    )
    monkeypatch.setattr(
        sys, "argv", ["spriteforge", "train", "--config", str(config), "--repr", "rgba", "--out", str(tmp_path / "r")]
    )
    with pytest.raises(SystemExit) as caught:
        cli.main()  # typer exits 0 on success
    assert caught.value.code == 0, capsys.readouterr().err
    assert spriteforge.load_run(tmp_path / "r").model.representation == "rgba"


def test_repr_with_model(tmp_path: Path) -> None:
    out = tmp_path / "r"
    invoke(
        "train",
        "--model",
        "ae",
        "--repr",
        "rgba",
        "--out",
        out,
        "--logger",
        "none",
        "--steps",
        2,
        "--set",
        "ae.channels=[8,16]",
        "--set",
        "ae.latent_dim=4",
        "--set",
        "data.count=32",
        "--set",
        "train.progress=false",
    )
    assert spriteforge.load_run(out).model.representation == "rgba"


# ---------------------------------------------------------------------- the installed console script


@pytest.mark.skipif(not SPRITEFORGE.is_file(), reason="console script not installed in this environment")
def test_console_script_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.hex"
    bad.write_text("ff0000\nnot-a-colour\n")
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [str(SPRITEFORGE), "palette", "show", str(bad), "--out", str(tmp_path / "s.png")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{bad}:2" in result.stderr and "not-a-colour" in result.stderr
    assert not (tmp_path / "s.png").exists()


# ---------------------------------------------------------------------- resume, demo and sampling guards


def test_resuming_a_finished_run_asks_for_more_steps(run_copy: Path, monkeypatch, capsys) -> None:
    before = _files(run_copy)
    fails(monkeypatch, capsys, "train", "--resume", run_copy, mentions=("already trained 6 steps", "--steps"))
    assert _files(run_copy) == before


def test_resume_refuses_flags_that_would_be_ignored(run_copy: Path, tiles: Path, monkeypatch, capsys) -> None:
    fails(monkeypatch, capsys, "train", "--resume", run_copy, "--data", tiles, "--steps", 12, mentions=("--data",))


def test_demo_never_replaces_a_run_that_is_not_a_demo(run_copy: Path, monkeypatch, capsys) -> None:
    before = _files(run_copy)
    fails(monkeypatch, capsys, "demo", "--out", run_copy, mentions=(run_copy, "not a demo"))
    assert _files(run_copy) == before


def test_sample_remaps_by_nearest_colour(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "nearest.png"
    invoke(
        "sample", run_dir, "--n", 4, "--seed", 0, "--palette", "pico8", "--remap", "nearest", "--scale", 1, "--out", out
    )
    pico8 = {tuple(c) for c in io.composite(Palette.named("pico8").colors[None])[0].tolist()}
    grey = tuple(io.composite(np.zeros((1, 4), np.uint8))[0].tolist())
    assert _colors(out) <= pico8 | {grey}


def test_unknown_sampling_options_are_refused(run_dir: Path) -> None:
    with pytest.raises(spriteforge.SpriteforgeError, match="no sampling option guidance"):
        spriteforge.load_run(run_dir).sample(2, guidance=3.0)


def test_relative_data_paths_are_stored_absolute(tiles: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tiles.parent)
    run = spriteforge.train(
        "vae", tiles.name, tmp_path / "rel", overrides=[*TINY[1::2], "train.max_steps=2"], logger="none"
    )
    assert run.config.data.source == str(tiles.resolve())


# ---------------------------------------------------------------------- convert (classical pixelizer)


def test_convert_a_photo_and_a_folder(test_data: Path, tmp_path: Path) -> None:
    photo = test_data / "photos" / "astronaut.png"
    out = tmp_path / "astronaut.png"
    invoke("convert", photo, "--size", 24, "--palette", "pico8", "--dither", "bayer4", "--scale", 2, "--out", out)
    image = np.asarray(Image.open(out).convert("RGBA"))
    assert image.shape[:2] == (24, 24)
    assert {tuple(c) for c in image.reshape(-1, 4).tolist()} <= {
        tuple(c) for c in Palette.named("pico8").colors.tolist()
    }
    assert (tmp_path / "astronaut_x2.png").is_file()
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("coins.png", "camera.png"):
        shutil.copy(test_data / "photos" / name, folder / name)
    (folder / "broken.png").write_bytes(b"not an image")
    output = invoke("convert", folder, "--size", 16, "--out", tmp_path / "converted")
    assert sorted(p.name for p in (tmp_path / "converted").iterdir()) == ["camera.png", "coins.png"]
    assert "2" in output


def test_convert_with_an_unknown_palette(test_data: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "x.png"
    fails(
        monkeypatch,
        capsys,
        "convert",
        test_data / "photos" / "coins.png",
        "--palette",
        "nope",
        "--out",
        out,
        mentions=("nope", "pico8"),
    )
    assert not out.exists()


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height pixels, with no image data behind it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("converter", ["classical", "pth"])
def test_convert_refuses_bad_inputs(test_data: Path, tmp_path: Path, monkeypatch, capsys, converter: str) -> None:
    """Both converters (the pixelizer and a generator .pth): not an image, 1x1, a 50,000 x 50,000 header, a palette
    file with a bad line; exit 2, a message naming the file, nothing written."""
    import torch
    from spriteforge.nn.gan import ResnetGenerator

    model: list[object] = []
    if converter == "pth":
        torch.save(ResnetGenerator(3, 3, 2, 2, 1, "transpose").state_dict(), tmp_path / "g.pth")
        model = ["--model", tmp_path / "g.pth"]
    out = tmp_path / "out.png"
    text = tmp_path / "notes.png"
    text.write_text("not an image", encoding="utf-8")
    tiny = io.write_png(tmp_path / "dot.png", np.full((1, 1, 4), 255, np.uint8))
    huge = _png_header(tmp_path / "huge.png", 50_000, 50_000)
    bad_palette = tmp_path / "bad.hex"
    bad_palette.write_text("ff0000\nnot a colour\n", encoding="utf-8")
    photo = test_data / "photos" / "coins.png"
    fails(monkeypatch, capsys, "convert", text, *model, "--out", out, mentions=("notes.png", "not a readable image"))
    fails(monkeypatch, capsys, "convert", tiny, *model, "--out", out, mentions=("dot.png", "1x1", "at least 2x2"))
    fails(monkeypatch, capsys, "convert", huge, *model, "--out", out, mentions=("huge.png", "too large"))
    fails(
        monkeypatch,
        capsys,
        "convert",
        photo,
        *model,
        "--palette",
        bad_palette,
        "--out",
        out,
        mentions=("bad.hex:2", "not a colour"),
    )
    assert not out.exists()


def test_convert_refuses_a_pth_that_is_not_a_generator(test_data: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    import torch

    photo, out = test_data / "photos" / "coins.png", tmp_path / "out.png"
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pth")
    fails(
        monkeypatch,
        capsys,
        "convert",
        photo,
        "--model",
        tmp_path / "other.pth",
        "--out",
        out,
        mentions=("other.pth", "model.1.weight", "latest_net_G_A.pth"),
    )
    torch.save({"model.1.weight": torch.zeros(8, 3, 7, 7)}, tmp_path / "partial.pth")
    fails(
        monkeypatch,
        capsys,
        "convert",
        photo,
        "--model",
        tmp_path / "partial.pth",
        "--out",
        out,
        mentions=("partial.pth", "resnet generator"),
    )
    (tmp_path / "junk.pth").write_bytes(b"\x80\x04junk")
    fails(
        monkeypatch,
        capsys,
        "convert",
        photo,
        "--model",
        tmp_path / "junk.pth",
        "--out",
        out,
        mentions=("junk.pth", "not a readable PyTorch state dict"),
    )
    fails(
        monkeypatch,
        capsys,
        "convert",
        photo,
        "--model",
        tmp_path / "missing",
        "--out",
        out,
        mentions=("missing", "no such run folder"),
    )
    assert not out.exists()
