"""Pretrained runs shipped inside the package: shipping one (benchmarks/ship_pretrained.py), loading it as
`pretrained:NAME` from the API, the CLI and the server, its card, and that its folder is never written to.

A tiny conditional discrete diffusion run trained on Kenney's CC0 tiles (tests/kenney_fixtures.py) is shipped into a
temporary pretrained directory; the package's own folder is only checked for its size and that its entries load."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import spriteforge
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load_file
from spriteforge import cli
from spriteforge.engine import pretrained
from spriteforge.serve.app import create_app
from typer.testing import CliRunner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {"fid": 41.5, "kid": 0.02, "near_empty": 0.01, "palette_adherence": 1.0, "conditional_accuracy": 0.875}


def _ship_module():
    spec = importlib.util.spec_from_file_location("ship_pretrained", ROOT / "benchmarks" / "ship_pretrained.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ship = _ship_module()


def _leaderboard(folder: Path) -> Path:
    """A leaderboard result as benchmarks/leaderboard.py writes it, with a row for the run ("discrete")."""
    file = folder / "leaderboard_tiles.json"
    rows = [{"name": "real half vs the set (n=8)", "fid": 16.0}, {"name": "discrete", **FIGURES, "grid": "x.png"}]
    file.write_text(json.dumps({"dataset": "tiles", "budget_seconds": 900, "device": "CPU", "tables": {"8": rows}}))
    return file


def _ship(run: Path, *extra: str) -> Path:
    return ship.main(
        [str(run), "--description", "tiny test sprites", "--data", "Kenney tiles, two packs (CC0)"]
        + ["--command", "spriteforge train --model discrete_diffusion --preset tiny", *extra]
    )


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture
def shipped_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "pretrained"
    monkeypatch.setenv("SPRITEFORGE_PRETRAINED_DIR", str(folder))
    monkeypatch.setenv("SPRITEFORGE_CACHE", str(tmp_path / "cache"))
    return folder


@pytest.fixture
def entry(served: Path, shipped_dir: Path, tmp_path: Path) -> Path:
    """served/kenney/discrete shipped as pretrained:tiny-packs, float16, with its leaderboard row and an 8-sprite
    float16 check."""
    leaderboard = str(_leaderboard(tmp_path))
    return _ship(served / "kenney" / "discrete", "--name", "tiny-packs", "--card-from", leaderboard, "--check", "8")


def test_ship_copies_only_what_loading_needs_and_writes_the_card(entry: Path, served: Path) -> None:
    run = served / "kenney" / "discrete"
    assert sorted(p.name for p in entry.iterdir()) == sorted(
        ["card.json", "config.yaml", "labels.json", "metrics.json", "palette.hex", "weights.safetensors"]
    )
    card = pretrained.read_card("tiny-packs")
    assert (card.name, card.model, card.size, card.weights_dtype) == ("tiny-packs", "discrete_diffusion", 16, "float16")
    assert card.labels == ["1bit_pack_colored", "tiny_dungeon"] and "CC0" in card.licence
    assert card.leaderboard["row"] == "discrete" and card.leaderboard["tables"] == {"8": FIGURES}
    assert card.size_bytes == sum(p.stat().st_size for p in entry.iterdir() if p.name != "card.json")
    # float16 parameters: about half the float32 weights file (buffers and the header stay as they were)
    assert (entry / "weights.safetensors").stat().st_size < 0.6 * (run / "weights.safetensors").stat().st_size
    check = card.fp16_check
    assert check is not None and check["samples"] == 8 and check["palette_exact"] is True
    assert 0.0 <= check["pixel_agreement"] <= 1.0
    assert pretrained.names() == ["tiny-packs"]


def test_a_pretrained_run_loads_samples_and_is_never_written_to(entry: Path, tmp_path: Path) -> None:
    before = _files(entry)
    run = spriteforge.load_run("pretrained:tiny-packs")
    sprites = run.sample(6, seed=1, labels=["tiny_dungeon"])
    assert sprites.indices.shape == (6, 16, 16) and sprites.indices.max() < len(run.palette)
    evaluation = spriteforge.evaluate("pretrained:tiny-packs", sprites, 4, metrics=["palette"], progress=False)
    assert evaluation.metrics["palette_adherence"].value == 1.0
    assert _files(entry) == before, "nothing may be written into a shipped entry"
    assert list((tmp_path / "cache" / "pretrained" / "tiny-packs" / "eval").glob("*.json")), "cached in the user's"


def test_cli_samples_lists_and_refuses_unknown_names(
    entry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    runner = CliRunner()
    out = tmp_path / "grid.png"
    result = runner.invoke(cli.app, ["sample", "pretrained:tiny-packs", "--n", "4", "--seed", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    listing = runner.invoke(cli.app, ["models", "--pretrained"], env={"COLUMNS": "250"})
    assert listing.exit_code == 0 and "pretrained:tiny-packs" in listing.output
    assert "41.5" in listing.output and "tiny test sprites" in listing.output
    assert "2 (88% right)" in listing.output  # its labels, and how often the classifier found the asked one
    described = json.loads(runner.invoke(cli.app, ["models", "--pretrained", "--json"]).output)
    assert described["tiny-packs"]["leaderboard"]["tables"]["8"]["fid"] == 41.5
    monkeypatch.setattr(sys, "argv", ["spriteforge", "sample", "pretrained:nope", "--out", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    err = " ".join(capsys.readouterr().err.split())
    assert caught.value.code == 2 and "Traceback" not in err
    assert "pretrained:nope" in err and "shipped: tiny-packs" in err
    assert not (tmp_path / "x.png").exists()


def test_the_server_offers_pretrained_runs(entry: Path, served: Path, tmp_path: Path) -> None:
    client = TestClient(create_app(served), base_url="http://localhost")
    names = [run["name"] for run in client.get("/api/v1/runs").json()["runs"]]
    assert names[-1] == "pretrained:tiny-packs" and "kenney/vae" in names
    response = client.post("/api/v1/runs/pretrained:tiny-packs/sample", json={"n": 2, "format": "json", "seed": 0})
    assert response.status_code == 200, response.text
    assert client.get("/api/v1/runs/pretrained:nope").status_code == 404
    # A new user with no runs folder yet is served the shipped models.
    alone = TestClient(create_app(tmp_path / "no-runs-yet"), base_url="http://localhost")
    assert [run["name"] for run in alone.get("/api/v1/runs").json()["runs"]] == ["pretrained:tiny-packs"]
    # A damaged entry is reported by its name, never by where the package sits on the server's disk.
    (entry / "weights.safetensors").write_bytes(b"garbage")
    listing = TestClient(create_app(served), base_url="http://localhost").get("/api/v1/runs").text
    assert "pretrained:tiny-packs/weights.safetensors" in listing and str(entry.parent) not in listing


def test_ship_refuses_cryptopunks_oversize_and_runs_that_cannot_sample(
    served: Path, shipped_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    punks = tmp_path / "punks"
    shutil.copytree(served / "kenney" / "vae", punks)
    config = punks / "config.yaml"
    config.write_text(config.read_text().replace("source: ", "source: /data/cpunks/", 1))
    with pytest.raises(spriteforge.SpriteforgeError, match="CryptoPunks"):
        _ship(punks, "--name", "punks")
    with pytest.raises(spriteforge.SpriteforgeError, match="cannot sample"):
        _ship(served / "kenney" / "cyclegan", "--name", "cyclegan")
    monkeypatch.setattr(pretrained, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(spriteforge.SpriteforgeError, match="MB"):
        _ship(served / "kenney" / "vae", "--name", "vae", "--dtype", "float32")
    assert pretrained.names() == [] and not [p for p in shipped_dir.iterdir()], "a refused ship leaves nothing"


def test_float32_keeps_the_weights_bit_exact(served: Path, shipped_dir: Path) -> None:
    run = served / "kenney" / "vae"
    entry = _ship(run, "--name", "vae", "--dtype", "float32")
    original, copied = load_file(str(run / "weights.safetensors")), load_file(str(entry / "weights.safetensors"))
    assert original.keys() == copied.keys() and all(torch.equal(original[k], copied[k]) for k in original)
    first = spriteforge.load_run(run).sample(4, seed=0).indices
    assert np.array_equal(first, spriteforge.load_run("pretrained:vae").sample(4, seed=0).indices)
    assert pretrained.read_card("vae").fp16_check is None


# ---------------------------------------------------------------------- what the package itself ships


def test_the_shipped_models_fit_in_10_mb() -> None:
    assert pretrained.total_bytes(pretrained.PACKAGE_DIR) <= pretrained.MAX_TOTAL_BYTES


SHIPPED = sorted(p.name for p in pretrained.PACKAGE_DIR.iterdir() if p.is_dir() and (p / pretrained.CARD).is_file())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_loads_samples_exactly_and_is_cc0(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPRITEFORGE_PRETRAINED_DIR", str(pretrained.PACKAGE_DIR))
    card = pretrained.read_card(name)
    assert "CC0" in card.licence and not pretrained.FORBIDDEN_DATA.search(json.dumps(card.__dict__))
    pretrained.check_shippable(pretrained.PACKAGE_DIR / name)
    run = spriteforge.load_run(f"pretrained:{name}")
    sprites, adherence = run.generate(4, seed=0, labels=[card.labels[0]] if card.labels else None)
    assert adherence.min() == 1.0 and sprites.indices.max() < len(run.palette)
