"""Fusing two Kenney sprites (engine/fusion.py, Run.fuse, `spriteforge fuse`): regions and seams, the promise that
region modes of models that inpaint keep each sprite's pixels outside the seam, code grids repaired by a prior,
latent mixes, the run's palette, and bad input as exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import spriteforge
import torch
from PIL import Image
from spriteforge import cli
from spriteforge.engine.fusion import Fusion, at_resolution, joiner_for, regions, seam_band
from spriteforge.engine.trained import Run, load_run
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, model_class
from tests.kenney_fixtures import kenney_tiles

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
TINY = ["train.batch_size=16", "train.progress=false", "train.max_steps=2", "train.val_every=2"]
TINY += ["train.sample_every=0", "data.count=48", "data.size=16"]


@pytest.fixture(scope="module")
def tiles(test_data: Path) -> spriteforge.SpriteSet:
    return spriteforge.load_sprites(kenney_tiles(test_data), size=16)


@pytest.fixture(scope="module")
def pair(tiles: spriteforge.SpriteSet) -> tuple[np.ndarray, np.ndarray]:
    """Two different Kenney tiles as (16,16,4) RGBA: A and B."""
    rgba = tiles.to_rgba()
    return rgba[3], rgba[11]


@pytest.fixture(scope="module")
def vq_runs(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run]:
    """A pixel_vqvae trained 2 steps on Kenney tiles, and a prior trained 2 steps on it (about 2 s)."""
    root = tmp_path_factory.mktemp("fusion")
    tiles = kenney_tiles(test_data)
    vq = spriteforge.train("pixel_vqvae", tiles, root / "vq", overrides=TINY, preset="tiny", logger="none")
    prior = spriteforge.train(
        "prior", None, root / "prior", overrides=[*TINY, f"prior.vqvae={vq.path}"], preset="tiny", logger="none"
    )
    return load_run(vq.path), load_run(prior.path)


# ---------------------------------------------------------------------- regions and seams


def test_regions_seams_and_code_resolution() -> None:
    left = regions(Fusion("left-right"), 2, (4, 6), None)
    assert left.shape == (2, 4, 6) and left[:, :, :3].all() and not left[:, :, 3:].any()
    top = regions(Fusion("top-bottom"), 1, (4, 6), None)[0]
    assert top[:2].all() and not top[2:].any()
    # The seam: the columns within 1 step of both regions (2 and 3); 0 = none.
    assert seam_band(left, 1)[0].any(0).nonzero().flatten().tolist() == [2, 3]
    assert seam_band(left, 2)[0].any(0).nonzero().flatten().tolist() == [1, 2, 3, 4]
    assert not seam_band(left, 0).any()
    # A code cell is A's when at least half its pixels are.
    assert at_resolution(left, (2, 3))[0].tolist() == [[True, True, False], [True, True, False]]
    drawn = regions(Fusion("random"), 3, (16, 16), torch.Generator().manual_seed(0))
    blocks = drawn[:, ::4, ::4]  # one pixel per 4x4 block: every block is one sprite's
    assert torch.equal(drawn, blocks.repeat_interleave(4, 1).repeat_interleave(4, 2))
    assert not torch.equal(drawn[0], drawn[1])  # a new patchwork per fusion
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    assert torch.equal(regions(Fusion("mask", mask), 2, (16, 16), None)[1], torch.from_numpy(mask))


# ---------------------------------------------------------------------- the promise: kept pixels stay


@pytest.mark.parametrize("mode", ["left-right", "top-bottom", "mask", "random"])
def test_discrete_diffusion_keeps_each_sprite_outside_the_seam(
    served: Path, pair: tuple[np.ndarray, np.ndarray], mode: str
) -> None:
    run = load_run(served / "kenney" / "discrete")
    first, second = pair
    second = second.copy()
    second[..., :3] = 255 - second[..., :3]  # B drawn in another palette: it is brought into the run's
    mask = np.zeros((16, 16), bool)
    mask[2:10, 3:13] = True
    fusion = Fusion(mode, mask if mode == "mask" else None, seam=1)
    fused = run.fuse(first, second, 4, mode=mode, mask=fusion.mask, seed=5, steps=3)
    assert fused.palette == run.palette and fused.indices.shape == (4, 16, 16)
    assert int(fused.indices.max()) < len(run.palette)
    # The region is the seeded generator's first draw (random) or fixed (the others).
    region = regions(fusion, 4, (16, 16), torch.Generator().manual_seed(5)).numpy()
    seam = seam_band(torch.from_numpy(region), 1).numpy()
    a, b = run.palette.index(first), run.palette.index(second)
    from_a, from_b = region & ~seam, ~region & ~seam
    assert from_a.any() and from_b.any() and seam.any()
    assert np.array_equal(fused.indices[from_a], np.broadcast_to(a, region.shape)[from_a])
    assert np.array_equal(fused.indices[from_b], np.broadcast_to(b, region.shape)[from_b])


def test_gaussian_diffusion_keeps_each_sprite_outside_the_seam(tiles: spriteforge.SpriteSet) -> None:
    torch.manual_seed(0)
    cls = model_class("ddpm")
    model = cls(cls.Config(**cls.presets["tiny"]), DataSpec(16, 16, torch.from_numpy(tiles.palette.colors))).eval()
    first = torch.from_numpy(tiles.indices[3]).expand(2, -1, -1)
    second = torch.from_numpy(tiles.indices[11]).expand(2, -1, -1)
    join = joiner_for(model)
    assert join is not None and "latent" not in join.modes
    fusion = Fusion("top-bottom", seam=2)
    fused = join(model, first, second, fusion, None, torch.Generator().manual_seed(0), {"steps": 3})
    region = regions(fusion, 2, (16, 16), None)
    seam = seam_band(region, 2)
    assert seam[0].any(1).nonzero().flatten().tolist() == [6, 7, 8, 9]
    assert torch.equal(fused[region & ~seam], first[region & ~seam])
    assert torch.equal(fused[~region & ~seam], second[~region & ~seam])


# ---------------------------------------------------------------------- code grids, latents


def test_vq_code_grid_fusion_and_prior_seam_repair(vq_runs: tuple[Run, Run], pair: tuple) -> None:
    vq, prior = vq_runs
    first, _ = pair
    assert vq.fusion_modes() == prior.fusion_modes() == ["left-right", "top-bottom", "mask", "random"]
    # A fused with itself is A's codes everywhere: the VQ-VAE's reconstruction of A.
    alone = vq.fuse(first, first, 2, mode="random", seed=0)
    rebuilt = vq.reconstruct(spriteforge.SpriteSet(vq.palette.index(first)[None], vq.palette))
    assert np.array_equal(alone.indices, np.repeat(rebuilt.indices, 2, axis=0))
    fused = prior.fuse(*pair, 3, mode="left-right", seed=1, temperature=1.0)
    assert fused.indices.shape == (3, 16, 16) and int(fused.indices.max()) < len(prior.palette)
    with pytest.raises(SpriteforgeError, match="has no sampling option top_p"):
        vq.fuse(*pair, 1, top_p=3)
    # The prior redraws only the seam's codes: the others are kept.
    codes = torch.randint(0, prior.model.vqvae.config.num_codes, (2, 8, 8))
    seam = seam_band(regions(Fusion("left-right"), 2, (8, 8), None), 1)
    redrawn = prior.model.redraw_codes(codes, seam, generator=torch.Generator().manual_seed(0))
    assert torch.equal(redrawn[~seam], codes[~seam])


def test_autoencoder_fuses_latents_and_feature_maps(served: Path, pair: tuple) -> None:
    run = load_run(served / "kenney" / "vae")
    first, _ = pair
    assert run.fusion_modes() == ["left-right", "top-bottom", "mask", "random", "latent"]
    rebuilt = run.reconstruct(spriteforge.SpriteSet(run.palette.index(first)[None], run.palette)).indices
    # Mixing A's code (or feature map) with itself gives A's code back: its reconstruction.
    for mode in ("latent", "left-right"):
        assert np.array_equal(run.fuse(first, first, 2, mode=mode, seed=0).indices, np.repeat(rebuilt, 2, axis=0))
    mixed = run.fuse(*pair, 4, mode="latent", seed=0)
    assert mixed.indices.shape == (4, 16, 16) and int(mixed.indices.max()) < len(run.palette)


def test_gumbel_vae_mixes_whole_categorical_variables(tiles: spriteforge.SpriteSet) -> None:
    cls = model_class("gumbel_vae")
    model = cls(cls.Config(**cls.presets["tiny"]), DataSpec(16, 16, torch.from_numpy(tiles.palette.colors))).eval()
    codes: list[torch.Tensor] = []
    model.decoder.register_forward_pre_hook(lambda module, inputs: codes.append(inputs[0]))
    first, second = (torch.from_numpy(tiles.indices[i]).expand(3, -1, -1) for i in (3, 11))
    join = joiner_for(model)
    assert join is not None and join.modes[0] == "latent"
    join(model, first, second, Fusion("latent"), None, torch.Generator().manual_seed(0), {})
    shape = (3, -1, model.config.categories)  # (n, variables, categories)
    fused, of_a, of_b = (code.view(shape) for code in (codes[0], model.encode(first), model.encode(second)))
    # Every variable is A's block or B's block, whole (so it still sums to 1).
    whole = (fused == of_a).all(-1) | (fused == of_b).all(-1)
    assert whole.all() and torch.allclose(fused.sum(-1), torch.ones(fused.shape[:2]))


# ---------------------------------------------------------------------- refusals and the command line


def test_refusals_name_the_problem(served: Path, pair: tuple) -> None:
    discrete = load_run(served / "kenney" / "discrete")
    first, second = pair
    with pytest.raises(SpriteforgeError, match="cannot fuse sprites.*discrete_diffusion"):
        load_run(served / "kenney" / "cyclegan").fuse(first, second)
    with pytest.raises(SpriteforgeError, match="'latent': this run fuses with left-right"):
        discrete.fuse(first, second, mode="latent")
    with pytest.raises(SpriteforgeError, match="needs a mask"):
        discrete.fuse(first, second, mode="mask")
    with pytest.raises(SpriteforgeError, match="sprite B is 8x8"):
        discrete.fuse(first, second[:8, :8])


def test_fuse_command_writes_the_grid_and_exits_2_on_bad_input(
    served: Path, pair: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    a, b, small = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "small.png"
    Image.fromarray(pair[0]).save(a)
    Image.fromarray(pair[1]).save(b)
    Image.fromarray(pair[1][:8, :8]).save(small)
    run = served / "kenney" / "discrete"

    def fuse(**changes: object) -> tuple[int, str]:
        options = {"--a": a, "--b": b, "--n": 3, "--mode": "random", "--steps": 2, "--seed": 0, "--scale": 1}
        options.update({f"--{key}": value for key, value in changes.items() if key != "run"})
        flags = [str(item) for option in options.items() for item in option]
        return main(monkeypatch, capsys, "fuse", changes.get("run", run), *flags)

    code, _ = fuse(out=tmp_path / "fused.png")
    assert code == 0 and np.asarray(Image.open(tmp_path / "fused.png")).shape[:2] == (18, 86)  # A, B, 3 in a row
    for changes, mention in [
        ({"b": small}, "sprite B is 8x8"),
        ({"b": tmp_path / "missing.png"}, "missing.png"),
        ({"mode": "latent"}, "this run fuses with left-right"),
        ({"mode": "mask"}, "needs a mask"),
        ({"run": served / "kenney" / "cyclegan"}, "cannot fuse"),
    ]:
        code, err = fuse(out=tmp_path / "not_written.png", **changes)
        assert code == 2 and mention in err, err
    assert not (tmp_path / "not_written.png").exists()


def main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str]:
    """The real entry point's exit code for argv, and its stderr on one line."""
    monkeypatch.setattr(sys, "argv", ["spriteforge", *map(str, args)])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return int(stop.value.code or 0), " ".join(err.split())
