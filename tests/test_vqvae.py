"""The VQ-VAE family: the vector quantiser, the Pixel VQ-VAE options, priors over codes, and `spriteforge encode`.

The contract suite (test_models.py) already runs vqvae, pixel_vqvae and prior through loss/sample/fast_dev_run;
these tests pin what is specific to them, on tiny models and a few Kenney tiles.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import spriteforge as sf
import torch
from fastapi.testclient import TestClient
from spriteforge.cli import app, main
from spriteforge.engine.run import WEIGHTS, instantiate
from spriteforge.errors import SpriteforgeError
from spriteforge.metrics import recon
from spriteforge.metrics.evaluate import evaluate
from spriteforge.models.base import DataSpec
from spriteforge.models.priors import Prior, PriorConfig
from spriteforge.models.vqvae import VQVAE, PixelVQVAE, VQVAEConfig
from spriteforge.nn.autoregressive import CausalTransformer, GatedPixelCNN
from spriteforge.nn.quantize import VectorQuantizer
from spriteforge.nn.ssim import differentiable_ssim
from spriteforge.serve.app import create_app
from typer.testing import CliRunner

# Tiny runs; 4-sprite sample grids, since a prior draws its 8x8 codes one network pass at a time.
TINY = ["train.max_steps=4", "train.batch_size=16", "train.progress=false", "train.num_samples=4", "data.count=48"]


@pytest.fixture(scope="module")
def kenney_dir(test_data: Path) -> Path:
    folder = test_data / "kenney" / "tiles" / "1bit_pack_colored"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


@pytest.fixture(scope="module")
def row_labels(kenney_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labels CSV for the pack's tiles: the sheet row each tile comes from (a categorical label)."""
    rows = [line.split(",") for line in (kenney_dir.parents[1] / "labels.csv").read_text().splitlines()[1:]]
    csv = tmp_path_factory.mktemp("labels") / "rows.csv"
    lines = [f"{Path(file).name},r{row}" for file, pack, _, row, _ in rows if pack == kenney_dir.name]
    csv.write_text("file,row\n" + "\n".join(lines) + "\n")
    return csv


@pytest.fixture(scope="module")
def spec(kenney_dir: Path) -> DataSpec:
    sprites = sf.load_sprites(kenney_dir, count=16, size=16)
    return DataSpec(16, 16, torch.from_numpy(sprites.palette.colors.copy()))


@pytest.fixture(scope="module")
def vq_run(kenney_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> sf.Run:
    return sf.train(
        "vqvae", kenney_dir, tmp_path_factory.mktemp("vq") / "vq", overrides=TINY, logger="none", preset="tiny"
    )


# ---------------------------------------------------------------------- the quantiser


def test_straight_through_gradient_reaches_the_encoder_output() -> None:
    torch.manual_seed(0)
    quantizer = VectorQuantizer(8, 4, ema_decay=0.99).eval()  # eval: the codebook stays as it was for lookup
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    z_q, codes, terms = quantizer(z)
    assert torch.allclose(z_q, quantizer.lookup(codes))  # forward: the codebook vectors
    z_q.sum().backward()  # backward: identity, so every element of z gets gradient 1
    assert torch.equal(z.grad, torch.ones_like(z))
    assert 0 < float(terms["usage"]) <= 1 and 1 <= float(terms["perplexity"]) <= 8


def test_ema_moves_codes_towards_their_assigned_vectors() -> None:
    torch.manual_seed(0)
    quantizer = VectorQuantizer(4, 2, ema_decay=0.9, restart_after=0).train()
    target = quantizer.codebook[1] + torch.tensor([3.0, -2.0])
    z = target.view(1, 2, 1, 1).expand(1, 2, 4, 4).contiguous()  # 16 copies of one vector
    code = int(quantizer.codes_of(z)[0, 0, 0])
    before = (quantizer.codebook[code] - target).norm()
    for _ in range(5):
        quantizer(z)
    assert (quantizer.codebook[code] - target).norm() < 0.5 * before
    assert not isinstance(quantizer.codebook, torch.nn.Parameter)  # EMA: no gradient, no optimiser


def test_gradient_codebook_learns_by_the_codebook_loss() -> None:
    quantizer = VectorQuantizer(4, 2, ema_decay=0.0).train()
    _, _, terms = quantizer(torch.randn(2, 2, 2, 2))
    terms["vq"].backward()
    assert isinstance(quantizer.codebook, torch.nn.Parameter) and quantizer.codebook.grad.abs().sum() > 0


def test_dead_codes_are_restarted_from_encoder_outputs() -> None:
    torch.manual_seed(0)
    quantizer = VectorQuantizer(6, 2, ema_decay=0.0, restart_after=3).train()  # no EMA: only restarts move codes
    quantizer.codebook.data[1:] = 100.0  # codes 1..5 are never the nearest: dead
    z = torch.randn(1, 2, 4, 4) * 0.1 + quantizer.codebook[0].view(1, 2, 1, 1)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    for _ in range(2):
        quantizer(z)
    assert torch.all(quantizer.codebook[1:] == 100.0)  # not idle long enough yet
    quantizer(z)
    restarted = quantizer.codebook[1:]
    assert torch.all(restarted != 100.0)
    assert all(bool((row == flat).all(1).any()) for row in restarted)  # each is one of the batch's vectors
    assert torch.all(quantizer.idle_steps[1:] == 0)
    quantizer.eval()
    frozen = quantizer.codebook.clone()
    quantizer(torch.randn(1, 2, 4, 4))
    assert torch.equal(frozen, quantizer.codebook)  # no update outside training


# ---------------------------------------------------------------------- the Pixel VQ-VAE options


def test_pixel_vqvae_is_the_vqvae_with_the_papers_options(spec: DataSpec) -> None:
    model = PixelVQVAE(PixelVQVAE.Config(**PixelVQVAE.presets["reference"]), spec)
    assert isinstance(model, VQVAE)
    config = model.config
    assert (config.num_codes, config.code_dim, config.ema_decay, config.commitment) == (256, 32, 0.99, 0.25)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (1, 1) and convs[-1].kernel_size == (1, 1)  # adapters
    strided = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert strided and all(m.kernel_size == (2, 2) for m in strided)  # non-overlapping
    projections = [model.encoder[-1], model.decoder[0]]  # PixelSight: 1x1 into and out of the quantiser
    assert all(m.kernel_size == (1, 1) for m in projections)
    plain = VQVAE(VQVAEConfig(), spec)
    assert [m.kernel_size for m in plain.encoder.modules() if isinstance(m, torch.nn.Conv2d)][0] == (3, 3)


def test_no_downsampling_gives_one_code_per_pixel(spec: DataSpec) -> None:
    model = PixelVQVAE(PixelVQVAE.Config(width=8, channels=[], num_codes=16, code_dim=4), spec).eval()
    indices = torch.zeros(2, 16, 16, dtype=torch.long)
    assert model.encode(indices).shape == (2, 16, 16) and model.latent_shape == (16, 16)
    assert model.decode(model.encode(indices)).shape == (2, spec.num_colors, 16, 16)


def test_ssim_loss_is_the_ssim_metric_and_rgba_only(spec: DataSpec, kenney_dir: Path) -> None:
    sprites = sf.load_sprites(kenney_dir, count=8, size=16)
    a = torch.from_numpy(sprites.to_rgba()).permute(0, 3, 1, 2).double() / 255
    b = (a + 0.1 * torch.rand_like(a)).clamp(0, 1)
    metric = recon.ssim(sprites, b, resamples=0).value
    assert float(differentiable_ssim(a, b).mean()) == pytest.approx(metric, abs=1e-9)
    model = PixelVQVAE(PixelVQVAE.Config(representation="rgba", ssim_weight=1.0, **VQVAE.presets["tiny"]), spec)
    terms = model.loss({"indices": torch.from_numpy(sprites.indices).long()}, step=0)
    assert "ssim" in terms and terms["loss"].requires_grad
    with pytest.raises(SpriteforgeError, match="rgba"):
        PixelVQVAE(PixelVQVAE.Config(ssim_weight=1.0), spec)
    with pytest.raises(SpriteforgeError, match="kernel=3"):
        VQVAE(VQVAEConfig(kernel=3), spec)


# ---------------------------------------------------------------------- priors


@pytest.mark.parametrize("arch", ["transformer", "pixelcnn"])
def test_priors_are_causal_in_raster_order(arch: str) -> None:
    torch.manual_seed(0)
    net = CausalTransformer(8, (3, 4), 16, 2, 2, 0.0) if arch == "transformer" else GatedPixelCNN(8, 16, 3, kernel=3)
    net.eval()
    codes = torch.randint(8, (1, 3, 4))
    condition = torch.zeros(1, 16)
    base = net(codes, condition)
    for position in range(12):
        changed = codes.clone().view(-1)
        changed[position:] = (changed[position:] + 1) % 8  # alter this code and every later one
        logits = net(changed.view(1, 3, 4), condition).flatten(2)
        # Logits up to and including `position` predict codes before the change: they must not move.
        assert torch.allclose(logits[..., : position + 1], base.flatten(2)[..., : position + 1], atol=1e-5), position


def test_sampling_from_a_prior_uses_the_frozen_vqvaes_codebook(spec: DataSpec) -> None:
    torch.manual_seed(0)
    small = DataSpec(8, 8, spec.palette_rgba)  # 4x4 codes: 16 network passes per draw
    prior = instantiate(Prior, PriorConfig(**Prior.presets["tiny"]), small).eval()  # an untrained stand-in VQ-VAE
    codes = prior.sample_codes(3, generator=torch.Generator().manual_seed(1))
    sprites = prior.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(sprites, prior.vqvae.decode(codes).argmax(1))  # decoded by the VQ-VAE, code for code
    with torch.no_grad():
        prior.vqvae.quantizer.codebook.mul_(-3.0)  # another codebook, same prior network
    again = prior.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(prior.sample_codes(3, generator=torch.Generator().manual_seed(1)), codes)
    assert not torch.equal(again, sprites)
    assert not any(p.requires_grad for p in prior.vqvae.parameters())


def test_an_attribute_conditioned_transformer_prior(spec: DataSpec) -> None:
    from spriteforge.data.labels import LabelSpec

    labels = LabelSpec(kind="multi_hot", names=("hat", "pipe", "earring"))
    prior = instantiate(Prior, PriorConfig(**Prior.presets["tiny"]), DataSpec(8, 8, spec.palette_rgba, labels))
    assert prior.is_conditional
    rows = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    terms = prior.loss({"indices": torch.zeros(2, 8, 8, dtype=torch.long), "labels": rows}, step=0)
    terms["loss"].backward()
    assert prior.labels.project.weight.grad.abs().sum() > 0  # the attributes reach the start token
    first = prior.eval().sample_codes(2, labels=rows, generator=torch.Generator().manual_seed(0))
    other = prior.sample_codes(2, labels=1 - rows, generator=torch.Generator().manual_seed(0))
    assert first.shape == (2, 4, 4) and not torch.equal(first, other)


def test_a_trained_prior_keeps_its_vqvae_frozen_and_self_contained(vq_run: sf.Run, tmp_path: Path) -> None:
    prior = sf.train(
        "prior",
        None,
        tmp_path / "prior",
        overrides=[*TINY[:4], f"prior.vqvae={vq_run.path}"],
        logger="none",
        preset="tiny",
    )
    # Data, size and palette came from the VQ-VAE run; its weights are in the prior's, unchanged by training.
    assert (
        prior.config.data.source == vq_run.config.data.source
        and prior.palette.colors.tolist() == vq_run.palette.colors.tolist()
    )
    for name, tensor in vq_run.model.state_dict().items():
        assert torch.equal(prior.model.vqvae.state_dict()[name], tensor), name
    assert "val/bits_per_code" in prior.metrics
    sprites = prior.sample(4, seed=0, temperature=0.8, top_k=3)
    assert sprites.size == (16, 16) and int(sprites.indices.max()) < len(vq_run.palette)
    resumed = sf.resume(prior.path, ["train.max_steps=6"])
    assert resumed.metrics["steps"] == 6
    with pytest.raises(SpriteforgeError, match="prior.vqvae"):
        sf.train("prior", None, tmp_path / "none", overrides=TINY, logger="none", preset="tiny")
    with pytest.raises(SpriteforgeError, match="a VQ model .*: pixel_vqvae, vqvae"):
        sf.train("prior", None, tmp_path / "bad", overrides=[*TINY, f"prior.vqvae={prior.path}"], logger="none")


def test_a_conditional_pixelcnn_prior_samples_by_label(vq_run: sf.Run, row_labels: Path, tmp_path: Path) -> None:
    prior = sf.train(
        "prior",
        None,
        tmp_path / "cond",
        labels=row_labels,
        logger="none",
        preset="tiny",
        overrides=[*TINY[:4], f"prior.vqvae={vq_run.path}", "prior.arch=pixelcnn", "data.label_column=row"],
    )
    assert prior.model.is_conditional and prior.model.labels is not None
    sprites = prior.sample(3, seed=0, labels=["r0"])
    assert sprites.size == (16, 16)


@pytest.fixture(scope="module")
def procedural_vq(tmp_path_factory: pytest.TempPathFactory) -> sf.Run:
    """A tiny VQ-VAE on procedural sprites (no shared data folder needed)."""
    folder = tmp_path_factory.mktemp("procedural") / "vq"
    return sf.train("vqvae", "procedural", folder, overrides=TINY, logger="none", preset="tiny")


def test_a_vqvae_run_cannot_sample_and_says_what_it_can(
    procedural_vq: sf.Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The CLI exits 2 with the reason and what to do; the API answers 400; evaluation scores reconstructions."""
    monkeypatch.setattr(
        sys, "argv", ["spriteforge", "sample", str(procedural_vq.path), "--out", str(tmp_path / "s.png")]
    )
    with pytest.raises(SystemExit) as caught:
        main()
    message = "".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert caught.value.code == 2 and "Traceback" not in message
    assert "cannotsample;itcanencode,decode,reconstruct" in message
    assert "prior.vqvae=" in message and not (tmp_path / "s.png").exists()
    client = TestClient(create_app(procedural_vq.path.parent), base_url="http://localhost")  # a loopback Host
    (described,) = client.get("/api/v1/runs").json()["runs"]
    assert described["capabilities"] == ["encode", "decode", "reconstruct"]
    response = client.post("/api/v1/runs/vq/sample", json={"n": 2})
    assert response.status_code == 400 and "cannot sample" in response.json()["detail"]
    evaluation = evaluate(procedural_vq, "procedural", n=8, use_cache=False, progress=False)
    assert set(evaluation.metrics) >= {"recon_pixel_accuracy", "recon_ssim"} and "fid" not in evaluation.metrics
    with pytest.raises(SpriteforgeError, match="cannot sample, so fid cannot be measured"):
        evaluate(procedural_vq, "procedural", n=8, metrics=["fid", "recon"], use_cache=False, progress=False)
    assert (procedural_vq.path / "samples").is_dir()  # its progress grids show reconstructions instead


def test_the_engine_gives_a_prior_its_trained_vqvae_and_the_run_loads_alone(
    procedural_vq: sf.Run, tmp_path: Path
) -> None:
    """The prior declares its VQ-VAE; the engine loads the VQ-VAE run and passes it in; the prior run holds it, so it
    loads and samples after the VQ-VAE's folder is gone."""
    vq_folder = tmp_path / "vq"
    shutil.copytree(procedural_vq.path, vq_folder)
    vq = sf.load_run(vq_folder)
    prior = sf.train(
        "prior", None, tmp_path / "prior", overrides=[*TINY, f"prior.vqvae={vq.path}"], logger="none", preset="tiny"
    )
    recorded = prior.config.model_config
    assert recorded.vqvae == str(vq.path.resolve()) and recorded.vqvae_model == "vqvae"
    assert recorded.vqvae_config["num_codes"] == vq.model.config.num_codes
    assert prior.config.data.source == "procedural" and prior.config.data.size == vq.config.data.size
    for name, tensor in vq.model.state_dict().items():
        assert torch.equal(prior.model.vqvae.state_dict()[name], tensor), name
    before = prior.sample(3, seed=1)
    (vq.path / WEIGHTS).unlink()  # the VQ-VAE run is no longer loadable: the prior must not need it
    reloaded = sf.load_run(prior.path)
    np.testing.assert_array_equal(reloaded.sample(3, seed=1).indices, before.indices)
    assert "sample" not in vq.model.capabilities() and "sample" in reloaded.model.capabilities()


# ---------------------------------------------------------------------- the CLI: train, sample, encode


def test_cli_trains_samples_and_encodes(vq_run: sf.Run, kenney_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    prior_dir = tmp_path / "prior"
    result = runner.invoke(
        app,
        [
            "train",
            "--model",
            "prior",
            "--preset",
            "tiny",
            "--set",
            f"prior.vqvae={vq_run.path}",
            "--set",
            "prior.arch=pixelcnn",
            "--steps",
            "3",
            "--set",
            "train.batch_size=16",
            "--set",
            "train.progress=false",
            "--set",
            "train.num_samples=4",
            "--logger",
            "none",
            "--out",
            str(prior_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    pixel_dir = tmp_path / "pvq"
    common = [
        "--steps",
        "3",
        "--set",
        "train.batch_size=16",
        "--set",
        "data.count=48",
        "--set",
        "train.progress=false",
        "--set",
        "train.num_samples=4",
    ]
    result = runner.invoke(
        app,
        [
            "train",
            "--model",
            "pixel_vqvae",
            "--preset",
            "tiny",
            "--data",
            str(kenney_dir),
            *common,
            "--logger",
            "none",
            "--out",
            str(pixel_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["train", "--resume", str(pixel_dir), "--set", "train.max_steps=5"])
    assert result.exit_code == 0, result.output
    assert sf.load_run(pixel_dir).metrics["steps"] == 5
    result = runner.invoke(
        app, ["sample", str(prior_dir), "--n", "4", "--seed", "0", "--top-k", "4", "--out", str(tmp_path / "s.png")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.png").is_file()
    out = tmp_path / "codes.npz"
    result = runner.invoke(app, ["encode", str(vq_run.path), "--data", str(kenney_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with np.load(out) as saved:
        codes, files = saved["codes"], saved["files"]
    sprites = sf.load_sprites(kenney_dir, size=16)
    assert codes.shape == (len(sprites), 8, 8) and codes.dtype == np.int64 and len(files) == len(sprites)
    assert np.array_equal(codes[:5], vq_run.encode(sprites.subset(slice(0, 5))))
    result = runner.invoke(
        app, ["encode", str(vq_run.path), "--data", str(kenney_dir), "--out", str(tmp_path / "c.txt")]
    )
    assert result.exit_code != 0 and "npz" in str(result.exception)
    with pytest.raises(SpriteforgeError, match="discrete codes"):
        vq_run.interpolate(sprites.subset([0]), sprites.subset([1]))


def test_encode_exports_vae_latents_with_labels(kenney_dir: Path, row_labels: Path, tmp_path: Path) -> None:
    run = sf.train("vae", kenney_dir, tmp_path / "vae", overrides=TINY, logger="none", preset="tiny")
    sprites = sf.load_sprites(kenney_dir, size=16, labels=row_labels, label_column="row")
    with np.load(run.encode_dataset(sprites, tmp_path / "z.npz")) as saved:
        assert (
            saved["codes"].shape == (len(sprites), run.model.config.latent_dim) and saved["codes"].dtype == np.float32
        )
        assert saved["labels"].shape == (len(sprites),) and "r0" in saved["label_names"].tolist()
        assert saved["files"][0] == sprites.names[0]
