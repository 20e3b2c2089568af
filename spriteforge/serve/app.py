"""The FastAPI app: the versioned HTTP API under /api/v1 and the studio's static page at /.

Handlers are plain functions, so FastAPI runs them in its thread pool: a long sampling request does not block
other requests (torch releases the GIL while it computes). Every input is checked against `Limits`, and every
bad input is a 4xx JSON error {"detail": "..."} that names the value and the limit.

The request models' sampling-option fields are generated, per app, from the registered models' option specs (so a
model file or plugin adds its options to the API and its OpenAPI schema). No `from __future__ import annotations`
here: the routes are defined inside create_app and FastAPI reads their annotations, which name those generated
classes, from the functions themselves.
"""

import math
import secrets
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, create_model

from spriteforge import __version__, io
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine.trained import Run
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import registered
from spriteforge.models.options import OptionSpec, merged_specs
from spriteforge.serve.images import (
    Limits,
    check_at_most,
    decode_base64_image,
    decode_upload,
    gif_bytes,
    png_bytes,
    to_base64,
    zip_of_pngs,
)
from spriteforge.serve.library import RunLibrary, UnknownRun, latest_grid

STATIC = Path(__file__).parent / "static"
Format = Literal["png", "sheet", "zip", "json"]


class GenerationRequest(BaseModel):
    """What every generating request shares: count, seed, labels and the model's sampling options (fields added by
    `with_sampling_options`, one per option a registered model declares)."""

    n: int = Field(16, ge=1)
    seed: int | None = Field(
        None, ge=0, description="Same seed, same sprites; omitted: a random one, returned in json."
    )
    labels: list[str] = Field(
        default_factory=list, description='Label names, e.g. ["female", "earring"] or ["pack=tiny_dungeon"].'
    )
    format: Format = "png"
    scale: int = Field(4, ge=1)
    option_names: ClassVar[tuple[str, ...]] = ()  # the generated sampling-option fields

    def options(self) -> dict[str, Any]:
        """The sampling options given (the run's model checks them: one it lacks is a 400)."""
        given = {name: getattr(self, name) for name in self.option_names}
        return {key: value for key, value in given.items() if value is not None}

    def check(self, limits: Limits) -> int:
        """The seed to use (the given one, or a fresh random one), after checking the limits."""
        check_at_most("n", self.n, limits.max_sprites, " sprites per request")
        check_at_most("steps", self.options().get("steps"), limits.max_steps, " steps")
        check_at_most("scale", self.scale, limits.max_scale)
        return self.seed if self.seed is not None else secrets.randbelow(2**31)


class SampleRequest(GenerationRequest):
    palette: str | None = Field(None, description="A named palette (GET /api/v1/palettes); omitted: the run's own.")
    remap: Literal["luminance", "nearest"] = "luminance"


class VaryRequest(GenerationRequest):
    sprite: str = Field(..., description="base64 PNG sprite at the run's size")
    strength: float = Field(0.5, gt=0, le=1, description="How much may change: 0 < strength <= 1")


class InpaintRequest(GenerationRequest):
    sprite: str = Field(..., description="base64 PNG sprite at the run's size")
    mask: str = Field(..., description="base64 PNG mask at the sprite's size: opaque white = regenerate")


def with_sampling_options(base: type[GenerationRequest]) -> type[GenerationRequest]:
    """`base` plus one optional field per sampling option of the registered models, typed, ranged and described as
    the models declare it (so the OpenAPI schema shows the limits); omitted or null: the model's default."""
    specs = merged_specs({name: cls.option_specs() for name, cls in registered().items()})
    fields: dict[str, Any] = {spec.name: _option_field(spec) for spec in specs if spec.name not in base.model_fields}
    request = create_model(base.__name__, __base__=base, __module__=__name__, **fields)
    request.option_names = tuple(fields)
    return request


def _option_field(spec: OptionSpec) -> tuple[Any, Any]:
    kind = Literal[spec.choices] if spec.choices else spec.python_type
    limits: dict[str, Any] = (
        {"ge": spec.min, "le": spec.max, "allow_inf_nan": False} if spec.type in ("int", "float") else {}
    )
    described = f"{spec.help}. Sampling option of: {', '.join(spec.models)}; omitted: the model's default."
    return kind | None, Field(None, description=described, **limits)


class SpritesRequest(BaseModel):
    sprites: list[str] = Field(..., min_length=1, description="Sprites as base64 PNGs (data: URLs are fine).")
    format: Format = "png"
    scale: int = Field(4, ge=1)


class InterpolateRequest(BaseModel):
    first: str = Field(..., description="base64 PNG sprite")
    second: str = Field(..., description="base64 PNG sprite")
    steps: int = Field(8, ge=2)
    format: Literal["png", "gif", "json"] = "png"
    scale: int = Field(4, ge=1)


def create_app(runs: str | Path, limits: Limits = Limits(), device: str = "cpu") -> FastAPI:
    """The app serving the runs under `runs` (see RunLibrary) with these limits."""
    library = RunLibrary(runs, device)
    app = FastAPI(title="spriteforge", version=__version__, description="Palette-exact pixel-art models over HTTP.")
    app.state.library, app.state.limits = library, limits
    _add_error_handlers(app)
    requests: dict[type, type[GenerationRequest]] = {
        base: with_sampling_options(base) for base in (SampleRequest, VaryRequest, InpaintRequest)
    }
    _add_run_routes(app, library, limits, requests)
    _add_convert_routes(app, library, limits)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="studio")
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SpriteforgeError)
    def bad_input(request: Request, error: SpriteforgeError) -> JSONResponse:
        status = 404 if isinstance(error, UnknownRun) else getattr(error, "status", 400)
        return JSONResponse({"detail": str(error)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # Python's JSON parser accepts NaN and Infinity, but JSON cannot carry them back: echo them as text.
        finite = {float: lambda value: value if math.isfinite(value) else str(value)}
        return JSONResponse({"detail": jsonable_encoder(error.errors(), custom_encoder=finite)}, status_code=422)


def _add_run_routes(
    app: FastAPI, library: RunLibrary, limits: Limits, requests: dict[type, type[GenerationRequest]]
) -> None:
    # The request classes with this app's sampling-option fields, under the names the routes use.
    sample_request, vary_request, inpaint_request = (
        requests[SampleRequest],
        requests[VaryRequest],
        requests[InpaintRequest],
    )

    @app.get("/api/v1/runs", summary="List the runs: model, data, palette, labels, metrics, capabilities")
    def list_runs() -> dict[str, Any]:
        described = []
        for name in library.names():
            try:
                described.append(library.describe(name))
            except SpriteforgeError as error:  # one damaged run must not hide the others
                described.append({"name": name, "error": str(error)})
        return {"runs": described}

    @app.get("/api/v1/palettes", summary="The named palettes, as hex colours (index 0 is transparent)")
    def palettes() -> dict[str, list[str]]:
        return {
            name: [f"#{r:02x}{g:02x}{b:02x}{a:02x}" for r, g, b, a in Palette.named(name).colors.tolist()]
            for name in Palette.names()
        }

    @app.get("/api/v1/runs/{name:path}/grid", summary="The last sample grid written during training (PNG)")
    def training_grid(name: str) -> FileResponse:
        grid = latest_grid(library.path_of(name))
        if grid is None:
            raise UnknownRun(f"run {name!r} has no training sample grid (train.sample_every was 0).")
        return FileResponse(grid, media_type="image/png")

    @app.get("/api/v1/runs/{name:path}", summary="One run: model, data, palette, labels, metrics, capabilities")
    def describe_run(name: str) -> dict[str, Any]:
        return library.describe(name)

    @app.post("/api/v1/runs/{name:path}/sample", summary="New sprites (grid, sheet, zip of PNGs, or JSON with base64)")
    def sample(name: str, request: sample_request) -> Response:  # type: ignore[valid-type]
        body: SampleRequest = request  # the generated class: SampleRequest plus the sampling-option fields
        seed = body.check(limits)
        run = library.get(name)
        _require(run, name, "sample")
        sprites, adherence = run.generate(body.n, seed=seed, labels=body.labels, **body.options())
        if body.palette is not None:
            sprites = sprites.with_palette(_named_palette(body.palette), body.remap)
        extra = {"seed": seed, "palette_adherence": float(np.mean(adherence))}
        return _render(sprites, body.format, body.scale, extra)

    @app.post("/api/v1/runs/{name:path}/vary", summary="Variations of one sprite (models that can vary)")
    def vary(name: str, request: vary_request) -> Response:  # type: ignore[valid-type]
        body: VaryRequest = request  # the generated class: VaryRequest plus the sampling-option fields
        seed = body.check(limits)
        run = library.get(name)
        sprite = _sprites_for(run, [body.sprite], limits).to_rgba()[0]
        options = {"seed": seed, "labels": body.labels, **body.options()}
        return _render(run.vary(sprite, body.strength, body.n, **options), body.format, body.scale, {"seed": seed})

    @app.post(
        "/api/v1/runs/{name:path}/inpaint", summary="Regenerate the masked pixels of a sprite, keep the rest exactly"
    )
    def inpaint(name: str, request: inpaint_request) -> Response:  # type: ignore[valid-type]
        body: InpaintRequest = request  # the generated class: InpaintRequest plus the sampling-option fields
        seed = body.check(limits)
        run = library.get(name)
        sprite = _sprites_for(run, [body.sprite], limits).to_rgba()[0]
        mask = io.mask_of(decode_base64_image(body.mask, limits, "mask"))
        options = {"seed": seed, "labels": body.labels, **body.options()}
        return _render(run.inpaint(sprite, mask, body.n, **options), body.format, body.scale, {"seed": seed})

    @app.post(
        "/api/v1/runs/{name:path}/reconstruct", summary="Encode and decode sprites: originals, then reconstructions"
    )
    def reconstruct(name: str, request: SpritesRequest) -> Response:
        check_at_most("sprites", len(request.sprites), limits.max_sprites, " sprites per request")
        check_at_most("scale", request.scale, limits.max_scale)
        run = library.get(name)
        originals = _sprites_for(run, request.sprites, limits)
        rebuilt = run.reconstruct(originals)
        both = SpriteSet(np.concatenate([originals.indices, rebuilt.indices]), run.palette)
        return _render(both, request.format, request.scale, {"count": len(originals)})

    @app.post("/api/v1/runs/{name:path}/interpolate", summary="Sprites along the latent line between two sprites")
    def interpolate(name: str, request: InterpolateRequest) -> Response:
        check_at_most("steps", request.steps, limits.max_steps, " frames")
        check_at_most("scale", request.scale, limits.max_scale)
        run = library.get(name)
        ends = _sprites_for(run, [request.first, request.second], limits)
        path = run.interpolate(ends.subset([0]), ends.subset([1]), request.steps)
        frames = io.upscale(io.composite(path.to_rgba()), request.scale)
        if request.format == "gif":
            return Response(gif_bytes(frames), media_type="image/gif")
        if request.format == "png":
            return Response(
                png_bytes(io.make_grid(path.to_rgba(), columns=len(path), scale=request.scale)), media_type="image/png"
            )
        return JSONResponse({"gif": to_base64(gif_bytes(frames)), "sprites": _each_base64(path)})


def _require(run: Run, name: str, capability: str) -> None:
    """Refuse a request the run's model cannot serve, in the API's words (no server paths, no CLI commands)."""
    if capability not in run.model.capabilities():
        uses = ", ".join(run.model.uses()) or "nothing"
        raise SpriteforgeError(f"run {name!r} (a {run.config.model!r} run) cannot {capability}; it can {uses}.")


def _add_convert_routes(app: FastAPI, library: RunLibrary, limits: Limits) -> None:
    from spriteforge.convert.pixelize import PixelizeConfig, convertible, pixelizer
    from spriteforge.convert.translate import run_converter

    @app.post("/api/v1/convert", summary="Turn an uploaded image into pixel art on an exact grid, in a palette")
    def convert(
        file: UploadFile = File(..., description="The image to convert"),
        size: int = Form(32, ge=1),
        palette: str | None = Form(None, description="auto:K or a named palette (default auto:16, or a run's own)"),
        dither: str = Form("none"),
        downscale: str = Form("area"),
        outline: bool = Form(False),
        model: str | None = Form(
            None, description="A cyclegan run (GET /api/v1/runs) instead of the classical pixelizer"
        ),
        scale: int = Form(1, ge=1),
        format: Literal["png", "json"] = Form("png"),
    ) -> Response:
        check_at_most("size", size, limits.max_convert_size, " pixels")
        check_at_most("scale", scale, limits.max_scale)
        if palette is not None and not palette.startswith("auto:"):
            _named_palette(palette)  # only named palettes: a server never reads paths its clients send
        if model:
            if dither != "none":
                raise SpriteforgeError(f"dither {dither!r}: a cyclegan run outputs palette indices; nothing to dither.")
            converter = run_converter(library.get(model), size, palette)
        else:
            options = PixelizeConfig(
                size=size, palette=palette or "auto:16", dither=dither, downscale=downscale, outline=outline
            )
            converter = pixelizer(options)
        name = file.filename or "upload"
        sprite = converter(convertible(decode_upload(file.file.read(limits.max_upload_bytes + 1), limits, name), name))
        picture = io.upscale(sprite.to_rgba()[0], scale)
        if format == "png":
            return Response(png_bytes(picture), media_type="image/png")
        return JSONResponse(
            {
                "image": to_base64(png_bytes(picture)),
                "width": sprite.size[1],
                "height": sprite.size[0],
                "colors": len(sprite.palette),
            }
        )


def _named_palette(name: str) -> Palette:
    if name not in Palette.names():
        raise SpriteforgeError(f"palette {name!r}: not a named palette; choose one of {', '.join(Palette.names())}.")
    return Palette.named(name)


def _sprites_for(run: Any, encoded: list[str], limits: Limits) -> SpriteSet:
    """base64 PNG sprites -> a SpriteSet in the run's palette, each checked to be the run's size."""
    height, width = run.model.spec.height, run.model.spec.width
    images = []
    for i, text in enumerate(encoded):
        image = decode_base64_image(text, limits, f"sprite {i}")
        if image.shape[:2] != (height, width):
            raise SpriteforgeError(
                f"sprite {i} is {image.shape[1]}x{image.shape[0]}, but this run makes {width}x{height} sprites."
            )
        images.append(image)
    rgba = np.stack(images)
    return SpriteSet(run.palette.index(rgba).astype(np.int64), run.palette)


def _each_base64(sprites: SpriteSet) -> list[str]:
    return [to_base64(png_bytes(image)) for image in sprites.to_rgba()]


def _render(sprites: SpriteSet, fmt: str, scale: int, extra: dict[str, Any]) -> Response:
    """A SpriteSet as the response format asked for."""
    rgba = sprites.to_rgba()
    if fmt == "png":
        return Response(png_bytes(io.make_grid(rgba, scale=scale)), media_type="image/png")
    if fmt == "sheet":
        return Response(png_bytes(io.upscale(io.make_sheet(rgba), scale)), media_type="image/png")
    if fmt == "zip":
        return Response(zip_of_pngs(io.upscale(rgba, scale)), media_type="application/zip")
    grid = to_base64(png_bytes(io.make_grid(rgba, scale=scale)))
    return JSONResponse(
        {"grid": grid, "sprites": _each_base64(sprites), "width": sprites.size[1], "height": sprites.size[0], **extra}
    )
