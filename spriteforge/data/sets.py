"""Sets of related sprites (the views of one character, the frames of one animation) as sheets: one wider image each.

    sprites of one set, slot 0..S-1, each (H,W) --side by side--> one sheet (H, S*W)

A model trained on sheets learns what the sprites of a set share; completing a set is then inpainting the missing
slots of a sheet (Run.complete). Which sprites belong together, and in which slot, comes from:
- the folder layout (data.sheet=true): each subfolder of the source is one set, and its files in natural name order
  (2.png before 10.png) are the slots 0, 1, 2...;
- a CSV (data.sheet_csv=FILE) with a `file` column, a set column and a slot column (by default `set` and `slot`;
  data.sheet_set_column / data.sheet_slot_column name others, e.g. character_id and view). Slots are integers >= 0.
Every sprite is first loaded onto one canvas and indexed into one palette (load_sprites), so every sheet shares it.
A set without a sprite in every slot is left out and reported (LoadReport.incomplete_sets).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from spriteforge.data.labels import match_rows, read_rows
from spriteforge.data.sprites import LoadReport, SpriteSet, load_sprites
from spriteforge.errors import SpriteforgeError

# Sheets wider than this many sprites are almost surely a wrong slot column (a frame number, a file id).
MAX_SLOTS = 64


def load_sheets(
    source: str | Path,
    *,
    csv: str | Path | None = None,
    set_column: str = "set",
    slot_column: str = "slot",
    slots: int | None = None,
    count: int | None = None,
    **load_options: Any,
) -> SpriteSet:
    """(N, H, S*W) sheets of the sets under the folder `source`, grouped by the folder layout or by `csv`.

    slots: the sprites per sheet (default: the most slots any set has); count: keep the first this many sets;
    load_options: as `load_sprites` (size, max_colors, palette, crop, alpha_threshold, seed)."""
    folder = Path(source)
    if not folder.is_dir():
        raise SpriteforgeError(
            f"{folder}: sheets are read from a folder of sprites (one subfolder per set, or the files a sheet CSV "
            "names); give that folder as the data source."
        )
    sprites = load_sprites(folder, **load_options)
    skipped = sprites.report.skipped if sprites.report else []
    if csv is None:
        places = _places_from_folders(folder, sprites.names)
    else:
        places = _places_from_csv(Path(csv), folder, sprites.names, skipped, set_column, slot_column)
    return _assemble(sprites, places, slots, count)


def _places_from_folders(folder: Path, names: list[str]) -> list[tuple[str, int]]:
    """(set, slot) of each sprite: its subfolder, and its rank in natural name order within it."""
    loose = [name for name in names if PurePosixPath(name).parent == PurePosixPath(".")]
    if loose:
        raise SpriteforgeError(
            f"{folder}: with data.sheet=true each set is a subfolder, but {len(loose)} file(s) lie at the top, "
            f"e.g. {loose[0]}. Move each set's sprites into a folder of its own, or give data.sheet_csv=FILE."
        )
    members: dict[str, list[str]] = {}
    for name in names:
        members.setdefault(str(PurePosixPath(name).parent), []).append(name)
    rank = {name: i for files in members.values() for i, name in enumerate(sorted(files, key=_natural_key))}
    return [(str(PurePosixPath(name).parent), rank[name]) for name in names]


def _places_from_csv(
    csv_path: Path, folder: Path, names: list[str], skipped: list[str], set_column: str, slot_column: str
) -> list[tuple[str, int]]:
    """(set, slot) of each sprite from its CSV row (matched by path relative to the CSV, or unique file name)."""
    rows, columns = read_rows(csv_path, "sheet")
    missing = [column for column in (set_column, slot_column) if column not in columns]
    if missing:
        raise SpriteforgeError(
            f"{csv_path}: no column {', '.join(map(repr, missing))} (columns: {', '.join(columns) or 'none'}). "
            "Name the set and slot columns with data.sheet_set_column and data.sheet_slot_column."
        )
    matched = match_rows(csv_path, rows, [folder / name for name in names], [folder / name for name in skipped])
    places = []
    for row in (rows[i] for i in matched):
        slot = row[slot_column].strip()
        if not slot.isdigit():
            raise SpriteforgeError(
                f"{csv_path}: the slot of {row['file']} is {slot!r}; slots ({slot_column}) are whole numbers 0, 1, 2..."
            )
        places.append((row[set_column].strip(), int(slot)))
    return places


def _assemble(sprites: SpriteSet, places: list[tuple[str, int]], slots: int | None, count: int | None) -> SpriteSet:
    """Lay each complete set's sprites side by side, sets in natural name order."""
    widest = 1 + max(slot for _, slot in places)
    slots = slots or widest
    if slots > MAX_SLOTS or widest > slots:
        raise SpriteforgeError(
            f"a set has a sprite in slot {widest - 1}, but sheets "
            + (f"hold at most {MAX_SLOTS} slots" if slots > MAX_SLOTS else f"have {slots} slots (data.slots)")
            + ". Check the slot column, or give data.slots to match."
        )
    members: dict[str, dict[int, int]] = {}
    for position, (name, slot) in enumerate(places):
        taken = members.setdefault(name, {})
        if slot in taken:
            raise SpriteforgeError(
                f"set {name!r} has two sprites in slot {slot}: {sprites.names[taken[slot]]} and "
                f"{sprites.names[position]}. Give each sprite of a set its own slot."
            )
        taken[slot] = position
    ordered = sorted(members, key=_natural_key)
    complete = [name for name in ordered if len(members[name]) == slots]
    incomplete = [name for name in ordered if len(members[name]) < slots]
    if not complete:
        raise SpriteforgeError(
            f"none of the {len(ordered)} set(s) has a sprite in each of its {slots} slots (e.g. {ordered[0]!r} has "
            f"slots {sorted(members[ordered[0]])}). Check the set and slot columns or folders."
        )
    complete = complete[:count] if count is not None else complete
    # (sets, slots) sprite positions -> (sets, H, W) per slot, joined along the width: (sets, H, slots*W)
    positions = np.array([[members[name][slot] for slot in range(slots)] for name in complete])
    sheets = np.concatenate([sprites.indices[positions[:, slot]] for slot in range(slots)], axis=2)
    report = sprites.report or LoadReport("")
    return replace(
        sprites,
        indices=sheets,
        names=complete,
        slots=slots,
        labels=None,
        label_spec=None,
        report=replace(report, incomplete_sets=incomplete),
    )


def _natural_key(name: str) -> list[Any]:
    """Sort key reading digit runs as numbers: frame2 before frame10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]
