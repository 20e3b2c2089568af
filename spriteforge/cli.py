"""The `spriteforge` command: parse, call the Python API, print. No logic of its own.

Every SpriteforgeError (bad input) is printed as one message and exits with code 2, without a traceback; a training
stopped by SIGINT or SIGTERM says how to resume it and exits 130 or 143.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand

from spriteforge import io
from spriteforge.data import catalog
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import describe, load_sprites
from spriteforge.errors import Interrupted, SpriteforgeError
from spriteforge.metrics import METRIC_GROUPS

if TYPE_CHECKING:
    from spriteforge.models.base import GenerativeModel
    from spriteforge.models.options import OptionSpec

app = typer.Typer(
    help="Train, evaluate and sample palette-exact generative models of pixel art.\n\nStart with:  spriteforge demo",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
datasets_app = typer.Typer(help="Named datasets: list, download, inspect.", no_args_is_help=True)
palette_app = typer.Typer(
    help="Palettes: extract from sprites, show as a swatch, list the named ones.", no_args_is_help=True
)
classifier_app = typer.Typer(help="The attribute classifier that judges conditional models.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(palette_app, name="palette")
app.add_typer(classifier_app, name="classifier")
console = Console(soft_wrap=True)  # long paths stay on one line, so they can be copied
errors = Console(stderr=True, soft_wrap=True)

DataOption = Annotated[
    str, typer.Option("--data", help="Folder of sprites, a sprite sheet (with --tile) or a named dataset.")
]
SizeOption = Annotated[
    int | None, typer.Option("--size", min=1, help="Square canvas size; smaller sprites are centred.")
]
CropOption = Annotated[bool, typer.Option(help="Crop sprites larger than --size instead of failing.")]
SeedOption = Annotated[int | None, typer.Option(help="Random seed (same seed, same sprites).")]
LabelOption = Annotated[
    list[str], typer.Option("--label", help="Conditional runs: a label to ask for (repeatable; name or column=name).")
]
OptOption = Annotated[
    list[str],
    typer.Option(
        "--opt",
        metavar="NAME=VALUE",
        help="Any sampling option of the run's model, e.g. --opt temperature=0.8 (repeatable).",
    ),
]
ScaleOption = Annotated[int, typer.Option(min=1, help="Nearest-neighbour upscale factor.")]
FormatOption = Annotated[
    Literal["grid", "sheet", "aseprite", "atlas"] | None,
    typer.Option(
        "--format",
        help="grid (a preview, enlarged by --scale), sheet (transparent PNG), aseprite (indexed .aseprite, a frame per "
        "sprite) or atlas (sheet PNG + Aseprite JSON). Default: by --out's suffix (.aseprite/.ase, .json), else grid.",
    ),
]
PreviewScaleOption = Annotated[
    int | None,
    typer.Option(
        "--scale",
        min=1,
        help="Nearest-neighbour enlargement of the preview grid (default 4); game files are true size.",
    ),
]

# -- sampling options: flags built from the registered models' SampleOptions --------------------------------------
SAMPLING = "sampling options"  # ctx.meta key: the typed sampling flags' values


class SamplingCommand(TyperCommand):
    """sample, inpaint, vary: one typed flag per sampling option that a registered model declares (--temperature,
    --steps, ...; ranges and choices from the specs), and a help epilog listing each model's options.

    The flags are added when the command is first parsed or its help shown, so `spriteforge --help` and the other
    commands never import the models. Their values reach the command in ctx.meta[SAMPLING]."""

    _flags: list[Any] | None = None

    # typer hands its commands a typer.Context; the Command they override, from typer's private copy of click, types
    # the parameter as that copy's base Context, which is not public to annotate with.
    def get_params(self, ctx: typer.Context) -> list[Any]:  # type: ignore[override]
        if self._flags is None:
            from spriteforge.models.base import registered
            from spriteforge.models.options import merged_specs

            declared = {name: cls.option_specs() for name, cls in registered().items()}
            taken = {param.name for param in self.params}
            self._flags = [flag for flag in _option_flags(merged_specs(declared)) if flag.name not in taken]
            self.params = [*self.params, *self._flags]
            self.epilog = _options_epilog(declared)
        return super().get_params(ctx)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        ctx.meta[SAMPLING] = {flag.name: ctx.params.pop(flag.name, None) for flag in self._flags or []}
        return super().invoke(ctx)


def _option_flags(specs: list[OptionSpec]) -> list[Any]:
    """Typer's own options for these specs (through a generated signature, so they look and check like the
    hand-written ones): --name-with-dashes, typed, ranged, with choices, None when not given."""
    parameters = [
        inspect.Parameter(
            spec.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(
                None,
                "--" + spec.name.replace("_", "-"),
                help=f"{spec.help} ({', '.join(spec.models)}).",
                min=spec.min,
                max=spec.max,
            ),
            annotation=(Literal[spec.choices] if spec.choices else spec.python_type) | None,
        )
        for spec in specs
    ]

    def flags() -> None: ...

    # inspect.signature (and so typer) reads __signature__, which a function's type does not declare.
    flags.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    holder = typer.Typer(add_completion=False)
    holder.command()(flags)
    return list(typer.main.get_command(holder).params)


def _options_epilog(declared: dict[str, list[OptionSpec]]) -> str:
    """Each registered model's sampling options, for the help of the sampling commands."""
    lines = [f"{name}: {', '.join(spec.name for spec in specs) or 'none'}" for name, specs in declared.items()]
    return "Sampling options by model (spriteforge models --long explains them):\n" + "\n".join(lines)


def _sampling_options(ctx: typer.Context, texts: list[str], model: GenerativeModel) -> dict[str, Any]:
    """The typed flags the user gave plus each --opt NAME=VALUE, parsed by the run's model's own specs."""
    given = {name: value for name, value in ctx.meta.get(SAMPLING, {}).items() if value is not None}
    specs = {spec.name: spec for spec in model.option_specs()}
    for text in texts:
        name, equals, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not equals or not name:
            raise SpriteforgeError(f"--opt {text!r}: write NAME=VALUE, e.g. --opt temperature=0.8.")
        if name not in specs:
            raise SpriteforgeError(
                f"--opt {text}: model {model.name!r} has no sampling option {name} "
                f"(it has: {', '.join(specs) or 'none'})."
            )
        if name in given:
            raise SpriteforgeError(f"--opt {text}: {name} is already given; give each option once.")
        given[name] = specs[name].parse(value)
    return given


LabelsOption = Annotated[Path | None, typer.Option("--labels", help="CSV with a `file` column and label columns.")]
LabelColumnOption = Annotated[str | None, typer.Option(help="Use this one CSV column as a categorical label.")]


# The flags that set the values errors are about (SpriteforgeError.value): a model names the value, the CLI its flag.
FLAGS = {"labels": "--label NAME (repeatable)", "data.labels": "--labels CSV"}


def main() -> None:
    """Console entry point: run the app, turning bad input into a message and exit code 2."""
    try:
        app()
    except SpriteforgeError as error:
        flag = FLAGS.get(error.value or "")
        hint = f" On the command line: {flag}." if flag else ""
        errors.print(f"[bold red]error:[/] {error}{hint}", highlight=False)
        sys.exit(2)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""  # never a bare ": No space left on device"
        errors.print(f"[bold red]error:[/] {where}{error.strerror or error}", highlight=False)
        sys.exit(2)
    except Interrupted as stop:  # SIGINT or SIGTERM while training: a checkpoint was kept
        errors.print(str(stop), highlight=False)
        sys.exit(stop.exit_code)
    except KeyboardInterrupt:  # Ctrl-C anywhere else
        errors.print("interrupted", highlight=False)
        sys.exit(130)


@app.command()
def train(
    model: Annotated[
        str | None, typer.Option(help="A registered model (see `spriteforge models`). Default: vae.")
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="Folder, sprite sheet or named dataset. Default: procedural.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder to create.")] = None,
    labels: Annotated[Path | None, typer.Option(help="CSV with a `file` column and label columns.")] = None,
    label_column: Annotated[str | None, typer.Option(help="Use this one CSV column as a categorical label.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config (sections model, data, train, <model>).")] = None,
    set_: Annotated[
        list[str], typer.Option("--set", help="Override a config key, e.g. --set train.lr=1e-3 (repeatable).")
    ] = [],
    repr_: Annotated[
        str | None, typer.Option("--repr", help="index (categorical over palette colours) or rgba.")
    ] = None,
    size: SizeOption = None,
    max_colors: Annotated[
        int | None, typer.Option(min=2, help="Palette size incl. transparent; more colours are quantised.")
    ] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Training steps (train.max_steps).")] = None,
    time: Annotated[
        str | None,
        typer.Option(help="Time budget, e.g. 90s, 15m, 1h30m (train.max_time); with --steps, whichever ends first."),
    ] = None,
    tile: Annotated[
        int | None, typer.Option(min=1, help="--data is a sprite sheet: slice it into tiles of this size.")
    ] = None,
    crop: CropOption = False,
    logger: Annotated[str | None, typer.Option(help="mlflow (default) | tensorboard | csv | none.")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue this run from its last checkpoint.")] = None,
    preset: Annotated[str | None, typer.Option(help="A named model configuration (see `spriteforge models`).")] = None,
    devices: Annotated[str | None, typer.Option(help="Devices per node: auto, a count (2) or ids (0,1).")] = None,
    num_nodes: Annotated[int | None, typer.Option(min=1, help="Machines (with torchrun or SLURM).")] = None,
    strategy: Annotated[
        str | None, typer.Option(help="Lightning strategy for several devices: ddp | fsdp | auto.")
    ] = None,
    compile_: Annotated[
        bool | None, typer.Option("--compile/--no-compile", help="torch.compile the training step (train.compile).")
    ] = None,
) -> None:
    """Train a model and write a run folder.

    Example: spriteforge train --model vae --data procedural --steps 500 --out runs/vae
    """
    from spriteforge.engine.train import resume as resume_run
    from spriteforge.engine.train import train as train_run

    overrides = list(set_)
    flags = {
        "data.label_column": label_column,
        "data.size": size,
        "data.max_colors": max_colors,
        "train.max_steps": steps,
        "train.max_time": time,
        "data.tile": tile,
        "data.crop": crop or None,
        "train.devices": devices,
        "train.num_nodes": num_nodes,
        "train.strategy": strategy,
        "train.compile": compile_,
    }
    overrides += [f"{key}={value}" for key, value in flags.items() if value is not None]
    if resume is not None:
        fixed = {
            "--model": model,
            "--data": data,
            "--out": out,
            "--labels": labels,
            "--config": config,
            "--repr": repr_,
            "--logger": logger,
            "--preset": preset,
        }
        given = [flag for flag, value in fixed.items() if value is not None]
        if given:
            raise SpriteforgeError(
                f"--resume {resume} continues the run as it was configured: drop {', '.join(given)} "
                "(only --steps, --time and --set can change, e.g. --set train.max_steps=...)."
            )
        run = resume_run(resume, overrides)
    else:
        if out is None:
            raise SpriteforgeError("give --out RUN_FOLDER for the new run (or --resume RUN to continue one).")
        run = train_run(
            model,
            data,
            out,
            labels=labels,
            config_file=config,
            overrides=overrides,
            logger=logger,
            representation=repr_,
            preset=preset,
        )
    from spriteforge.engine.train import is_launched_worker

    if not is_launched_worker():  # the extra processes of a multi-device run stay quiet
        _print_metrics(run.path, run.metrics)
        console.print(f"next: spriteforge sample {run.path} --n 64 --out {run.path}/grid.png")


def _print_metrics(path: Path, metrics: dict) -> None:
    table = Table(title=f"run {path}", show_header=False)
    for key, value in metrics.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command(cls=SamplingCommand)
def sample(
    ctx: typer.Context,
    run: Annotated[Path, typer.Argument(help="A run folder, or pretrained:NAME.")],
    out: Annotated[Path, typer.Option(help="Output PNG (a grid, or a sprite sheet with --sheet).")] = Path(
        "samples.png"
    ),
    n: Annotated[int, typer.Option("--n", min=1, help="How many sprites.")] = 64,
    seed: SeedOption = None,
    label: LabelOption = [],
    opt: OptOption = [],
    palette: Annotated[str | None, typer.Option(help="Re-colour into a named palette or palette file.")] = None,
    remap: Annotated[
        str, typer.Option(help="How --palette maps colours: luminance (keeps ramps) or nearest.")
    ] = "luminance",
    fmt: FormatOption = None,
    sheet: Annotated[bool, typer.Option(help="Write a transparent sprite sheet: the same as --format sheet.")] = False,
    each: Annotated[
        Path | None, typer.Option(help="Also write one PNG per sprite into this folder, at true size.")
    ] = None,
    repeat: Annotated[
        int, typer.Option(min=1, max=8, help="Preview each sprite repeated NxN in the grid (do tiles join?).")
    ] = 1,
    scale: PreviewScaleOption = None,
) -> None:
    """Sample new sprites from a trained run, with the sampling options of its model (listed below).

    Example: spriteforge sample runs/demo --n 64 --seed 0 --palette gameboy --out grid.png
    Example: spriteforge sample runs/terrain --n 16 --tileable --out tiles.aseprite
    """
    from spriteforge.data.export import write_sprites
    from spriteforge.engine.trained import load_run

    if sheet and fmt not in (None, "sheet"):
        raise SpriteforgeError(f"--sheet and --format {fmt}: give one of them.")
    chosen = _output_format(out, "sheet" if sheet else fmt, scale, repeat)
    trained = load_run(run)
    options = _sampling_options(ctx, opt, trained.model)
    sprites = trained.sample(n, seed=seed, labels=label, palette=palette, remap=remap, **options)
    written = write_sprites(sprites.tiled(repeat) if repeat > 1 else sprites, out, chosen, scale=scale)
    if each is not None:
        sprites.save_each(each)
    console.print(f"wrote {n} sprites to {', '.join(map(str, written))}" + (f" and {each}/" if each else ""))


def _output_format(out: Path, fmt: str | None, scale: int | None, repeat: int = 1) -> str:
    """The format to write --out in (--format, else its suffix); --scale and --repeat shape the preview grid only,
    so with a game file they are refused, before anything is sampled."""
    from spriteforge.data.export import format_for

    chosen = format_for(out, fmt)
    if chosen != "grid" and (scale not in (None, 1) or repeat != 1):
        flag = f"--scale {scale}" if scale not in (None, 1) else f"--repeat {repeat}"
        raise SpriteforgeError(
            f"{flag}: only the preview grid is enlarged or repeated; {out} ({chosen}) is written at the sprites' true "
            f"size. Leave {flag.split()[0]} out, or write a grid."
        )
    return chosen


@app.command()
def reconstruct(
    run: Annotated[Path, typer.Argument(help="A run folder, or pretrained:NAME.")],
    data: DataOption,
    out: Annotated[Path, typer.Option(help="Output PNG: originals and reconstructions in alternate rows.")] = Path(
        "reconstructions.png"
    ),
    n: Annotated[int, typer.Option("--n", min=1, help="How many sprites (the first ones).")] = 32,
    size: SizeOption = None,
    scale: ScaleOption = 4,
    labels: LabelsOption = None,
    label_column: LabelColumnOption = None,
) -> None:
    """Encode and decode sprites: originals above, reconstructions below, and the exact-pixel accuracy.
    Labelled and conditional runs take the sprites' labels (--labels CSV, --label-column as in training).

    Example: spriteforge reconstruct runs/demo --data procedural --n 32 --out recon.png
    """
    from spriteforge.engine.trained import load_run
    from spriteforge.metrics.recon import pixel_accuracy

    trained = load_run(run)
    originals = load_sprites(
        data, size=size or trained.model.spec.height, count=n, labels=labels, label_column=label_column
    )
    rebuilt = trained.reconstruct(originals)
    accuracy = pixel_accuracy(originals.with_palette(trained.palette, "nearest").indices, rebuilt.indices)
    io.write_png(out, io.comparison_grid(originals.to_rgba(), rebuilt.to_rgba(), scale=scale))
    console.print(f"wrote {out}: exact-pixel accuracy {accuracy.format()}")


@app.command()
def encode(
    run: Annotated[Path, typer.Argument(help="A run folder (vqvae, pixel_vqvae, vae, ae).")],
    data: DataOption,
    out: Annotated[
        Path, typer.Option(help="Output .npz: codes, files, and labels/label_names when --labels is given.")
    ] = Path("codes.npz"),
    labels: Annotated[Path | None, typer.Option(help="CSV with a `file` column: its labels go into the .npz.")] = None,
    size: SizeOption = None,
) -> None:
    """Export a dataset's code grids (VQ models: (N,h,w) integers) or latents (autoencoders: (N,D)) for other tools.

    Example: spriteforge encode runs/vq --data path/to/sprites --out codes.npz
    """
    from spriteforge.engine.trained import load_run

    trained = load_run(run)
    sprites = load_sprites(data, size=size or trained.model.spec.height, labels=labels)
    written = trained.encode_dataset(sprites, out)
    with np.load(written) as saved:
        console.print(f"wrote {written}: codes {saved['codes'].shape} {saved['codes'].dtype}, {', '.join(saved.files)}")


@app.command()
def interpolate(
    run: Annotated[Path, typer.Argument(help="A run folder, or pretrained:NAME.")],
    out: Annotated[Path, typer.Option(help=".gif (animated) or .png (one row per pair).")] = Path("interpolation.gif"),
    data: Annotated[
        str | None, typer.Option("--data", help="Sprites to pick the ends from. Default: the run's data.")
    ] = None,
    steps: Annotated[int, typer.Option(min=2, help="Sprites along each path, ends included.")] = 8,
    pairs: Annotated[int, typer.Option(min=1, help="How many start/end pairs.")] = 8,
    seed: Annotated[int, typer.Option(help="Which pairs to pick.")] = 0,
    scale: ScaleOption = 4,
) -> None:
    """Walk the latent space between pairs of real sprites.

    Example: spriteforge interpolate runs/demo --steps 8 --out interp.gif
    """
    from spriteforge.engine.trained import load_run

    trained = load_run(run)
    pool = load_sprites(data, size=trained.model.spec.height) if data else trained.training_data()
    frames = trained.interpolate_pairs(pool, pairs, steps, seed)  # (P,S,H,W,4)
    if out.suffix.lower() == ".gif":
        io.write_gif(out, io.interpolation_frames(frames), scale=scale)
    else:
        io.write_png(out, io.make_grid(frames.reshape(-1, *frames.shape[2:]), columns=steps, scale=scale))
    console.print(f"wrote {out}: {pairs} pairs x {steps} steps")


ImageOption = Annotated[Path, typer.Option("--image", help="The sprite (PNG at the run's sprite size).")]


@app.command(cls=SamplingCommand)
def inpaint(
    ctx: typer.Context,
    run: Annotated[Path, typer.Argument(help="A run folder (ddpm or discrete_diffusion), or pretrained:NAME.")],
    image: ImageOption,
    mask: Annotated[
        Path,
        typer.Option(
            help="Mask PNG of the same size: opaque white pixels are regenerated; black or transparent ones are kept exactly."
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Output: a PNG grid of the sprite, the mask and the completions; or --format's file.")
    ] = Path("inpainted.png"),
    n: Annotated[int, typer.Option("--n", min=1, help="How many completions.")] = 8,
    seed: SeedOption = None,
    label: LabelOption = [],
    opt: OptOption = [],
    fmt: FormatOption = None,
    scale: PreviewScaleOption = None,
) -> None:
    """Regenerate the masked pixels of a sprite, n times; every other pixel is kept bit-exact. --format sheet,
    aseprite or atlas writes the completions alone, at true size.

    Example: spriteforge inpaint runs/ddpm --image sprite.png --mask mask.png --n 8 --out grid.png
    """
    from spriteforge.data.export import write_sprites
    from spriteforge.engine.trained import load_run

    chosen = _output_format(out, fmt, scale)
    trained = load_run(run)
    sprite, selected = io.read_rgba(image), io.read_mask(mask)
    options = _sampling_options(ctx, opt, trained.model)
    completions = trained.inpaint(sprite, selected, n, seed=seed, labels=label, **options)
    if chosen == "grid":
        shown = np.concatenate([sprite[None], io.mask_preview(selected)[None], completions.to_rgba()])
        io.write_png(out, io.make_grid(shown, scale=scale or 4))
        console.print(
            f"wrote {out}: the sprite, the mask ({int(selected.sum())} pixels regenerated) and {n} completions"
        )
        return
    written = write_sprites(completions, out, chosen)
    console.print(f"wrote {n} completions ({int(selected.sum())} pixels regenerated) to {', '.join(map(str, written))}")


@app.command(cls=SamplingCommand)
def complete(
    ctx: typer.Context,
    run: Annotated[Path, typer.Argument(help="A run trained on sheets (data.sheet or data.sheet_csv).")],
    given: Annotated[
        list[Path], typer.Option("--given", help="A sprite of the set (PNG at the run's sprite size); repeatable.")
    ],
    slot: Annotated[
        list[int],
        typer.Option(
            "--slot", min=0, help="The slot of each --given, in the same order (default: 0, 1, 2... in order)."
        ),
    ] = [],
    out: Annotated[
        Path,
        typer.Option(
            help="Output: a PNG grid (the given sprites in their slots, then one completed set per row), or with "
            "--format aseprite/atlas a game file with a frame per sprite and a tag per set."
        ),
    ] = Path("completed.png"),
    each: Annotated[
        Path | None, typer.Option(help="Also write each completed set as a transparent sheet PNG at true size here.")
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="How many completions.")] = 8,
    seed: SeedOption = None,
    label: LabelOption = [],
    opt: OptOption = [],
    fmt: FormatOption = None,
    scale: PreviewScaleOption = None,
) -> None:
    """Complete a set (views of a character, frames of an animation): the given slots are kept bit-exact, the others
    are generated, all in the run's one palette. --format aseprite or atlas writes the completed sets at true size,
    a frame per sprite and a tag per set; sheet writes them one set per row.

    Example: spriteforge complete runs/views --given front.png --slot 2 --n 8 --out views.png
    Example: spriteforge complete runs/views --given front.png --slot 2 --n 4 --out views.aseprite
    """
    from spriteforge.data.export import sets_as_frames, write_sprites
    from spriteforge.engine.trained import load_run

    if slot and len(slot) != len(given):
        raise SpriteforgeError(
            f"{len(given)} --given but {len(slot)} --slot: give one --slot per --given, or none (slots 0, 1, ...)."
        )
    slots = slot or list(range(len(given)))
    if len(set(slots)) != len(slots):
        raise SpriteforgeError(f"--slot {slots}: each slot can be given once.")
    chosen = _output_format(out, fmt, scale)
    trained = load_run(run)
    sprites = dict(zip(slots, (io.read_rgba(path) for path in given)))
    options = _sampling_options(ctx, opt, trained.model)
    sets = trained.complete(sprites, n, seed=seed, labels=label, **options)
    if chosen == "grid":
        shown = trained.palette.to_rgba(trained.palette.index(trained.given_sheet(sprites)[0]))
        io.write_png(out, io.make_grid(np.concatenate([shown[None], sets.to_rgba()]), columns=1, scale=scale or 4))
        written = [out]
    elif chosen == "sheet":
        written = write_sprites(sets, out, chosen)
    else:
        frames, tags = sets_as_frames(sets)
        written = write_sprites(frames, out, chosen, tags=tags)
    if each is not None:
        sets.save_each(each, prefix="set")
    console.print(
        f"wrote {', '.join(map(str, written))}: the given slot(s) {', '.join(map(str, slots))} and {n} completed sets "
        f"of {sets.slots}" + (f"; sheets in {each}/" if each else "")
    )


@app.command(cls=SamplingCommand)
def vary(
    ctx: typer.Context,
    run: Annotated[Path, typer.Argument(help="A run folder (ddpm or discrete_diffusion), or pretrained:NAME.")],
    image: ImageOption,
    strength: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="How much may change: ddpm noises to strength*T, discrete re-masks this share of pixels.",
        ),
    ] = 0.5,
    out: Annotated[
        Path, typer.Option(help="Output: a PNG grid of the sprite and its variations; or --format's file.")
    ] = Path("variations.png"),
    n: Annotated[int, typer.Option("--n", min=1, help="How many variations.")] = 8,
    seed: SeedOption = None,
    label: LabelOption = [],
    opt: OptOption = [],
    fmt: FormatOption = None,
    scale: PreviewScaleOption = None,
) -> None:
    """Variations of a sprite: partly noise it and let the model denoise it again. --format sheet, aseprite or
    atlas writes the variations alone, at true size.

    Example: spriteforge vary runs/ddpm --image sprite.png --strength 0.5 --n 8 --out grid.png
    """
    from spriteforge.data.export import write_sprites
    from spriteforge.engine.trained import load_run

    chosen = _output_format(out, fmt, scale)
    trained = load_run(run)
    sprite = io.read_rgba(image)
    options = _sampling_options(ctx, opt, trained.model)
    variations = trained.vary(sprite, strength, n, seed=seed, labels=label, **options)
    if chosen == "grid":
        io.write_png(out, io.make_grid(np.concatenate([sprite[None], variations.to_rgba()]), scale=scale or 4))
        console.print(f"wrote {out}: the sprite and {n} variations (strength {strength})")
        return
    written = write_sprites(variations, out, chosen)
    console.print(f"wrote {n} variations (strength {strength}) to {', '.join(map(str, written))}")


@app.command(cls=SamplingCommand)
def fuse(
    ctx: typer.Context,
    run: Annotated[Path, typer.Argument(help="A run folder (see `spriteforge fuse --help` for the models).")],
    a: Annotated[Path, typer.Option("--a", help="Sprite A (PNG at the run's size).")],
    b: Annotated[Path, typer.Option("--b", help="Sprite B (PNG at the run's size).")],
    mode: Annotated[
        str,
        typer.Option(
            help="left-right | top-bottom | mask | random | latent: which parts come from A (see docs/fusion.md)."
        ),
    ] = "left-right",
    mask: Annotated[
        Path | None, typer.Option(help="--mode mask: a PNG of the sprites' size, white = from A, black = from B.")
    ] = None,
    seam: Annotated[
        int,
        typer.Option(
            min=0, help="Half-width of the seam the model redraws (pixels, or codes for VQ runs); 0 = a plain cut."
        ),
    ] = 1,
    out: Annotated[Path, typer.Option(help="Output PNG grid: A, B, then the fusions.")] = Path("fused.png"),
    n: Annotated[int, typer.Option("--n", min=1, help="How many fusions.")] = 8,
    seed: SeedOption = None,
    label: LabelOption = [],
    opt: OptOption = [],
    scale: ScaleOption = 4,
) -> None:
    """Fuse two sprites into n new ones: parts of A and parts of B, joined by the model (a diffusion model inpaints
    the seam, a prior redraws the codes along it, an autoencoder mixes latents or feature maps).

    Example: spriteforge fuse runs/discrete --a a.png --b b.png --mode left-right --n 8 --out fused.png
    """
    from spriteforge.engine.trained import load_run

    trained = load_run(run)
    first, second = io.read_rgba(a), io.read_rgba(b)
    selected = io.read_mask(mask) if mask is not None else None
    options = _sampling_options(ctx, opt, trained.model)
    fused = trained.fuse(first, second, n, mode=mode, mask=selected, seam=seam, seed=seed, labels=label, **options)
    ends = trained.palette.to_rgba(trained.palette.index(np.stack([first, second])))  # what the run fused
    # One row of A, B and up to 8 fusions, then rows of 10.
    grid = io.make_grid(np.concatenate([ends, fused.to_rgba()]), columns=min(n + 2, 10), scale=scale)
    io.write_png(out, grid)
    console.print(f"wrote {out}: A, B (in the run's palette) and {n} fusions ({mode})")


@app.command()
def edit(
    run: Annotated[Path, typer.Argument(help="A run folder (a model that encodes and decodes).")],
    data: DataOption,
    labels: Annotated[Path, typer.Option("--labels", help="CSV with the sprites' labels.")],
    add: Annotated[str, typer.Option(help="The attribute to add, e.g. earring or pack=tiny_dungeon.")],
    label_column: LabelColumnOption = None,
    strength: Annotated[float, typer.Option(help="How far along the attribute vector to move each code.")] = 1.0,
    n: Annotated[int, typer.Option("--n", min=1, help="How many sprites without the attribute to edit.")] = 8,
    size: SizeOption = None,
    crop: Annotated[bool, typer.Option(help="Crop sprites larger than the run's size instead of failing.")] = False,
    out: Annotated[Path, typer.Option(help="Output PNG: originals and edited sprites in alternate rows.")] = Path(
        "edit.png"
    ),
    scale: ScaleOption = 4,
) -> None:
    """Add an attribute in latent space: code + strength x (mean code with it - mean code without it).

    Example: spriteforge edit runs/kenney_cvae --data kenney/tiles --labels kenney/labels.csv --label-column pack --crop --add pack=tiny_dungeon --n 8 --out edit.png
    """
    from spriteforge.engine.trained import load_run

    trained = load_run(run)
    sprites = load_sprites(
        data, size=size or trained.model.spec.height, labels=labels, label_column=label_column, crop=crop
    )
    originals, edited = trained.edit(sprites, add, strength=strength, n=n)
    io.write_png(out, io.comparison_grid(originals.to_rgba(), edited.to_rgba(), scale=scale))
    console.print(f"wrote {out}: {len(originals)} sprites, then the same with {add} added (strength {strength})")


# The same default for eval and compare, so compare reuses what eval cached.
ALL_METRICS = ",".join(METRIC_GROUPS)
ClassifierOption = Annotated[
    Path | None, typer.Option(help="Attribute classifier folder (spriteforge classifier train): conditional accuracy.")
]
MetricsOption = Annotated[
    str, typer.Option(help="Comma-separated metric groups: fid,kid,pr,palette,novelty,recon,conditional.")
]


@app.command("eval")
def eval_(
    run: Annotated[Path, typer.Argument(help="A run folder, or pretrained:NAME.")],
    data: DataOption,
    n: Annotated[int, typer.Option("--n", min=2, help="Samples to draw (and real sprites to reconstruct).")] = 1000,
    out: Annotated[Path | None, typer.Option(help="Folder for metrics.json, report.md and samples.png.")] = None,
    metrics: MetricsOption = ALL_METRICS,
    seed: Annotated[int, typer.Option(help="Sampling seed (same seed, same samples).")] = 0,
    bootstrap: Annotated[int, typer.Option(min=0, help="FID bootstrap resamples for its interval (0: none).")] = 10,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when there is one).")] = None,
    cache: Annotated[bool, typer.Option(help="Reuse RUN/eval/ results computed with the same settings.")] = True,
    classifier: ClassifierOption = None,
) -> None:
    """Score a run against real sprites: FID/KID, precision/recall, palette adherence, novelty, reconstructions,
    and with --classifier the conditional accuracy of a conditional run.

    Example: spriteforge eval runs/kenney_vae --data path/to/real/sprites --n 1000 --out report/
    """
    from spriteforge.metrics.evaluate import evaluate

    chosen = tuple(m.strip() for m in metrics.split(",") if m.strip())
    evaluation = evaluate(
        run,
        data,
        n,
        metrics=chosen,
        seed=seed,
        bootstrap=bootstrap,
        out=out,
        device=device,
        use_cache=cache,
        classifier=classifier,
    )
    table = Table(title=f"{run} vs {data}")
    table.add_column("metric")
    table.add_column("value [95% interval] (n)")
    for name, value in evaluation.table():
        table.add_row(name, value)
    console.print(table)
    for name, detail in evaluation.details.items():
        console.print(f"{name}: {detail}")
    if out is not None:
        console.print(f"report: {out / 'report.md'}")


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or pretrained:NAME).")],
    data: DataOption,
    n: Annotated[int, typer.Option("--n", min=2, help="Samples per run.")] = 1000,
    out: Annotated[Path, typer.Option(help="Markdown table (a PNG of samples is written beside it).")] = Path(
        "compare.md"
    ),
    metrics: MetricsOption = ALL_METRICS,
    seed: Annotated[int, typer.Option(help="The same seed for every run.")] = 0,
    bootstrap: Annotated[int, typer.Option(min=0, help="FID bootstrap resamples for its interval (0: none).")] = 10,
    device: Annotated[str | None, typer.Option(help="cpu or cuda.")] = None,
    cache: Annotated[bool, typer.Option(help="Reuse RUN/eval/ results computed with the same settings.")] = True,
    classifier: ClassifierOption = None,
) -> None:
    """One table across runs, same samples count and seed, best value per column in bold.

    Example: spriteforge compare runs/kenney_vae runs/kenney_ae --data path/to/real/sprites --n 500
    """
    from spriteforge.metrics.evaluate import compare as compare_runs

    chosen = tuple(m.strip() for m in metrics.split(",") if m.strip())
    _, written = compare_runs(
        list(runs),
        data,
        n,
        out=out,
        metrics=chosen,
        seed=seed,
        bootstrap=bootstrap,
        device=device,
        use_cache=cache,
        classifier=classifier,
    )
    console.print(written.read_text())


@classifier_app.command("train")
def classifier_train(
    data: DataOption,
    labels: Annotated[Path, typer.Option("--labels", help="CSV with a `file` column and label columns.")],
    out: Annotated[Path, typer.Option(help="Folder to write the classifier to.")],
    label_column: LabelColumnOption = None,
    size: SizeOption = None,
    crop: CropOption = False,
    steps: Annotated[int, typer.Option(min=1, help="Training steps.")] = 400,
    batch_size: Annotated[int, typer.Option(min=1, help="Sprites per step.")] = 64,
    val_fraction: Annotated[float, typer.Option(help="Held-out share (seeded split) for accuracy and AUC.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the split and the weights.")] = 0,
) -> None:
    """Train a small CNN to recognise labels in real sprites; print held-out accuracy and per-label AUC.

    Example: spriteforge classifier train --data kenney/tiles --labels kenney/labels.csv --label-column pack --size 16 --crop --out runs/pack_classifier
    """
    from spriteforge.metrics.classifier import train_classifier

    trained = train_classifier(
        data,
        labels,
        out,
        label_column=label_column,
        size=size,
        crop=crop,
        steps=steps,
        batch_size=batch_size,
        val_fraction=val_fraction,
        seed=seed,
    )
    metrics = trained.metrics
    table = Table(
        title=f"classifier {out}: held out {metrics['held_out_sprites']} of {metrics['held_out_sprites'] + metrics['train_sprites']} sprites"
    )
    table.add_column("label")
    table.add_column("AUC")
    for name, value in metrics["auc"].items():
        table.add_row(name, "n/a (one class only)" if value is None else f"{value:.4f}")
    console.print(table)
    summary = {k: v for k, v in metrics.items() if k in ("accuracy", "exact_match", "mean_auc") and v is not None}
    console.print(", ".join(f"{k} {v:.4f}" for k, v in summary.items()))


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="An image, or a folder of images.")],
    out: Annotated[Path, typer.Option(help="Output PNG (or folder, when SOURCE is a folder).")] = Path("pixel.png"),
    size: Annotated[int, typer.Option(min=1, help="Pixels along the longer side of the output.")] = 32,
    palette: Annotated[
        str | None,
        typer.Option(
            help="auto:K (k-means, K colours incl. transparent), a named palette or a file. Default: auto:16; "
            "with a run as --model, the run's own palette (a palette given re-colours into it)."
        ),
    ] = None,
    dither: Annotated[str, typer.Option(help="none | bayer4 | bayer8 | floyd.")] = "none",
    downscale: Annotated[str, typer.Option(help="How a cell becomes one pixel: area | median | edge.")] = "area",
    outline: Annotated[bool, typer.Option(help="Draw a 1-pixel dark outline around the opaque silhouette.")] = False,
    scale: Annotated[int, typer.Option(min=1, help="Also write a nearest-neighbour preview upscaled this much.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the k-means palette.")] = 0,
    model: Annotated[
        str | None,
        typer.Option(
            help="Translate with a trained generator instead: a cyclegan run folder, or a "
            "pytorch-CycleGAN-and-pix2pix latest_net_G_A.pth (its output is then pixelized)."
        ),
    ] = None,
) -> None:
    """Turn an image (or a folder of them) into pixel art on an exact grid, in a palette.

    Example: spriteforge convert photo.jpg --size 32 --palette pico8 --dither bayer4 --scale 8 --out photo_32.png

    Example: spriteforge convert photo.jpg --model runs/cyclegan --size 16 --scale 8 --out photo_16.png
    """
    from spriteforge.convert.pixelize import PixelizeConfig, convert_file, convert_folder, pixelizer
    from spriteforge.convert.translate import generator_converter

    if model is not None:
        converter = generator_converter(model, size, palette, dither, seed)
    else:
        config = PixelizeConfig(
            size=size, palette=palette or "auto:16", dither=dither, downscale=downscale, outline=outline
        )
        converter = pixelizer(config, seed)
    if source.is_dir():
        console.print(convert_folder(source, out, converter, scale=scale).summary())
    else:
        console.print(f"wrote {convert_file(source, out, converter, scale=scale)}")


@app.command()
def snap(
    source: Annotated[Path, typer.Argument(help="An image that looks like pixel art, or a folder of them.")],
    out: Annotated[Path, typer.Option(help="Output PNG (or folder, when SOURCE is a folder).")] = Path("snapped.png"),
    palette: Annotated[
        str,
        typer.Option(
            help="auto (colour count chosen from the image), auto:K (K entries incl. transparent), a named palette "
            "or a palette file."
        ),
    ] = "auto",
    scale: Annotated[int, typer.Option(min=1, help="Also write a nearest-neighbour preview upscaled this much.")] = 1,
    cell: Annotated[
        str | None,
        typer.Option(help="Image pixels per sprite pixel, W or WxH (e.g. 8, 7.3, 6x8); default: detected."),
    ] = None,
    offset: Annotated[
        str | None,
        typer.Option(help="Where the first grid line is, X,Y in image pixels (e.g. 3,0); default: detected."),
    ] = None,
    max_colors: Annotated[
        int | None, typer.Option(min=2, help="With --palette auto: at most this many entries (incl. transparent).")
    ] = None,
    alpha_threshold: Annotated[
        int, typer.Option(min=1, max=255, help="Cells whose median alpha is below this become transparent.")
    ] = 128,
) -> None:
    """Recover the true pixels of fake pixel art: an image enlarged by any factor (7.3x too), off-grid, blurred or
    JPEG'd. Finds the grid and prints it (cell, offset, confidence, colours) per image.

    Example: spriteforge snap upscaled.jpg --out sprite.png --scale 8

    Example: spriteforge snap screenshots/ --out sprites/ --cell 6x8 --palette pico8
    """
    from spriteforge.convert.snap import SnapConfig, parse_cell, parse_offset, snap_file, snap_folder

    config = SnapConfig(
        palette=palette,
        cell=parse_cell(cell),
        offset=parse_offset(offset),
        max_colors=max_colors,
        alpha_threshold=alpha_threshold,
    )
    if source.is_dir():
        report = snap_folder(source, out, config, scale=scale)
        for result in report.snapped:
            console.print(result.summary(), highlight=False)
        console.print(report.summary().replace("converted", "snapped"), highlight=False)
    else:
        console.print(f"wrote {snap_file(source, out, config, scale=scale).summary()}", highlight=False)


@app.command()
def serve(
    runs: Annotated[
        Path, typer.Option(help="Folder holding the runs to offer (any depth); shipped pretrained:NAME models too.")
    ] = Path("runs"),
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only; any other needs --token).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    device: Annotated[str, typer.Option(help="Where models run: cpu or cuda.")] = "cpu",
    max_sprites: Annotated[int, typer.Option(min=1, help="Most sprites one request may ask for.")] = 256,
    max_upload_mb: Annotated[float, typer.Option(min=0.01, help="Largest upload, in MB.")] = 8.0,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SPRITEFORGE_TOKEN",
            show_envvar=True,
            help="Secret every API request must send as 'Authorization: Bearer TOKEN' (required off loopback).",
        ),
    ] = None,
    allow_host: Annotated[
        list[str],
        typer.Option(help="Another name clients may use in the Host header, e.g. the machine's name (repeatable)."),
    ] = [],
) -> None:
    """Start the studio (a web page) and the HTTP API (/api/v1, documented at /docs) on one local server.

    Example: spriteforge serve --runs runs/ --port 8000   (then open http://127.0.0.1:8000)
    """
    import uvicorn

    from spriteforge.serve.app import create_app
    from spriteforge.serve.guard import WILDCARDS, check_exposure
    from spriteforge.serve.images import Limits

    check_exposure(host, token)
    limits = Limits(max_sprites=max_sprites, max_upload_bytes=int(max_upload_mb * 1024 * 1024))
    application = create_app(runs, limits, device, hosts=[host, *allow_host], token=token)
    shown = "127.0.0.1" if host in WILDCARDS else f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}"
    studio = f"{address}/#token={token}" if token else f"{address}/"
    console.print(f"studio: {studio}   API docs: {address}/docs   (Ctrl-C stops)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def bench(
    models: Annotated[str, typer.Option(help="Comma-separated registered models (default: all).")] = "",
    data: Annotated[str, typer.Option("--data", help="Dataset to train on (named, folder or sheet).")] = "procedural",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    size: Annotated[int, typer.Option(min=4, help="Sprite size.")] = 16,
    steps: Annotated[int, typer.Option(min=1, help="Timed training steps per model.")] = 60,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed training steps first.")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="Training batch size.")] = 64,
    count: Annotated[int, typer.Option(min=1, help="Sprites to train on.")] = 1024,
    baseline: Annotated[bool, typer.Option(help="Also time the textbook PyTorch loop (the speed-up column).")] = True,
    compile_: Annotated[
        bool, typer.Option("--compile", help="Train through torch.compile (train.compile=true).")
    ] = False,
    out: Annotated[Path, typer.Option(help="JSON results file.")] = Path("bench.json"),
) -> None:
    """Measure training and sampling speed of models (default and reference presets) against a textbook loop.

    Example: spriteforge bench --models vae,ae --data procedural --device cpu --out bench_cpu.json
    """
    from spriteforge.bench import BenchConfig, run_bench, write_results
    from spriteforge.models.base import registered

    chosen = [m.strip() for m in models.split(",") if m.strip()] or list(registered())
    config = BenchConfig(chosen, data, device, size, count, batch_size, steps, warmup, baseline, compile_)
    results = run_bench(config, progress=lambda line: errors.print(f"[dim]{line}[/]"))
    table = Table(title=f"spriteforge bench: {data}, {size}x{size}, batch {batch_size}, {results[0].device}")
    columns = (
        "model",
        "preset",
        "params (M)",
        "train img/s",
        "textbook img/s",
        "speed-up",
        "textbook in memory img/s",
        "16 sprites (ms)",
        "sprites/s",
        "GFLOP/img",
        "share of peak",
        "peak memory (MB)",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "preset") else "right")
    for r in results:
        table.add_row(
            r.model,
            r.preset,
            f"{r.parameters / 1e6:.2f}",
            f"{r.train_images_per_second:,.0f}",
            f"{r.baseline_images_per_second:,.0f}" if r.baseline_images_per_second else "-",
            f"{r.speedup:.1f}x" if r.speedup else "-",
            f"{r.resident_baseline_images_per_second:,.0f}" if r.resident_baseline_images_per_second else "-",
            f"{r.sample16_seconds * 1e3:.0f}" if r.sample16_seconds is not None else "-",  # "-": cannot sample
            f"{r.sample_sprites_per_second:,.0f}" if r.sample_sprites_per_second is not None else "-",
            f"{r.train_gflops_per_image:.3f}",
            f"{r.share_of_peak:.1%}",
            f"{r.peak_memory_mb:,.0f} ({r.memory_kind})",
        )
    console.print(table)
    console.print(
        f"matmul peak: {results[0].peak_tflops * 1e3:.1f} GFLOP/s; results written to {write_results(results, out)}"
    )


@app.command()
def models(
    long: Annotated[bool, typer.Option("--long", help="Everything: presets, config keys, option ranges.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable, with the full option specs.")] = False,
    pretrained: Annotated[
        bool, typer.Option("--pretrained", help="The trained models shipped with spriteforge (pretrained:NAME).")
    ] = False,
) -> None:
    """List the registered models: what each emits, what it can do, its sampling options.

    Example: spriteforge models --long
    """
    if pretrained:
        _print_pretrained(as_json)
        return
    from spriteforge.models.base import registered

    described = {name: _describe_model(cls) for name, cls in registered().items()}
    if as_json:
        print(json.dumps(described, indent=2, default=str))  # plain print: rich would wrap and colour it
    elif long:
        _print_models_long(described)
    else:
        _print_models_short(described)


def _print_pretrained(as_json: bool) -> None:
    """One row per shipped model: its card's leaderboard figures (its first table's), size and description."""
    from dataclasses import asdict

    from spriteforge.engine import pretrained

    cards = pretrained.cards()
    if as_json:
        print(json.dumps({card.name: asdict(card) for card in cards}, indent=2))
        return
    if not cards:
        console.print(f"no pretrained models are shipped in {pretrained.pretrained_dir()}.")
        return
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    columns = ("run", "model", "size", "data", "n", "FID", "KID", "near-empty", "labels", "MB", "description")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column == "run")
    for card in cards:
        tables: dict[str, dict[str, Any]] = card.leaderboard.get("tables", {})
        count, figures = next(iter(tables.items()), ("-", {}))
        values = [figures.get(key) for key in ("fid", "kid", "near_empty")]
        table.add_row(
            f"{pretrained.PREFIX}{card.name}",
            card.model,
            f"{card.size}x{card.size}",
            card.data,
            count,
            *("-" if value is None else f"{value:.3g}" for value in values),
            _labels_cell(card.labels, figures.get("conditional_accuracy")),
            f"{card.size_bytes / 1e6:.2f}",
            card.description,
        )
    console.print(table, soft_wrap=False)
    console.print(
        "Figures: the model's leaderboard row (docs/leaderboard.md) at n samples; labels: how many, and how often a "
        "classifier finds the asked one (conditional accuracy). "
        "Use one: spriteforge sample pretrained:NAME --n 64 --out samples.png",
        soft_wrap=False,
    )


def _labels_cell(labels: list[str] | None, accuracy: float | None) -> str:
    if not labels:
        return "-"
    return str(len(labels)) if accuracy is None else f"{len(labels)} ({accuracy:.0%} right)"


def _describe_model(cls: type[GenerativeModel]) -> dict[str, Any]:
    from spriteforge.models.base import config_fields

    return {
        "description": (cls.__doc__ or "").strip().split("\n")[0],
        "representations": list(cls.representations),
        "capabilities": cls.capabilities(),
        "needs": list(cls.batch_keys),
        "sample_options": [spec.to_json() for spec in cls.option_specs()],
        "presets": list(cls.presets),
        "config": config_fields(cls.Config),
    }


# Short words for the compact listing; param_groups is how the engine trains a model, not something a user asks for.
SHORT_CAPABILITIES = {"encode": "enc", "decode": "dec", "reconstruct": "recon", "param_groups": None}


def _print_models_short(described: dict[str, dict[str, Any]]) -> None:
    """One line per model that fits an 80-column terminal: name, representations, capabilities, option names."""
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    for column in ("model", "emits", "can", "sampling options"):
        table.add_column(column, overflow="fold", no_wrap=column == "model")
    for name, model in described.items():
        can = [SHORT_CAPABILITIES.get(c, c) for c in model["capabilities"]]
        table.add_row(
            name,
            "|".join(model["representations"]),
            " ".join(c for c in can if c),
            " ".join(spec["name"] for spec in model["sample_options"]) or "-",
        )
    console.print(table, soft_wrap=False)
    console.print("emits: index (palette colours, exact) | rgba (snapped to the palette).", soft_wrap=False)
    console.print("More: spriteforge models --long (presets, config keys, option ranges) or --json.", soft_wrap=False)


def _print_models_long(described: dict[str, dict[str, Any]]) -> None:
    """A block per model, wrapped at the terminal's width: description, capabilities, options, presets, config."""
    from rich.markup import escape
    from rich.padding import Padding

    for name, model in described.items():
        console.print(f"[bold]{name}[/]: {escape(model['description'])}", soft_wrap=False)
        lines = [
            f"emits: {', '.join(model['representations'])}; can: {', '.join(model['capabilities'])}",
            f"presets: {', '.join(model['presets']) or 'none'}",
            "sampling options:" + ("" if model["sample_options"] else " none"),
            *(f"  {_option_line(spec)}" for spec in model["sample_options"]),
            f"config keys: {', '.join(f'{name}.{key}' for key in model['config'])}",
        ]
        if model["needs"]:
            lines.insert(1, f"needs data for: {', '.join(model['needs'])}")
        console.print(Padding(escape("\n".join(lines)), (0, 0, 1, 2)), soft_wrap=False)


def _option_line(spec: dict[str, Any]) -> str:
    """ "temperature (float 0..100, default 0): help" """
    if spec["choices"]:
        kind = "|".join(spec["choices"])
    else:
        bounds = f" {spec['min']:g}..{spec['max']:g}" if spec["min"] is not None and spec["max"] is not None else ""
        kind = spec["type"] + bounds
    default = "" if spec["default"] is None else f", default {spec['default']}"
    return f"{spec['name']} ({kind}{default}): {spec['help']}"


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Run folder to write (replaced if it is a previous demo).")] = Path(
        "runs/demo"
    ),
) -> None:
    """Train a small VAE on the built-in procedural sprites (offline, about a minute on a CPU).

    Example: spriteforge demo
    """
    from spriteforge.demo import run_demo

    run, grid = run_demo(out)
    _print_metrics(run.path, run.metrics)
    console.print(f"sample grid: {grid}")
    console.print(
        f"next:\n  spriteforge sample {run.path} --n 64 --palette gameboy --out gameboy.png\n"
        f"  spriteforge interpolate {run.path} --out interp.gif\n"
        "  spriteforge train --model vae --data YOUR_FOLDER --out runs/mine"
    )


# -- datasets ---------------------------------------------------------------------------------------
@datasets_app.command("list")
def datasets_list() -> None:
    """List the named datasets.

    Example: spriteforge datasets list
    """
    table = Table(title="named datasets")
    for column in ("name", "sprites", "description", "licence", "status"):
        table.add_column(column)
    for name, dataset in catalog.DATASETS.items():
        status = (
            "built in"
            if not dataset.downloadable
            else ("downloaded" if catalog.is_downloaded(name) else "not downloaded")
        )
        table.add_row(name, f"{dataset.count:,}", dataset.description, dataset.license, status)
    console.print(table)


@datasets_app.command("download")
def datasets_download(name: Annotated[str, typer.Argument(help="A named dataset.")]) -> None:
    """Download and prepare a named dataset into the cache (~/.cache/spriteforge or $SPRITEFORGE_CACHE).

    Example: spriteforge datasets download kenney-1bit
    """
    if not catalog.get(name).downloadable:
        console.print(f"{name}: built in, nothing to download.")
        return
    folder = catalog.fetch_dataset(name)
    console.print(f"{name}: ready in {folder}")


@datasets_app.command("inspect")
def datasets_inspect(
    data: Annotated[str, typer.Argument(help="A named dataset, folder, or sprite sheet (with --tile).")],
    out: Annotated[Path, typer.Option(help="Contact sheet PNG.")] = Path("contact_sheet.png"),
    size: SizeOption = None,
    tile: Annotated[int | None, typer.Option(min=1, help="Slice a sprite sheet into tiles of this size.")] = None,
    labels: Annotated[Path | None, typer.Option(help="Labels CSV.")] = None,
    label_column: Annotated[str | None, typer.Option(help="Categorical label column.")] = None,
    max_colors: Annotated[
        int, typer.Option(min=2, help="Palette size incl. transparent; more colours -> k-means.")
    ] = 256,
    n: Annotated[int, typer.Option("--n", min=1, help="Sprites on the contact sheet.")] = 256,
    crop: CropOption = False,
) -> None:
    """Count, size, palette, colours per sprite and labels of a dataset, and a contact sheet PNG.

    Example: spriteforge datasets inspect /path/to/sprites --size 16 --crop --out sheet.png
    """
    sprites = load_sprites(
        data, size=size, crop=crop, tile=tile, labels=labels, label_column=label_column, max_colors=max_colors
    )
    console.print_json(json.dumps(describe(sprites)))
    if sprites.report is not None:
        console.print(sprites.report.summary())
    sprites.subset(slice(0, n)).save_grid(out, scale=2)
    console.print(f"contact sheet: {out}")


# -- palettes ---------------------------------------------------------------------------------------
@palette_app.command("extract")
def palette_extract(
    data: Annotated[str, typer.Argument(help="A named dataset, folder or sprite sheet (with --tile).")],
    out: Annotated[Path, typer.Option(help="Palette file: .hex, .gpl or .json.")] = Path("palette.hex"),
    max_colors: Annotated[
        int, typer.Option(min=2, help="Palette size incl. transparent; more colours -> k-means.")
    ] = 256,
    size: SizeOption = None,
    tile: Annotated[int | None, typer.Option(min=1, help="Slice a sprite sheet into tiles of this size.")] = None,
    crop: CropOption = False,
) -> None:
    """Extract the exact palette of some sprites (k-means when they have more colours than --max-colors).

    Example: spriteforge palette extract /path/to/sprites --max-colors 16 --out pal.hex
    """
    sprites = load_sprites(data, size=size, crop=crop, tile=tile, max_colors=max_colors)
    sprites.palette.save(out)
    if sprites.report is not None and sprites.report.quantization is not None:
        console.print(sprites.report.quantization.summary())
    console.print(f"wrote {len(sprites.palette) - 1} colours to {out}")


@palette_app.command("show")
def palette_show(
    palette: Annotated[str, typer.Argument(help="A named palette or a palette file.")],
    out: Annotated[Path, typer.Option(help="Swatch PNG.")] = Path("swatch.png"),
) -> None:
    """Draw a palette as a swatch PNG.

    Example: spriteforge palette show pico8 --out pico8.png
    """
    chosen = Palette.resolve(palette)
    io.write_png(out, chosen.swatch())
    console.print(f"{palette}: {len(chosen) - 1} colours -> {out}")


@palette_app.command("list")
def palette_list() -> None:
    """List the named palettes.

    Example: spriteforge palette list
    """
    for name in Palette.names():
        console.print(f"{name}: {len(Palette.named(name)) - 1} colours")


if __name__ == "__main__":
    main()
