"""The model contract, run over every registered model and every representation it declares.

One identical suite for all models (as in pythae): a new file in spriteforge/models/ with @register is picked up
here without touching this file. Each case builds a tiny model on a tiny real batch (procedural sprites and Kenney
tiles), so the whole suite stays fast on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import spriteforge
import torch
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine.batches import SpriteBatches
from spriteforge.engine.config import TrainConfig
from spriteforge.engine.module import SpriteModule
from spriteforge.engine.run import instantiate
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import (
    CAPABILITIES,
    HANDED_ON,
    DataSpec,
    GenerativeModel,
    config_fields,
    model_class,
    registered,
)
from spriteforge.models.vae import VAE, VAEConfig
from spriteforge.nn.pixels import INDEX, RGBA, PaletteCodec, draw_categorical

CASES = [(name, rep) for name, cls in registered().items() for rep in cls.representations]
IDS = [f"{name}-{rep}" for name, rep in CASES]
# The sampling tests run over the models that can sample (a translator or a VQ-VAE cannot).
SAMPLING = [(name, rep) for name, rep in CASES if "sample" in model_class(name).capabilities()]
SAMPLING_IDS = [f"{name}-{rep}" for name, rep in SAMPLING]


def tiny_config(cls: type[GenerativeModel], representation: str, **extra) -> object:
    """The model's own "tiny" preset (every registered model must have one), plus `extra`."""
    assert "tiny" in cls.presets, f"{cls.name}: declare presets['tiny'], the small config tests and smoke runs use"
    return cls.Config(representation=representation, **{**cls.presets["tiny"], **extra})


def spec_of(sprites: SpriteSet) -> DataSpec:
    height, width = sprites.size
    return DataSpec(height=height, width=width, palette_rgba=torch.from_numpy(sprites.palette.colors.copy()))


@pytest.fixture(scope="module")
def procedural() -> SpriteSet:
    return spriteforge.load_sprites("procedural", count=16, size=16)


@pytest.fixture(scope="module")
def kenney(test_data: Path) -> SpriteSet:
    folder = test_data / "kenney" / "tiles" / "1bit_pack_colored"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return spriteforge.load_sprites(folder, count=16, size=16)


@pytest.fixture(params=["procedural", "kenney"])
def sprites(request: pytest.FixtureRequest) -> SpriteSet:
    return request.getfixturevalue(request.param)


def build(name: str, representation: str, sprites: SpriteSet, seed: int = 0, **extra) -> GenerativeModel:
    torch.manual_seed(seed)
    cls = model_class(name)
    # instantiate: as the engine builds a model, with untrained stand-ins for its frozen parts (a prior's VQ-VAE).
    return instantiate(cls, tiny_config(cls, representation, **extra), spec_of(sprites))


def batch_of(sprites: SpriteSet) -> dict:
    # "domain_a": the second image domain two-domain models (cyclegan) need; here the sprites' own colours stand in.
    # Other models ignore it.
    return {"indices": torch.from_numpy(sprites.indices.astype(np.int64)), "domain_a": rgba_of(sprites)}


def rgba_of(sprites: SpriteSet) -> torch.Tensor:
    """(N,4,H,W) float in [0,1]."""
    return torch.from_numpy(sprites.to_rgba()).permute(0, 3, 1, 2).float() / 255


def check_sample(model: GenerativeModel, output: torch.Tensor, n: int) -> None:
    height, width, k = model.spec.height, model.spec.width, model.spec.num_colors
    if model.representation == INDEX:
        assert output.shape == (n, height, width)
        assert output.dtype == torch.long
        assert int(output.min()) >= 0 and int(output.max()) < k
    else:
        assert output.shape == (n, 4, height, width)
        assert output.is_floating_point()
        assert float(output.min()) >= 0.0 and float(output.max()) <= 1.0


# ---------------------------------------------------------------------- the registry


def test_registry_holds_the_autoencoders() -> None:
    names = registered()
    assert {"ae", "vae"} <= set(names)
    for name, cls in names.items():
        assert cls.name == name
        assert issubclass(cls, GenerativeModel)
        assert dataclasses.is_dataclass(cls.Config)
        assert set(cls.representations) <= {INDEX, RGBA}
        assert cls.representations


def test_unknown_model_name_lists_the_registered_ones() -> None:
    with pytest.raises(SpriteforgeError) as caught:
        model_class("nope")
    for name in registered():
        assert name in str(caught.value)


def test_registering_a_name_twice_is_refused() -> None:
    from spriteforge.models.base import register

    with pytest.raises(ValueError):
        register("vae")(type("Again", (GenerativeModel,), {}))


# ---------------------------------------------------------------------- the contract, per model x representation


@pytest.mark.parametrize(("name", "representation"), CASES, ids=IDS)
def test_loss_is_a_finite_scalar_with_gradients(name: str, representation: str, sprites: SpriteSet) -> None:
    model = build(name, representation, sprites).train()
    terms = model.loss(batch_of(sprites), step=0)
    assert isinstance(terms, dict) and "loss" in terms
    for value in terms.pop(HANDED_ON, {}).values():  # tensors for the next parameter group's loss: data, no graph
        assert isinstance(value, torch.Tensor) and not value.requires_grad
    for key, value in terms.items():
        assert isinstance(value, torch.Tensor), key
        assert value.dim() == 0, f"{key} is not a scalar: {tuple(value.shape)}"
        assert torch.isfinite(value), f"{key} = {value}"
    assert terms["loss"].requires_grad
    terms["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is None or torch.isfinite(g).all() for g in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "no gradient reaches the parameters"


@pytest.mark.parametrize("name", sorted(registered()))
def test_loss_takes_step_and_group_as_keywords(name: str) -> None:
    """The engine's control values are keywords, never batch entries: the batch holds data only."""
    parameters = inspect.signature(model_class(name).loss).parameters
    assert list(parameters)[:2] == ["self", "batch"]
    assert parameters["step"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["group"].kind is inspect.Parameter.KEYWORD_ONLY and parameters["group"].default is None


@pytest.mark.parametrize(("name", "representation"), CASES, ids=IDS)
def test_a_model_keeps_no_tensors_between_loss_calls(name: str, representation: str, procedural: SpriteSet) -> None:
    """A training step (each parameter group's loss and backward, in the engine's order) leaves no tensor on the
    model outside its parameters and buffers: what one loss gives the next is returned (HANDED_ON), not stored."""
    model = build(name, representation, procedural).train()

    def held() -> dict[tuple[str, str], int]:
        return {
            (path, key): id(value)
            for path, module in model.named_modules()
            for key, value in vars(module).items()
            if isinstance(value, torch.Tensor)
            or (isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value))
        }

    before, batch = held(), batch_of(procedural)
    groups = list(model.param_groups()) if "param_groups" in model.capabilities() else [None]
    for group in groups:
        terms = model.loss(batch, step=0, group=group)
        terms["loss"].backward()
        batch = {**batch, **terms.pop(HANDED_ON, {})}
        assert held() == before, group


def test_translators_and_vqvaes_cannot_sample() -> None:
    """`sample` is a capability: a CycleGAN translates, a VQ-VAE's prior (a `prior` run) samples."""
    for name in ("cyclegan", "vqvae", "pixel_vqvae"):
        assert "sample" not in model_class(name).capabilities() and not hasattr(model_class(name), "sample")
    assert {"ae", "vae", "prior", "ddpm"} <= {name for name, _ in SAMPLING}


@pytest.mark.parametrize(("name", "representation"), SAMPLING, ids=SAMPLING_IDS)
def test_sample_shape_range_and_palette_exactness(name: str, representation: str, sprites: SpriteSet) -> None:
    model = build(name, representation, sprites).eval()
    output = model.sample(5, generator=torch.Generator().manual_seed(0))
    check_sample(model, output, 5)
    indices = model.codec.to_indices(output, model.representation)
    assert indices.shape == (5, model.spec.height, model.spec.width)
    assert int(indices.min()) >= 0 and int(indices.max()) < model.spec.num_colors
    # Palette-exact: every pixel's colour is one of the palette's colours.
    rgba = SpriteSet(indices.numpy(), sprites.palette).to_rgba().reshape(-1, 4)
    palette = {tuple(c) for c in sprites.palette.colors.tolist()}
    assert {tuple(c) for c in rgba.tolist()} <= palette


@pytest.mark.parametrize(("name", "representation"), SAMPLING, ids=SAMPLING_IDS)
def test_sample_is_reproducible_with_a_seeded_generator(name: str, representation: str, procedural: SpriteSet) -> None:
    model = build(name, representation, procedural).eval()
    options = [{}]
    if "temperature" in {spec.name for spec in model.option_specs()}:
        options.append({"temperature": 1.0})
    for opts in options:
        first = model.sample(6, generator=torch.Generator().manual_seed(123), **opts)
        second = model.sample(6, generator=torch.Generator().manual_seed(123), **opts)
        assert torch.equal(first, second), opts
    other = model.sample(6, generator=torch.Generator().manual_seed(124))
    if model.representation == RGBA:
        assert not torch.equal(first, other), "different seeds gave identical continuous samples"


@pytest.mark.parametrize(("name", "representation"), SAMPLING, ids=SAMPLING_IDS)
def test_sample_one(name: str, representation: str, procedural: SpriteSet) -> None:
    model = build(name, representation, procedural).eval()
    check_sample(model, model.sample(1, generator=torch.Generator().manual_seed(0)), 1)


@pytest.mark.parametrize(("name", "representation"), CASES, ids=IDS)
def test_capabilities_match_methods_and_shapes(name: str, representation: str, procedural: SpriteSet) -> None:
    model = build(name, representation, procedural).eval()
    capabilities = model.capabilities()
    assert set(capabilities) <= set(CAPABILITIES)
    for capability in CAPABILITIES:
        assert (capability in capabilities) == callable(getattr(type(model), capability, None)), capability
    indices = batch_of(procedural)["indices"][:4]
    height, width, k = model.spec.height, model.spec.width, model.spec.num_colors
    channels = k if representation == INDEX else 4
    with torch.no_grad():
        if "encode" in capabilities:
            z = model.encode(indices)
            # Continuous latent models give (B,D) vectors; VQ models give (B,h,w) integer code grids.
            assert z.shape[0] == 4 and z.dim() == (2 if z.is_floating_point() else 3)
            if "latent_dim" in config_fields(type(model).Config):
                assert z.shape[1] == model.config.latent_dim
            if "decode" in capabilities:
                decoded = model.decode(z)
                assert decoded.shape == (4, channels, height, width)
                if representation == RGBA:
                    assert float(decoded.min()) >= 0.0 and float(decoded.max()) <= 1.0
        if "reconstruct" in capabilities:
            rebuilt = model.reconstruct(indices)
            assert rebuilt.shape in {(4, channels, height, width), (4, height, width)}
            back = model.codec.to_indices(rebuilt, representation)
            assert back.shape == (4, height, width) and int(back.max()) < k


@pytest.mark.parametrize(("name", "representation"), SAMPLING, ids=SAMPLING_IDS)
def test_labels_on_an_unconditional_model_are_refused(name: str, representation: str, procedural: SpriteSet) -> None:
    model = build(name, representation, procedural).eval()  # built without a label vocabulary
    with pytest.raises(SpriteforgeError) as caught:
        model.sample(2, labels=torch.zeros(2, dtype=torch.long))
    assert "label" in str(caught.value)


@pytest.mark.parametrize("name", sorted(registered()))
def test_invalid_representation_is_refused(name: str, procedural: SpriteSet) -> None:
    cls = model_class(name)
    with pytest.raises(SpriteforgeError) as caught:
        instantiate(cls, tiny_config(cls, "hsv"), spec_of(procedural))
    assert "hsv" in str(caught.value)
    for representation in cls.representations:
        assert representation in str(caught.value)


@pytest.mark.parametrize("name", sorted(registered()))
def test_a_size_the_model_cannot_handle_is_a_clear_error(name: str, procedural: SpriteSet) -> None:
    cls = model_class(name)
    palette = torch.from_numpy(procedural.palette.colors.copy())
    odd = DataSpec(height=13, width=13, palette_rgba=palette)
    if "channels" in config_fields(cls.Config):
        with pytest.raises(SpriteforgeError) as caught:
            instantiate(cls, tiny_config(cls, cls.representations[0]), odd)
        assert "13" in str(caught.value) and "divisible" in str(caught.value)
    else:  # a model without halving levels must either work at 13x13 or refuse with a SpriteforgeError
        try:
            model = instantiate(cls, tiny_config(cls, cls.representations[0]), odd)
        except SpriteforgeError:
            return
        model.loss({"indices": torch.zeros(2, 13, 13, dtype=torch.long)}, step=0)


def test_autoencoder_size_check_counts_levels(procedural: SpriteSet) -> None:
    spec = DataSpec(height=12, width=12, palette_rgba=torch.from_numpy(procedural.palette.colors.copy()))
    VAE(VAEConfig(latent_dim=4, channels=[8, 16]), spec)  # 12 halves twice
    with pytest.raises(SpriteforgeError, match="divisible by 8"):
        VAE(VAEConfig(latent_dim=4, channels=[8, 16, 32]), spec)
    with pytest.raises(SpriteforgeError):
        VAE(VAEConfig(latent_dim=4, channels=[]), spec)


@pytest.mark.parametrize(
    "name", [n for n in sorted(registered()) if "rgba_loss" in config_fields(registered()[n].Config)]
)
def test_rgba_losses(name: str, procedural: SpriteSet) -> None:
    for rgba_loss in ("mse", "bce"):
        model = build(name, RGBA, procedural, rgba_loss=rgba_loss)
        terms = model.loss(batch_of(procedural), step=0)
        assert torch.isfinite(terms["loss"])
    with pytest.raises(SpriteforgeError, match="l1"):
        build(name, RGBA, procedural, rgba_loss="l1")


# ---------------------------------------------------------------------- Lightning end to end (fast_dev_run)


@pytest.mark.parametrize(("name", "representation"), CASES, ids=IDS)
def test_fast_dev_run_through_sprite_module(name: str, representation: str, procedural: SpriteSet) -> None:
    model = build(name, representation, procedural)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_config = TrainConfig(batch_size=8, max_steps=1, progress=False, logger="none", ema=True, ema_decay=0.5)
    k = len(procedural.palette)
    domain_a = rgba_of(procedural).numpy() if "domain_a" in model.batch_keys else None  # two-domain models only
    train = SpriteBatches(procedural.indices, None, 8, num_colors=k, shuffle=True, drop_last=True, domain_a=domain_a)
    val = SpriteBatches(procedural.indices[:8], None, 8, num_colors=k, shuffle=False, domain_a=domain_a)
    module = SpriteModule(model, train_config, train, val)
    trainer = L.Trainer(
        fast_dev_run=True,
        accelerator="cpu",
        logger=False,
        log_every_n_steps=1,  # the module logs training terms only on the steps a logger would write
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module)
    assert trainer.global_step == 1
    after = model.state_dict()
    assert any(not torch.equal(before[key], after[key]) for key in before), "one optimiser step changed nothing"
    metrics = trainer.callback_metrics
    assert "train/loss" in metrics and math.isfinite(float(metrics["train/loss"]))
    if "reconstruct" in model.capabilities():
        assert "val/pixel_accuracy" in metrics
        assert 0.0 <= float(metrics["val/pixel_accuracy"]) <= 1.0
        adherence = float(metrics["val/palette_adherence"])
        assert 0.0 <= adherence <= 1.0
        if representation == INDEX:
            assert adherence == 1.0
    # The EMA copy follows the model but is not the model.
    assert module.inference_model is module.ema.model
    if "sample" in model.capabilities():
        check_sample(model, module.inference_model.sample(2, generator=torch.Generator().manual_seed(0)), 2)


# ---------------------------------------------------------------------- PaletteCodec


def test_codec_round_trips_and_snaps(procedural: SpriteSet) -> None:
    codec = PaletteCodec(torch.from_numpy(procedural.palette.colors.copy()))
    indices = torch.from_numpy(procedural.indices.astype(np.int64))
    assert torch.equal(codec.to_indices(codec.to_rgba(indices), RGBA), indices)
    assert torch.equal(codec.to_indices(codec.one_hot(indices) * 10, INDEX), indices)
    assert torch.equal(codec.to_indices(indices, RGBA), indices)  # indices pass through
    assert float(codec.adherence(codec.to_rgba(indices), RGBA)) == 1.0
    noisy = (codec.to_rgba(indices) + 0.01).clamp(0, 1)
    assert torch.equal(codec.snap(noisy), codec.snap(codec.to_rgba(indices)))
    off = torch.full((1, 4, 2, 2), 0.5)
    assert float(codec.adherence(off, RGBA)) < 1.0


def test_draw_categorical_over_any_axis_with_temperature_and_top_k() -> None:
    logits = torch.randn(3, 5, 4, 4, generator=torch.Generator().manual_seed(0))  # (B,K,H,W)
    assert torch.equal(draw_categorical(logits, 0.0, dim=1), logits.argmax(1))
    drawn = draw_categorical(logits, 1.0, generator=torch.Generator().manual_seed(1), dim=1)
    assert drawn.shape == (3, 4, 4) and 0 <= int(drawn.min()) and int(drawn.max()) < 5
    # The same draw with the classes last: the axis is only a layout.
    last = draw_categorical(logits.movedim(1, -1), 1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(drawn, last)
    # top_k=1 leaves only the argmax, at any temperature; a tiny temperature is the argmax too, never NaN.
    assert torch.equal(draw_categorical(logits, 5.0, top_k=1, dim=1), logits.argmax(1))
    assert torch.equal(draw_categorical(logits * 1e4, 1e-6, dim=1), logits.argmax(1))


# ---------------------------------------------------------------------- VAE: KL warm-up and free bits


def _vae(procedural: SpriteSet, **config) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(latent_dim=4, channels=[8, 16], **config), spec_of(procedural))


def test_kl_warmup_beta_values(procedural: SpriteSet) -> None:
    model = _vae(procedural, beta=2.0, kl_warmup_steps=10)
    assert model._beta(0) == 0.0
    assert model._beta(5) == pytest.approx(1.0)
    assert model._beta(10) == pytest.approx(2.0)
    assert model._beta(1000) == pytest.approx(2.0)
    assert _vae(procedural, beta=0.5)._beta(0) == 0.5  # no warm-up: full beta from the start


def test_kl_warmup_step_zero_loss_is_reconstruction_only(procedural: SpriteSet) -> None:
    model = _vae(procedural, beta=1.0, kl_warmup_steps=100).train()
    batch = batch_of(procedural)
    terms = {k: v.detach() for k, v in model.loss(batch, step=0).items()}
    assert float(terms["kl"]) > 0.0
    assert float(terms["loss"]) == pytest.approx(float(terms["recon"]), rel=1e-6)
    pixels = procedural.size[0] * procedural.size[1]
    torch.manual_seed(1)
    halfway = {k: v.detach() for k, v in model.loss(batch, step=50).items()}
    assert float(halfway["loss"]) == pytest.approx(
        float(halfway["recon"]) + 0.5 * float(halfway["kl"]) / pixels, rel=1e-5
    )
    torch.manual_seed(1)
    full = {k: v.detach() for k, v in model.loss(batch, step=100).items()}
    assert float(full["loss"]) == pytest.approx(float(full["recon"]) + float(full["kl"]) / pixels, rel=1e-5)


def _posterior(means: list[float], batch: int = 3) -> torch.Tensor:
    mean = torch.tensor(means).repeat(batch, 1)
    log_var = torch.zeros_like(mean)  # unit variance: KL per dimension = mean^2 / 2
    return torch.cat([mean, log_var], dim=1).requires_grad_(True)


def test_kl_value_matches_the_closed_form(procedural: SpriteSet) -> None:
    model = _vae(procedural, beta=1.0).train()
    posterior = _posterior([0.0, 1.0, 2.0, 3.0])
    _, penalties = model._latent_and_penalty(posterior, step=0)
    logged, weighted = (t.detach() for t in penalties["kl"])
    assert float(logged) == pytest.approx((0 + 1 + 4 + 9) / 2)
    assert float(weighted) == pytest.approx(7.0)


def test_free_bits_do_not_penalise_kl_below_the_threshold(procedural: SpriteSet) -> None:
    model = _vae(procedural, beta=1.0, free_bits=0.5).train()
    # Dimensions 0 and 1 have KL 0.005 (< 0.5 nats), dimensions 2 and 3 have KL 2.0 (> 0.5).
    posterior = _posterior([0.1, -0.1, 2.0, -2.0])
    _, penalties = model._latent_and_penalty(posterior, step=0)
    logged, weighted = penalties["kl"]
    assert float(logged.detach()) == pytest.approx(0.005 + 0.005 + 2.0 + 2.0)  # the logged KL is the true KL
    # Dimensions under the threshold count as the threshold (a constant: no gradient).
    assert float(weighted.detach()) == pytest.approx(0.5 + 0.5 + 2.0 + 2.0)
    weighted.backward()
    mean_grad = posterior.grad[:, :4]
    assert torch.all(mean_grad[:, :2] == 0), "KL below the free-bits threshold still pushes the mean"
    assert torch.all(mean_grad[:, 2:].abs() > 0)


def test_free_bits_with_warmup(procedural: SpriteSet) -> None:
    model = _vae(procedural, beta=1.0, free_bits=0.5, kl_warmup_steps=4).train()
    _, penalties = model._latent_and_penalty(_posterior([2.0, 0.0, 0.0, 0.0]), step=0)
    assert float(penalties["kl"][1].detach()) == 0.0
    _, penalties = model._latent_and_penalty(_posterior([2.0, 0.0, 0.0, 0.0]), step=2)
    assert float(penalties["kl"][1].detach()) == pytest.approx(0.5 * (2.0 + 3 * 0.5))


def test_vae_sample_is_from_the_standard_normal_prior(procedural: SpriteSet) -> None:
    model = _vae(procedural).eval()
    z = model._prior(4000, torch.Generator().manual_seed(0))
    assert z.shape == (4000, 4)
    assert float(z.mean().abs()) < 0.05 and abs(float(z.std()) - 1.0) < 0.05


def test_ae_tracks_latent_statistics_only_in_training(procedural: SpriteSet) -> None:
    model = build("ae", INDEX, procedural).train()
    before = model.latent_mean.clone()
    model.loss(batch_of(procedural), step=0)
    assert not torch.equal(before, model.latent_mean)
    model.eval()
    frozen = model.latent_mean.clone()
    with torch.no_grad():
        model.loss(batch_of(procedural), step=0)
    assert torch.equal(frozen, model.latent_mean)


# ---------------------------------------------------------------------- the fully connected (mlp) body


@pytest.mark.parametrize("name", ["ae", "vae"])
@pytest.mark.parametrize("representation", [INDEX, RGBA])
def test_the_mlp_body_follows_the_contract(kenney: SpriteSet, name: str, representation: str) -> None:
    model = build(name, representation, kenney, body="mlp", hidden=[32, 16])
    terms = model.loss(batch_of(kenney), step=0)
    terms["loss"].backward()
    assert math.isfinite(float(terms["loss"].detach()))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    assert all(isinstance(layer, (torch.nn.Linear, torch.nn.SiLU, torch.nn.Flatten)) for layer in model.encoder)
    model.eval()
    check_sample(model, model.sample(3, generator=torch.Generator().manual_seed(0)), 3)
    indices = batch_of(kenney)["indices"]
    assert model.encode(indices).shape == (16, 4)
    assert model.reconstruct(indices).shape[0] == 16


def test_the_mlp_body_trains_on_any_size(tmp_path: Path) -> None:
    """No halving: a 12x12 canvas, impossible for the default conv body, works with the mlp body."""
    run = spriteforge.train(
        "vae",
        "procedural",
        tmp_path / "mlp",
        overrides=[
            "vae.body=mlp",
            "vae.hidden=[64,32]",
            "vae.latent_dim=4",
            "data.size=12",
            "data.count=48",
            "train.max_steps=6",
            "train.batch_size=16",
            "train.progress=false",
        ],
        logger="none",
    )
    assert run.model.spec.height == 12
    sprites = run.sample(4, seed=0)
    assert sprites.size == (12, 12) and int(sprites.indices.max()) < len(sprites.palette)


def test_bad_bodies_are_refused(procedural: SpriteSet) -> None:
    with pytest.raises(SpriteforgeError, match="body 'transformer'"):
        build("vae", INDEX, procedural, body="transformer")
    with pytest.raises(SpriteforgeError, match="at least one hidden width"):
        build("vae", INDEX, procedural, body="mlp", hidden=[])
