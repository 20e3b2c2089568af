"""`evaluate` and `compare`: score runs against real sprites, the same way every time.

One evaluation draws `n` samples with a fixed seed, then computes the chosen metric groups:

    fid, kid, pr   Inception features of samples vs real sprites (metrics/fid.py)
    palette        palette adherence before snapping, colours per sprite, silhouettes (metrics/palette.py)
    novelty        distance to the nearest training sprite, share of copies (metrics/novelty.py)
    recon          exact-pixel accuracy, MSE, SSIM of reconstructions, for models that reconstruct (metrics/recon.py)
    conditional    conditional accuracy through the attribute classifier (metrics/conditional.py)

A run whose model cannot sample (a VQ-VAE: its prior samples) is scored by its reconstructions alone.

Results are cached in RUN/eval/<key>.json, keyed by the weights, the real data and the settings, so `compare` never
recomputes a run it has scored before with the same settings.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spriteforge import io
from spriteforge.data.sprites import SpriteSet, load_sprites
from spriteforge.engine import run as runfiles
from spriteforge.engine.trained import Run, load_run
from spriteforge.errors import SpriteforgeError
from spriteforge.metrics import METRIC_GROUPS, conditional, fid, novelty, palette, recon
from spriteforge.metrics.classifier import load_classifier
from spriteforge.metrics.stats import Estimate, mean_estimate

CACHE_VERSION = "2"
REAL_PREFIX = "real_"  # metrics of the real data itself, reported for reference
SHOWN_SAMPLES = 64
# The groups that need no samples (every other group scores the run's samples): all a run that cannot sample gets.
RECONSTRUCTION_GROUPS = ("recon",)

# Which way is better, for marking the best run per column (metrics not listed have no better direction).
LOWER_IS_BETTER = {"fid", "kid", "colors_per_sprite_tv", "copies", "near_copies", "recon_mse"}
HIGHER_IS_BETTER = {
    "precision",
    "recall",
    "palette_adherence",
    "recon_pixel_accuracy",
    "recon_opaque_pixel_accuracy",
    "recon_ssim",
    "conditional_accuracy",
    "conditional_asked_present",
    "conditional_unasked_absent",
    "conditional_exact",
    "conditional_unseen_accuracy",
}
# conditional.conditional_accuracy's keys -> metric names in the report
CONDITIONAL_METRICS = {
    "overall": "conditional_accuracy",
    "asked_present": "conditional_asked_present",
    "unasked_absent": "conditional_unasked_absent",
    "exact": "conditional_exact",
    "unseen_overall": "conditional_unseen_accuracy",
}


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation depends on besides the run and the data (part of the cache key)."""

    n: int = 1000
    seed: int = 0
    metrics: tuple[str, ...] = METRIC_GROUPS
    bootstrap: int = 10  # FID resamples; other intervals use metrics.stats' default
    classifier: str | None = None  # attribute classifier folder, the judge of the "conditional" group

    def __post_init__(self) -> None:
        if self.n < 2:
            raise SpriteforgeError(f"--n {self.n}: an evaluation needs at least 2 samples.")
        unknown = sorted(set(self.metrics) - set(METRIC_GROUPS))
        if unknown:
            raise SpriteforgeError(f"--metrics: unknown {', '.join(unknown)}. Choose from {', '.join(METRIC_GROUPS)}.")


@dataclass
class Evaluation:
    """The scores of one run: `metrics` maps a name to an Estimate (or a plain value); `details` holds extras."""

    run: str
    data: str
    settings: EvalSettings
    metrics: dict[str, Estimate] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> str:
        document = {
            "run": self.run,
            "data": self.data,
            "settings": asdict(self.settings),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "details": self.details,
            "seconds": round(self.seconds, 2),
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Evaluation:
        document = json.loads(text)
        settings = document["settings"]
        return cls(
            run=document["run"],
            data=document["data"],
            settings=EvalSettings(**{**settings, "metrics": tuple(settings["metrics"])}),
            metrics={k: Estimate(**v) for k, v in document["metrics"].items()},
            details=document["details"],
            seconds=document["seconds"],
        )

    def table(self) -> list[tuple[str, str]]:
        """(metric, 'value [low, high] (n=...)') rows."""
        return [(name, estimate.format()) for name, estimate in self.metrics.items()]


def evaluate(
    run: Run | str | Path,
    data: str | Path | SpriteSet,
    n: int = 1000,
    *,
    metrics: tuple[str, ...] | list[str] | None = None,
    seed: int = 0,
    bootstrap: int = 10,
    out: str | Path | None = None,
    device: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    classifier: str | Path | None = None,
) -> Evaluation:
    """Score a run against real sprites; with `out`, also write metrics.json, samples.png and report.md there.
    classifier: a folder from `spriteforge classifier train`, for the conditional accuracy of conditional runs."""
    trained = run if isinstance(run, Run) else load_run(run, device=_device(device))
    chosen = _scorable(trained, tuple(sorted(set(metrics or METRIC_GROUPS), key=_group_order)), metrics is not None)
    judge = None if classifier is None else str(Path(classifier).resolve())
    settings = EvalSettings(n=n, seed=seed, metrics=chosen, bootstrap=bootstrap, classifier=judge)
    size = trained.model.spec.height
    real = data if isinstance(data, SpriteSet) else load_sprites(data, size=size)
    if real.size != (size, size):
        raise SpriteforgeError(f"real sprites are {real.size[1]}x{real.size[0]}; the run makes {size}x{size}.")
    cache_file = trained.path / "eval" / f"{_cache_key(trained, real, settings, _device(device))}.json"
    if use_cache and cache_file.is_file():
        evaluation = Evaluation.from_json(cache_file.read_text())
    else:
        evaluation = _compute(
            trained, real, str(data) if not isinstance(data, SpriteSet) else "SpriteSet", settings, device, progress
        )
        io.write_text(cache_file, evaluation.to_json())
    if out is not None:
        write_report(evaluation, trained, Path(out))
    return evaluation


def _scorable(run: Run, chosen: tuple[str, ...], asked: bool) -> tuple[str, ...]:
    """The groups to compute: all chosen for a run that samples; for one that cannot, its reconstructions only
    (refused when other groups were asked for by name, or when it cannot reconstruct either)."""
    if "sample" in run.model.capabilities():
        return chosen
    model = run.config.model
    if "reconstruct" not in run.model.capabilities():
        raise SpriteforgeError(f"{run.path}: a {model!r} run neither samples nor reconstructs: nothing to evaluate.")
    needing_samples = [group for group in chosen if group not in RECONSTRUCTION_GROUPS]
    if asked and needing_samples:
        raise SpriteforgeError(
            f"{run.path}: a {model!r} run cannot sample, so {', '.join(needing_samples)} cannot be measured; "
            "evaluate its reconstructions (--metrics recon)."
        )
    return RECONSTRUCTION_GROUPS


def _compute(
    run: Run, real: SpriteSet, data_name: str, settings: EvalSettings, device: str | None, progress: bool
) -> Evaluation:
    started = time.perf_counter()
    evaluation = Evaluation(str(run.path), data_name, settings)
    chosen = set(settings.metrics)
    if chosen - set(RECONSTRUCTION_GROUPS):
        _sample_metrics(evaluation, run, real, chosen, device, progress)
    if "recon" in chosen:
        _recon_metrics(evaluation, run, real, settings.n)
    if "sample" not in run.model.capabilities():
        evaluation.details["samples"] = f"model {run.config.model!r} cannot sample: reconstructions only"
    if "conditional" in chosen:
        _conditional_metrics(evaluation, run, device)
    evaluation.seconds = time.perf_counter() - started
    return evaluation


def _sample_metrics(
    evaluation: Evaluation, run: Run, real: SpriteSet, chosen: set[str], device: str | None, progress: bool
) -> None:
    """The groups scored on `settings.n` seeded samples (fid, kid, pr, palette, novelty)."""
    settings = evaluation.settings
    samples, adherence = run.generate(
        settings.n, seed=settings.seed, labels=requested_labels(run, settings.n, settings.seed)
    )
    training = run.training_data() if "novelty" in chosen else None
    _score_sprites(evaluation, samples, adherence, real, training, chosen, device, progress)


def evaluate_sprites(
    sprites: SpriteSet,
    real: SpriteSet,
    *,
    name: str,
    training: SpriteSet | None = None,
    adherence: np.ndarray | None = None,
    metrics: tuple[str, ...] | list[str] | None = None,
    seed: int = 0,
    bootstrap: int = 10,
    device: str | None = None,
    progress: bool = True,
) -> Evaluation:
    """Score sprites that no run of this project made (another system's outputs, or one half of a real set as the
    floor of the other half) exactly as `evaluate` scores a run's samples.

    adherence: (N,) each sprite's share of pixels in the palette before any snapping (default: 1.0, as loaded);
    training: the set novelty is measured against (the novelty group needs it)."""
    chosen = set(metrics or METRIC_GROUPS) - {"recon", "conditional"}
    if "novelty" in chosen and training is None:
        chosen.discard("novelty")
    settings = EvalSettings(
        n=len(sprites), seed=seed, metrics=tuple(sorted(chosen, key=_group_order)), bootstrap=bootstrap
    )
    evaluation = Evaluation(name, "SpriteSet", settings)
    started = time.perf_counter()
    sprite_adherence = np.ones(len(sprites)) if adherence is None else np.asarray(adherence, dtype=float)
    _score_sprites(evaluation, sprites, sprite_adherence, real, training, chosen, device, progress)
    evaluation.seconds = time.perf_counter() - started
    return evaluation


def _score_sprites(
    evaluation: Evaluation,
    samples: SpriteSet,
    adherence: np.ndarray,
    real: SpriteSet,
    training: SpriteSet | None,
    chosen: set[str],
    device: str | None,
    progress: bool,
) -> None:
    if chosen & {"fid", "kid", "pr"}:
        _inception_metrics(evaluation, real, samples, chosen, device, progress)
    if "palette" in chosen:
        _pixel_art_metrics(evaluation, real, samples, adherence)
    if "novelty" in chosen and training is not None:
        _novelty_metrics(evaluation, training, samples, device)


def _inception_metrics(
    evaluation: Evaluation, real: SpriteSet, samples: SpriteSet, chosen: set[str], device: str | None, progress: bool
) -> None:
    extractor = fid.InceptionFeatures(device=device)
    real_features = fid.features_for(real, extractor, progress=progress)
    fake_features = extractor(samples.to_rgba(), progress=progress)
    seed = evaluation.settings.seed
    if "fid" in chosen:
        evaluation.metrics["fid"] = fid.fid(real_features, fake_features, evaluation.settings.bootstrap, seed)
    if "kid" in chosen:
        evaluation.metrics["kid"] = fid.kid(real_features, fake_features, seed=seed)
    if "pr" in chosen:
        evaluation.metrics["precision"], evaluation.metrics["recall"] = fid.precision_recall(
            real_features, fake_features, seed=seed
        )
    evaluation.details["real_sprites"] = len(real)


def _pixel_art_metrics(evaluation: Evaluation, real: SpriteSet, samples: SpriteSet, adherence: np.ndarray) -> None:
    evaluation.metrics["palette_adherence"] = mean_estimate(adherence)
    evaluation.metrics["colors_per_sprite"] = palette.colors_per_sprite(samples)
    evaluation.metrics[f"{REAL_PREFIX}colors_per_sprite"] = palette.colors_per_sprite(real)
    evaluation.metrics["colors_per_sprite_tv"] = Estimate(
        palette.colors_per_sprite_distance(samples, real), len(samples)
    )
    for name, estimate in palette.silhouette_stats(samples).items():
        evaluation.metrics[name] = estimate
    for name, estimate in palette.silhouette_stats(real).items():
        evaluation.metrics[f"{REAL_PREFIX}{name}"] = estimate


def _novelty_metrics(evaluation: Evaluation, training: SpriteSet, samples: SpriteSet, device: str | None) -> None:
    result = novelty.novelty(samples.indices, training.indices, device=device or "cpu")
    for name in ("nearest_distance", "nearest_distance_fraction", "copies", "near_copies"):
        evaluation.metrics[name] = result[name]
    evaluation.details["training_sprites"] = len(training)


def _recon_metrics(evaluation: Evaluation, run: Run, real: SpriteSet, n: int) -> None:
    if "reconstruct" not in run.model.capabilities():
        evaluation.details["recon"] = f"model {run.config.model!r} does not reconstruct"
        return
    originals = real.subset(slice(0, n))
    rebuilt = run.reconstruct(originals)
    original_indices = run.palette.index(originals.to_rgba())  # the run's palette, like the reconstructions
    evaluation.metrics["recon_pixel_accuracy"] = recon.pixel_accuracy(original_indices, rebuilt.indices)
    evaluation.metrics["recon_opaque_pixel_accuracy"] = recon.opaque_pixel_accuracy(original_indices, rebuilt.indices)
    evaluation.metrics["recon_mse"] = recon.mse(originals.to_rgba(), rebuilt.to_rgba())
    evaluation.metrics["recon_ssim"] = recon.ssim(originals.to_rgba(), rebuilt.to_rgba())


def requested_labels(run: Run, n: int, seed: int) -> torch.Tensor | None:
    """What a conditional run is asked for when it is scored: seeded held-out label rows (None for other runs)."""
    if not conditional.is_conditional(run):
        return None
    return torch.from_numpy(conditional.label_requests(run, n, seed)[0])


def _conditional_metrics(evaluation: Evaluation, run: Run, device: str | None) -> None:
    settings = evaluation.settings
    judge = None if settings.classifier is None else load_classifier(settings.classifier, _device(device))
    result = conditional.conditional_accuracy(run, judge, settings.n, settings.seed)
    for key, name in CONDITIONAL_METRICS.items():
        if key in result:
            evaluation.metrics[name] = Estimate(**result[key])
    evaluation.details["conditional"] = {key: value for key, value in result.items() if key not in CONDITIONAL_METRICS}


def _group_order(group: str) -> int:
    """Report order; unknown names sort last so EvalSettings can name them in its error."""
    return METRIC_GROUPS.index(group) if group in METRIC_GROUPS else len(METRIC_GROUPS)


def _device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _cache_key(run: Run, real: SpriteSet, settings: EvalSettings, device: str) -> str:
    """sha256 of the weights file's identity, the run's config (its training data, for novelty), the real
    sprites' content, the settings and the device (GPU convolutions give slightly different features)."""
    digest = hashlib.sha256(CACHE_VERSION.encode())
    digest.update(run.config.to_yaml().encode())
    digest.update(device.encode())
    weights = run.path / runfiles.WEIGHTS
    stat = weights.stat()
    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(np.ascontiguousarray(real.indices).tobytes())
    digest.update(real.palette.colors.tobytes())
    digest.update(json.dumps(asdict(settings), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def write_report(evaluation: Evaluation, run: Run, out: Path) -> Path:
    """metrics.json, samples.png (the first 64 samples) and report.md (the table and the grid) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    io.write_text(out / "metrics.json", evaluation.to_json())
    shown = min(SHOWN_SAMPLES, evaluation.settings.n)
    seed = evaluation.settings.seed
    samples = "sample" in run.model.capabilities()
    if samples:
        run.sample(shown, seed=seed, labels=requested_labels(run, shown, seed)).save_grid(out / "samples.png", scale=4)
    lines = [
        f"# Evaluation of `{evaluation.run}`",
        "",
        f"Real data: `{evaluation.data}`; {evaluation.settings.n} samples, seed {evaluation.settings.seed}; "
        f"computed in {evaluation.seconds:.1f} s. Intervals are 95% bootstrap intervals.",
        "",
        "| metric | value [95% interval] (n) |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in evaluation.table()],
        "",
        *[f"- {name}: {detail}" for name, detail in evaluation.details.items()],
        "",
        f"![first {shown} samples](samples.png)" if samples else "",
        "",
    ]
    io.write_text(out / "report.md", "\n".join(lines))
    return out / "report.md"


def compare(
    runs: list[str | Path],
    data: str | Path,
    n: int = 1000,
    *,
    out: str | Path = "compare.md",
    metrics: tuple[str, ...] | list[str] | None = None,
    seed: int = 0,
    bootstrap: int = 10,
    device: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    classifier: str | Path | None = None,
) -> tuple[list[Evaluation], Path]:
    """Evaluate several runs with the same settings; write one Markdown table (best per column in bold) and a PNG
    with one row of samples per run beside it."""
    if not runs:
        raise SpriteforgeError("give at least one run to compare.")
    out = Path(out)
    trained = [load_run(path, device=_device(device)) for path in runs]
    evaluations = [
        evaluate(
            r,
            data,
            n,
            metrics=metrics,
            seed=seed,
            bootstrap=bootstrap,
            device=device,
            use_cache=use_cache,
            progress=progress,
            classifier=classifier,
        )
        for r in trained
    ]
    grid = out.with_suffix(".png")
    shown = min(16, n)
    sampling = [r for r in trained if "sample" in r.model.capabilities()]  # runs that cannot sample have no row
    if sampling:
        rows = np.concatenate(
            [r.sample(shown, seed=seed, labels=requested_labels(r, shown, seed)).to_rgba() for r in sampling]
        )
        io.write_png(grid, io.make_grid(rows, columns=shown, scale=3))
    io.write_text(out, comparison_markdown(evaluations, grid.name if sampling else None))
    return evaluations, out


def comparison_markdown(evaluations: list[Evaluation], grid_name: str | None) -> str:
    """One row per run; the real data's own figures (real_*) are the same for every run, so they are listed once."""
    shared = [name for name in evaluations[0].metrics if all(name in e.metrics for e in evaluations)]
    names = [name for name in shared if not name.startswith(REAL_PREFIX)]
    best = {name: _best(name, [e.metrics[name].value for e in evaluations]) for name in names}
    first = evaluations[0]
    lines = [
        f"# Comparison on `{first.data}`",
        "",
        f"{first.settings.n} samples per run, seed {first.settings.seed}; "
        "**bold** = best in its column (where a direction applies; ties are all bold).",
        "",
        "| run | " + " | ".join(names) + " |",
        "|" + "---|" * (len(names) + 1),
    ]
    for index, evaluation in enumerate(evaluations):
        cells = [_cell(evaluation.metrics[name].value, index in best[name]) for name in names]
        lines.append(f"| `{evaluation.run}` | " + " | ".join(cells) + " |")
    reference = [
        f"{name[len(REAL_PREFIX) :]} {first.metrics[name].value:.4g}" for name in shared if name.startswith(REAL_PREFIX)
    ]
    if reference:
        lines += ["", "Real data: " + ", ".join(reference) + "."]
    if grid_name is not None:
        lines += ["", f"One row of samples per run that samples, in table order: ![samples]({grid_name})", ""]
    return "\n".join(lines)


def _best(name: str, values: list[float]) -> set[int]:
    """Positions of the best value (all of them when tied); empty when the metric has no better direction."""
    if name in LOWER_IS_BETTER:
        target = np.nanmin(values)
    elif name in HIGHER_IS_BETTER:
        target = np.nanmax(values)
    else:
        return set()
    return {i for i, value in enumerate(values) if value == target}


def _cell(value: float, is_best: bool) -> str:
    text = f"{value:.4g}"
    return f"**{text}**" if is_best else text
