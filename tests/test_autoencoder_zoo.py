"""Issue 3: conditioning of the autoencoders, the Gumbel-softmax VAE, end to end on real labels (Kenney packs,
CryptoPunks attributes)."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import spriteforge
import torch
from spriteforge.data.labels import LabelSpec
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, model_class
from spriteforge.nn.pixels import INDEX, RGBA

from test_cli import fails, invoke, squash

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
ATTRIBUTES = LabelSpec("multi_hot", ("female", "male", "earring", "cap"))


@pytest.fixture(scope="module")
def kenney_packs(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 tiles each of two 16x16 Kenney packs, with a labels.csv (file,pack) beside them."""
    folder = tmp_path_factory.mktemp("kenney_packs")
    rows = []
    for pack in ("tiny_dungeon", "tiny_battle"):
        source = test_data / "kenney" / "tiles" / pack
        if not source.is_dir():
            pytest.skip(f"{source} not found")
        (folder / pack).mkdir()
        for tile in sorted(source.glob("*.png"))[:24]:
            shutil.copy(tile, folder / pack / tile.name)
            rows.append(f"{pack}/{tile.name},{pack}\n")
    (folder / "labels.csv").write_text("file,pack\n" + "".join(rows))
    return folder


@pytest.fixture(scope="module")
def punks(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 200 CryptoPunks and their 92 multi-hot attribute columns."""
    source = test_data / "cpunks"
    if not (source / "labels.csv").is_file():
        pytest.skip(f"{source} not found")
    folder = tmp_path_factory.mktemp("punks")
    (folder / "images").mkdir()
    with (source / "labels.csv").open(newline="") as handle:
        reader = csv.reader(handle)
        header, rows = next(reader), [row for _, row in zip(range(200), reader)]
    for row in rows:
        shutil.copy(source / row[0], folder / row[0])
    with (folder / "labels.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return folder


def _spec(labels: LabelSpec | None = ATTRIBUTES) -> DataSpec:
    palette = spriteforge.load_sprites("procedural", count=4, size=16).palette
    return DataSpec(16, 16, torch.from_numpy(palette.colors.copy()), labels)


def _model(name: str, conditioning: str, body: str = "conv", representation: str = INDEX, **extra):
    torch.manual_seed(0)
    cls = model_class(name)
    config = cls.Config(
        representation=representation, **{**cls.presets["tiny"], "body": body, "conditioning": conditioning, **extra}
    )
    return cls(config, _spec())


# ---------------------------------------------------------------------- conditioning


@pytest.mark.parametrize("name", ["ae", "vae", "gumbel_vae"])
@pytest.mark.parametrize("body", ["conv", "mlp"])
def test_the_requested_labels_reach_the_decoder(name: str, body: str) -> None:
    model = _model(name, "conditional", body).eval()
    assert model.is_conditional
    seen = []
    handle = model.decoder.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    asked = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1]])  # (female, earring) and (male, cap)
    z = model._prior(2, torch.Generator().manual_seed(0))
    first, second = model.decode(z, asked), model.decode(z, asked.flip(0))
    handle.remove()
    # The decoder's input is [z, y]: the asked label vector, row by row.
    assert torch.equal(seen[0][:, -len(ATTRIBUTES) :], asked)
    assert not torch.allclose(first, second), "the same z with other labels gave the same output"
    # Sampling passes the labels through too: different labels, same seed, different sprites' logits.
    generator = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    a = model.sample(2, labels=asked, generator=generator())
    b = model.sample(2, labels=asked.flip(0), generator=generator())
    assert a.shape == (2, 16, 16) and b.shape == a.shape


def test_categorical_labels_are_one_hot_in_the_decoder_input() -> None:
    spec = _spec(LabelSpec("categorical", ("tiny_battle", "tiny_dungeon", "roguelike"), "pack"))
    model = model_class("vae")(
        model_class("vae").Config(**model_class("vae").presets["tiny"], conditioning="conditional"), spec
    ).eval()
    seen = []
    model.decoder.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    model.sample(3, labels=torch.tensor([2, 0, 1]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(seen[0][:, -3:], torch.eye(3)[[2, 0, 1]])


def test_labelled_feeds_the_encoder_only() -> None:
    model = _model("vae", "labelled").train()
    assert not model.is_conditional
    indices = torch.randint(0, model.spec.num_colors, (4, 16, 16))
    labels = torch.tensor([[1.0, 0, 1, 0]] * 4, requires_grad=True)
    model.loss({"indices": indices, "labels": labels}, step=0)["loss"].backward()
    assert labels.grad is not None and labels.grad.abs().sum() > 0, "the labels do not reach the encoder"
    assert model.decoder[0].in_features == model.config.latent_dim  # no label columns in the decoder
    with pytest.raises(SpriteforgeError, match="not conditional"):
        model.sample(2, labels=labels.detach()[:2])
    with pytest.raises(SpriteforgeError, match="needs labels .*labels CSV"):
        model.encode(indices)  # encoding needs the sprites' labels


def test_unseen_attribute_combinations_sample() -> None:
    model = _model("vae", "conditional", representation=RGBA).eval()
    everything = torch.ones(3, len(ATTRIBUTES))  # female and male at once: in no dataset
    output = model.sample(3, labels=everything, generator=torch.Generator().manual_seed(0))
    assert output.shape == (3, 4, 16, 16) and torch.isfinite(output).all()


def test_conditional_sampling_without_labels_names_label_and_the_vocabulary() -> None:
    model = _model("vae", "conditional").eval()
    with pytest.raises(SpriteforgeError) as caught:
        model.sample(2)
    # The model names the value it needs, not a CLI flag.
    assert "needs labels" in str(caught.value) and "earring" in str(caught.value) and "--" not in str(caught.value)


def test_conditioning_without_labels_in_the_data_is_refused() -> None:
    cls = model_class("vae")
    with pytest.raises(SpriteforgeError, match="labelled sprites"):
        cls(cls.Config(**cls.presets["tiny"], conditioning="conditional"), _spec(None))
    with pytest.raises(SpriteforgeError, match="labelled"):
        cls(cls.Config(**cls.presets["tiny"], conditioning="sometimes"), _spec())


# ---------------------------------------------------------------------- Gumbel-softmax VAE


def test_gumbel_temperature_annealing_schedule() -> None:
    model = _model("gumbel_vae", "none", tau0=2.0, tau_min=0.5, anneal_rate=1e-3)
    assert model.temperature(0) == pytest.approx(2.0)
    assert model.temperature(500) == pytest.approx(2.0 * math.exp(-0.5))
    assert model.temperature(1000) == pytest.approx(2.0 * math.exp(-1.0))
    assert model.temperature(10_000) == 0.5  # the floor
    terms = model.train().loss(
        {"indices": torch.zeros(2, 16, 16, dtype=torch.long), "labels": torch.zeros(2, 4)}, step=500
    )
    assert float(terms["tau"]) == pytest.approx(2.0 * math.exp(-0.5))


@pytest.mark.parametrize("hard", [True, False])
def test_gumbel_codes_are_blocks_of_categories(hard: bool) -> None:
    model = _model("gumbel_vae", "none", hard=hard).train()  # tiny: latent_dim 8 = 2 variables x 4 categories
    posterior = torch.randn(5, 8, requires_grad=True)
    z, penalties = model._latent_and_penalty(posterior, step=0)
    blocks = z.reshape(5, 2, 4)
    assert torch.allclose(blocks.sum(-1), torch.ones(5, 2))
    if hard:  # straight-through: exactly one-hot forward, gradient still reaches the logits
        assert set(blocks.detach().unique().tolist()) <= {0.0, 1.0}
    else:
        assert (blocks > 0).all() and (blocks < 1).all()
    (z * torch.randn_like(z)).sum().backward()
    assert posterior.grad.abs().sum() > 0
    kl_logged, _ = penalties["kl"]
    assert float(kl_logged) > 0
    _, uniform = model._latent_and_penalty(torch.zeros(3, 8), step=0)
    assert float(uniform["kl"][0]) == pytest.approx(0.0, abs=1e-6)  # uniform posterior = the prior


def test_gumbel_prior_draws_uniform_one_hot_categories() -> None:
    model = _model("gumbel_vae", "none").eval()
    z = model._prior(4000, torch.Generator().manual_seed(0)).reshape(4000, 2, 4)
    assert torch.equal(z.sum(-1), torch.ones(4000, 2))
    frequencies = z.mean(0)  # (2,4): ~1/4 each
    assert (frequencies - 0.25).abs().max() < 0.03
    with pytest.raises(SpriteforgeError, match="multiple of categories"):
        _model("gumbel_vae", "none", latent_dim=9)


# ---------------------------------------------------------------------- end to end on real labels

TINY_CONDITIONAL = [
    "--preset",
    "tiny",
    "--steps",
    3,
    "--logger",
    "none",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.progress=false",
    "--set",
    "train.sample_every=3",
]


@pytest.fixture(scope="module")
def kenney_run(kenney_packs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("kenney_run") / "run"
    invoke(
        "train",
        "--model",
        "vae",
        "--data",
        kenney_packs,
        "--labels",
        kenney_packs / "labels.csv",
        "--label-column",
        "pack",
        "--out",
        run,
        "--set",
        "vae.conditioning=conditional",
        *TINY_CONDITIONAL,
    )
    return run


@pytest.fixture(scope="module")
def punks_run(punks: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("punks_run") / "run"
    invoke(
        "train",
        "--model",
        "gumbel_vae",
        "--data",
        punks / "images",
        "--labels",
        punks / "labels.csv",
        "--out",
        run,
        "--set",
        "gumbel_vae.conditioning=conditional",
        *TINY_CONDITIONAL,
    )
    return run


@pytest.fixture(scope="module")
def pack_classifier(kenney_packs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("classifiers") / "packs"
    printed = invoke(
        "classifier",
        "train",
        "--data",
        kenney_packs,
        "--labels",
        kenney_packs / "labels.csv",
        "--label-column",
        "pack",
        "--out",
        out,
        "--steps",
        30,
        "--batch-size",
        16,
        "--val-fraction",
        0.25,
    )
    assert "tiny_dungeon" in printed and "mean_auc" in printed
    return out


def test_conditional_run_on_kenney_packs_samples_by_pack(
    kenney_run: Path, kenney_packs: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    grid = tmp_path / "dungeon.png"
    assert "wrote 8" in invoke(
        "sample", kenney_run, "--label", "pack=tiny_dungeon", "--n", 8, "--seed", 0, "--out", grid
    )
    assert grid.is_file()
    fails(
        monkeypatch,
        capsys,
        "sample",
        kenney_run,
        "--label",
        "pack=castle",
        "--out",
        tmp_path / "x.png",
        mentions=("castle", "tiny_battle", "tiny_dungeon"),
    )
    fails(monkeypatch, capsys, "sample", kenney_run, "--out", tmp_path / "y.png", mentions=("--label", "tiny_dungeon"))
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
    loaded = spriteforge.load_run(kenney_run)
    assert loaded.model.is_conditional
    both = spriteforge.load_sprites(kenney_packs, labels=kenney_packs / "labels.csv", label_column="pack")
    assert len(loaded.reconstruct(both.subset(slice(0, 4)))) == 4  # the sprites' own labels go in
    assert loaded.interpolate(both.subset([0]), both.subset([30]), steps=3).indices.shape == (3, 16, 16)
    invoke(
        "reconstruct",
        kenney_run,
        "--data",
        kenney_packs,
        "--labels",
        kenney_packs / "labels.csv",
        "--label-column",
        "pack",
        "--n",
        4,
        "--out",
        tmp_path / "r.png",
    )
    invoke("interpolate", kenney_run, "--pairs", 2, "--steps", 3, "--out", tmp_path / "walk.gif")
    assert (tmp_path / "r.png").is_file() and (tmp_path / "walk.gif").is_file()


def test_conditional_run_on_cryptopunks_attributes(punks_run: Path, tmp_path: Path) -> None:
    invoke("sample", punks_run, "--label", "female", "--label", "earring", "--n", 4, "--out", tmp_path / "f.png")
    # alien + ape + a top hat: a combination that no punk has.
    invoke(
        "sample",
        punks_run,
        "--label",
        "alien",
        "--label",
        "ape",
        "--label",
        "topHat",
        "--n",
        4,
        "--out",
        tmp_path / "u.png",
    )
    assert (tmp_path / "u.png").is_file()


# ---------------------------------------------------------------------- the attribute classifier and conditional accuracy


def test_auc_by_ranks_matches_counting_pairs() -> None:
    from spriteforge.metrics.classifier import auc

    rng = np.random.default_rng(0)
    scores, truth = rng.integers(0, 5, 60).astype(float), rng.integers(0, 2, 60)  # many ties
    pos, neg = scores[truth == 1], scores[truth == 0]
    pairs = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    assert auc(scores, truth) == pytest.approx(pairs)
    assert auc(np.array([0.1, 0.9]), np.array([0, 1])) == 1.0
    assert auc(np.array([0.1, 0.9]), np.array([1, 1])) is None


def test_pack_classifier_on_real_kenney_tiles(pack_classifier: Path, kenney_packs: Path) -> None:
    from spriteforge.metrics.classifier import load_classifier

    judge = load_classifier(pack_classifier)
    metrics = judge.metrics
    assert metrics["held_out_sprites"] == 12 and metrics["train_sprites"] == 36
    # Two packs with different palettes and styles: even 30 small steps separate them.
    assert metrics["mean_auc"] > 0.8 and metrics["accuracy"] > 0.6
    sprites = spriteforge.load_sprites(kenney_packs)
    probabilities = judge.probabilities(sprites)
    assert probabilities.shape == (48, 2) and np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert not list(pack_classifier.glob("*.pt")) and not list(pack_classifier.glob("*.ckpt"))  # no pickle


def test_attribute_classifier_on_cryptopunks(punks: Path, tmp_path: Path) -> None:
    from spriteforge.metrics.classifier import load_classifier, train_classifier

    trained = train_classifier(
        punks / "images",
        punks / "labels.csv",
        tmp_path / "cls",
        steps=40,
        batch_size=32,
        channels=[8, 16],
        val_fraction=0.2,
        progress=False,
    )
    metrics = load_classifier(tmp_path / "cls").metrics
    assert metrics == trained.metrics and metrics["held_out_sprites"] == 40
    assert set(metrics["auc"]) == set(trained.labels.names) and len(metrics["auc"]) == 92
    assert metrics["auc"]["male"] is not None and 0.0 <= metrics["auc"]["male"] <= 1.0
    assert 0.0 <= metrics["exact_match"] <= metrics["accuracy"] <= 1.0
    with pytest.raises(SpriteforgeError, match="already holds"):
        train_classifier(punks / "images", punks / "labels.csv", tmp_path / "cls", steps=1, progress=False)


def test_conditional_accuracy_through_eval(
    kenney_run: Path, kenney_packs: Path, pack_classifier: Path, tmp_path: Path
) -> None:
    printed = invoke(
        "eval",
        kenney_run,
        "--data",
        kenney_packs,
        "--n",
        40,
        "--metrics",
        "palette,conditional",
        "--classifier",
        pack_classifier,
        "--out",
        tmp_path / "report",
    )
    assert "conditional_accuracy" in printed
    import json

    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())["metrics"]
    assert 0.0 <= metrics["conditional_accuracy"]["value"] <= 1.0 and metrics["conditional_accuracy"]["n"] == 40
    without = invoke("eval", kenney_run, "--data", kenney_packs, "--n", 10, "--metrics", "conditional")
    assert "--classifier" in squash(without)


def test_conditional_accuracy_samples_with_the_given_options(kenney_run: Path, pack_classifier: Path) -> None:
    from spriteforge.metrics.classifier import load_classifier
    from spriteforge.metrics.conditional import conditional_accuracy

    run, judge = spriteforge.load_run(kenney_run), load_classifier(pack_classifier)
    result = conditional_accuracy(run, judge, n=20, seed=0, temperature=0.0)
    assert result["overall"]["n"] == 20 and 0.0 <= result["overall"]["value"] <= 1.0
    with pytest.raises(SpriteforgeError, match="no sampling option guidance"):
        conditional_accuracy(run, judge, n=20, seed=0, guidance=3.0)


def test_conditional_accuracy_multi_hot_includes_unseen_combinations(
    punks_run: Path, punks: Path, tmp_path: Path
) -> None:
    from spriteforge.metrics.classifier import train_classifier
    from spriteforge.metrics.conditional import conditional_accuracy, label_requests

    run = spriteforge.load_run(punks_run)
    requests, unseen = label_requests(run, 50, seed=0)
    existing = {tuple(row) for row in run.training_data().labels.tolist()}
    assert unseen.sum() == 10 and all(tuple(row) not in existing for row in requests[unseen].tolist())
    judge = train_classifier(
        punks / "images", punks / "labels.csv", tmp_path / "cls", steps=5, channels=[8, 16], progress=False
    )
    result = conditional_accuracy(run, judge, n=50, seed=0)
    for key in ("overall", "asked_present", "unasked_absent", "exact", "unseen_overall"):
        assert 0.0 <= result[key]["value"] <= 1.0, key
    assert result["overall"]["n"] == 50 and result["unseen_overall"]["n"] == 10


def test_edit_adds_an_attribute_vector(
    kenney_run: Path, kenney_packs: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    run = spriteforge.load_run(kenney_run)
    sprites = spriteforge.load_sprites(kenney_packs, labels=kenney_packs / "labels.csv", label_column="pack")
    latent, labels = run.attribute_vector(sprites, "pack=tiny_dungeon")
    assert latent.shape == (run.model.config.latent_dim,)
    assert labels is not None and labels.tolist() == pytest.approx([-1.0, 1.0])  # battle -> dungeon, in label space
    originals, edited = run.edit(sprites, "tiny_dungeon", strength=1.0, n=5)
    assert len(originals) == len(edited) == 5 and all(name.startswith("tiny_battle") for name in originals.names)
    out = tmp_path / "edit.png"
    printed = invoke(
        "edit",
        kenney_run,
        "--data",
        kenney_packs,
        "--labels",
        kenney_packs / "labels.csv",
        "--label-column",
        "pack",
        "--add",
        "pack=tiny_dungeon",
        "--n",
        4,
        "--out",
        out,
    )
    assert out.is_file() and "tiny_dungeon" in printed
    fails(
        monkeypatch,
        capsys,
        "edit",
        kenney_run,
        "--data",
        kenney_packs,
        "--labels",
        kenney_packs / "labels.csv",
        "--label-column",
        "pack",
        "--add",
        "castle",
        "--out",
        tmp_path / "bad.png",
        mentions=("castle", "tiny_battle"),
    )
    assert not (tmp_path / "bad.png").exists()
