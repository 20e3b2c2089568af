"""Benchmark: the autoencoder zoo (Pallets' models) with one budget, one split, one table.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/autoencoders.py --dataset cpunks --steps 150 --batch 32
    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/autoencoders.py --dataset kenney --steps 150 --batch 32

Every model trains for the same steps x batch on the same seeded split (train.val_fraction=0.1, seed 0: the
held-out tenth is the test set), then is scored on that test set: exact-colour pixel accuracy of reconstructions,
NLL in bits/pixel (the negative ELBO for the VAEs, the decoder's cross-entropy given the code for the AE; index
models only), palette adherence of 1,000 samples before snapping, and, for conditional models, conditional accuracy
judged by an attribute classifier trained on the same training split. Runs already trained are reused (delete
--runs to start again). Writes benchmarks/results/autoencoders_<dataset>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np
import spriteforge as sf

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))

# dataset -> (data folder, labels CSV, extra data overrides)
DATASETS = {
    "cpunks": (DATA / "cpunks/images", DATA / "cpunks/labels.csv", []),
    # All Kenney packs on a 16x16 canvas (8x8 tiles centred, the few 18 and 24 pixel ones cropped), labelled by pack.
    "kenney": (
        DATA / "kenney/tiles",
        DATA / "kenney/labels.csv",
        ["data.label_column=pack", "data.size=16", "data.crop=true"],
    ),
}
# row name -> (model, representation, model config overrides): the Pallets list (AE on RGBA and one-hot colours,
# MLP and conv VAEs, labelled and conditional VAEs for both bodies, Gumbel VAE). The index-mode MLP is ~130 M
# parameters on CryptoPunks (222 colours x 576 pixels in and out): its rows are the slowest to train by far.
MODELS = {
    "ae-mlp-rgba": ("ae", "rgba", {"body": "mlp"}),
    "ae-conv": ("ae", "index", {}),
    "vae-mlp": ("vae", "index", {"body": "mlp"}),
    "vae-conv": ("vae", "index", {}),
    "vae-mlp-labelled": ("vae", "index", {"body": "mlp", "conditioning": "labelled"}),
    "vae-mlp-conditional": ("vae", "index", {"body": "mlp", "conditioning": "conditional"}),
    "vae-conv-labelled": ("vae", "index", {"conditioning": "labelled"}),
    "vae-conv-conditional": ("vae", "index", {"conditioning": "conditional"}),
    "gumbel-conv-conditional": ("gumbel_vae", "index", {"conditioning": "conditional"}),
}
KENNEY_MODELS = ("vae-conv-conditional", "gumbel-conv-conditional", "vae-conv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default="cpunks")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--samples", type=int, default=1000, help="samples for palette adherence and conditional accuracy"
    )
    parser.add_argument(
        "--runs", type=Path, default=None, help="where the runs go (default runs/autoencoders_<dataset>)"
    )
    parser.add_argument("--only", default=None, help="comma-separated row names (default: all for the dataset)")
    args = parser.parse_args()
    data, labels, data_overrides = DATASETS[args.dataset]
    runs = args.runs or ROOT / "runs" / f"autoencoders_{args.dataset}"
    names = args.only.split(",") if args.only else list(KENNEY_MODELS if args.dataset == "kenney" else MODELS)
    budget = [
        f"train.max_steps={args.steps}",
        f"train.batch_size={args.batch}",
        "train.val_fraction=0.1",
        "train.seed=0",
        f"train.warmup_steps={max(1, args.steps // 10)}",
        f"train.sample_every={args.steps}",
        f"train.checkpoint_every={args.steps}",
        f"train.val_every={args.steps}",
        "train.progress=false",
        *data_overrides,
    ]
    trained = {name: _train(runs / name, data, labels, budget, *MODELS[name]) for name in names}
    if args.dataset == "kenney":  # CC0 art: sample grids for the doc (CryptoPunks results stay numbers only)
        for name, run in trained.items():
            _grid(run, ROOT / "docs" / "images" / f"autoencoders_kenney_{name}.png")
    # The judge is trained only when there is a conditional run to judge.
    conditional = any(run.model.is_conditional for run in trained.values())
    judge = _classifier(runs / "classifier", data, labels, data_overrides, args) if conditional else None
    rows = [_score(name, run, judge, args.samples) for name, run in trained.items()]
    results = {
        "dataset": args.dataset,
        "data": str(data),
        "steps": args.steps,
        "batch_size": args.batch,
        "classifier": judge.metrics if judge else None,
        "rows": rows,
    }
    out = ROOT / "benchmarks" / "results" / f"autoencoders_{args.dataset}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


def _train(
    out: Path, data: Path, labels: Path, budget: list[str], model: str, representation: str, config: dict
) -> sf.Run:
    if (out / "metrics.json").is_file():
        return sf.load_run(out)
    overrides = [*budget, *(f"{model}.{key}={value}" for key, value in config.items())]
    print(f"training {out.name}", flush=True)
    return sf.train(model, data, out, labels=labels, overrides=overrides, logger="none", representation=representation)


def _classifier(out: Path, data: Path, labels: Path, data_overrides: list[str], args: argparse.Namespace):
    from spriteforge.metrics.classifier import load_classifier, train_classifier

    if (out / "classifier.json").is_file():
        return load_classifier(out)
    options = {key.split(".")[1]: value for key, value in (item.split("=") for item in data_overrides)}
    return train_classifier(
        data,
        labels,
        out,
        label_column=options.get("label_column"),
        size=int(options.get("size", 0)) or None,
        crop=options.get("crop") == "true",
        val_fraction=0.1,
        seed=0,
        progress=False,
    )


def _score(name: str, run: sf.Run, judge, samples: int) -> dict:
    metrics = run.metrics
    _, adherence = run.generate(
        samples, seed=0, **({"labels": _label_rows(run, samples)} if run.model.is_conditional else {})
    )
    index_model = run.model.representation == "index"
    bits = metrics["val/loss"] / math.log(2) if index_model else None
    row = {
        "model": name,
        "registered": run.config.model,
        "representation": run.model.representation,
        "test_pixel_accuracy": metrics["val/pixel_accuracy"],
        "test_bits_per_pixel": bits,
        "sample_palette_adherence": float(np.mean(adherence)),
        "train_images_per_second": metrics["train_images_per_second"],
        "parameters": sum(p.numel() for p in run.model.parameters()),
        "test_sprites": metrics["val_sprites"],
    }
    if run.model.is_conditional:
        from spriteforge.metrics.conditional import conditional_accuracy

        accuracy = conditional_accuracy(run, judge, n=samples, seed=0)
        row["conditional_accuracy"] = accuracy["overall"]["value"]
        row["conditional_accuracy_detail"] = accuracy
    return row


def _grid(run: sf.Run, path: Path, columns: int = 12) -> None:
    """A conditional run: one row per label (the same seed in every row); otherwise 4 rows of samples."""
    from spriteforge import io

    if not run.model.is_conditional:
        run.sample(4 * columns, seed=0).save_grid(path, scale=3, columns=columns)
        return
    rows = [run.sample(columns, seed=0, labels=[name]).to_rgba() for name in run.labels.names]
    io.write_png(path, io.make_grid(np.concatenate(rows), columns=columns, scale=3))
    print(f"wrote {path}")


def _label_rows(run: sf.Run, n: int):
    """Training label rows, drawn with a seed: what a conditional model is asked for in the adherence draw."""
    import torch

    pool = run.training_data().labels
    return torch.from_numpy(pool[np.random.default_rng(0).choice(len(pool), n)])


def markdown(results: dict) -> str:
    head = (
        "| model | repr | test pixel accuracy | test NLL (bits/pixel) | sample palette adherence | "
        "conditional accuracy | train images/s (CPU) | parameters |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for row in results["rows"]:
        bits = "n/a (rgba)" if row["test_bits_per_pixel"] is None else f"{row['test_bits_per_pixel']:.3f}"
        conditional = f"{row['conditional_accuracy']:.3f}" if "conditional_accuracy" in row else "-"
        lines.append(
            f"| {row['model']} | {row['representation']} | {row['test_pixel_accuracy']:.4f} | {bits} | "
            f"{row['sample_palette_adherence']:.4f} | {conditional} | {row['train_images_per_second']:.0f} | "
            f"{row['parameters']:,} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
