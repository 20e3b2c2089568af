"""Labels from a CSV with a `file` column: one categorical column, or many 0/1 columns (multi-hot attributes).

The vocabulary (`LabelSpec`) is saved with every run as labels.json, so a run always knows what its label
indices mean.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spriteforge.errors import SpriteforgeError
from spriteforge.io import open_regular

CATEGORICAL = "categorical"
MULTI_HOT = "multi_hot"


@dataclass(frozen=True)
class LabelSpec:
    """What label values mean: `kind` is categorical (values are indices into `names`) or multi_hot (one 0/1 per name)."""

    kind: str
    names: tuple[str, ...]
    column: str | None = None

    def __len__(self) -> int:
        return len(self.names)

    def counts(self, values: np.ndarray) -> dict[str, int]:
        """How many sprites carry each label."""
        if self.kind == CATEGORICAL:
            totals = np.bincount(values.astype(np.int64), minlength=len(self.names))
        else:
            totals = values.sum(axis=0)
        return {name: int(total) for name, total in zip(self.names, totals)}

    def encode(self, requests: Sequence[str]) -> np.ndarray:
        """One label value from user words: categorical -> () int64 index, multi_hot -> (L,) float32 0/1.

        Categorical takes one name, bare or as `column=name` (`pack=tiny_dungeon`); multi-hot takes any number of
        attribute names (every attribute not named is asked to be absent). Unknown names list the vocabulary."""
        names = [self._name_of(request) for request in requests]
        unknown = [name for name in names if name not in self.names]
        if unknown:
            raise SpriteforgeError(
                f"unknown label(s) {', '.join(map(repr, unknown))}. This run knows: {', '.join(self.names)}."
            )
        if self.kind == CATEGORICAL:
            if len(names) != 1:
                raise SpriteforgeError(
                    f"this run has one categorical label ({self.column or 'category'}): give exactly one --label, "
                    f"not {len(names)}. Choices: {', '.join(self.names)}."
                )
            return np.array(self.names.index(names[0]), dtype=np.int64)
        vector = np.zeros(len(self.names), dtype=np.float32)
        vector[[self.names.index(name) for name in names]] = 1.0
        return vector

    def _name_of(self, request: str) -> str:
        column, sep, name = request.partition("=")
        if not sep:
            return request.strip()
        if self.kind != CATEGORICAL or column.strip() != (self.column or column.strip()):
            raise SpriteforgeError(
                f"--label {request!r}: this run's labels are "
                + (f"the column {self.column!r}" if self.kind == CATEGORICAL else "multi-hot attributes, named bare")
                + f". Choices: {', '.join(self.names)}."
            )
        return name.strip()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> LabelSpec:
        data = json.loads(text)
        return cls(kind=data["kind"], names=tuple(data["names"]), column=data.get("column"))


def read_labels_csv(
    csv_path: Path, sprite_paths: list[Path], label_column: str | None, left_out: Sequence[Path] = ()
) -> tuple[LabelSpec, np.ndarray]:
    """Labels for each sprite path, in order: (spec, (N,) int64 or (N,L) float32).

    A row's `file` is matched to a sprite by its path relative to the CSV's folder, else by its file name when
    that is unique. Every sprite needs a row and every row needs a sprite, or the error lists the mismatches;
    rows for `left_out` files (unreadable, or beyond --count) are ignored.
    """
    rows, columns = read_rows(csv_path)
    row_of_sprite = match_rows(csv_path, rows, sprite_paths, left_out)
    chosen = [rows[i] for i in row_of_sprite]
    if label_column is not None:
        return _categorical(csv_path, chosen, columns, label_column)
    return _multi_hot(csv_path, chosen, columns)


def read_rows(csv_path: Path, what: str = "labels") -> tuple[list[dict[str, str]], list[str]]:
    """The rows of a CSV with a `file` column (as dicts), and its other columns; `what` names the CSV in errors."""
    if not csv_path.exists():
        raise SpriteforgeError(f"{csv_path}: no such {what} file. Give a CSV with a `file` column.")
    # utf-8-sig: spreadsheet programs often start a "CSV UTF-8" file with a byte-order mark.
    with io.TextIOWrapper(open_regular(csv_path, f"{what} CSV"), encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        if "file" not in columns:
            raise SpriteforgeError(
                f"{csv_path}: no `file` column (columns: {', '.join(columns) or 'none'}). "
                "The first row must name the columns, one of them `file`."
            )
        rows = list(reader)
    if not rows:
        raise SpriteforgeError(f"{csv_path}: no rows below the header.")
    return rows, [c for c in columns if c != "file"]


def match_rows(
    csv_path: Path, rows: list[dict[str, str]], sprite_paths: list[Path], left_out: Sequence[Path]
) -> list[int]:
    """The row of each sprite path, in order (see `read_labels_csv`); mismatches are an error listing them."""
    by_path = {(csv_path.parent / row["file"]).resolve(): i for i, row in enumerate(rows)}
    by_name: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_name.setdefault(Path(row["file"]).name, []).append(i)

    def row_of(sprite: Path) -> int | None:
        index = by_path.get(sprite.resolve())
        if index is None and len(by_name.get(sprite.name, [])) == 1:
            index = by_name[sprite.name][0]
        return index

    matched: list[int] = []
    missing: list[str] = []
    for sprite in sprite_paths:
        index = row_of(sprite)
        if index is None:
            missing.append(sprite.name)
        else:
            matched.append(index)
    ignored = {row_of(path) for path in left_out}
    if missing:
        raise SpriteforgeError(
            f"{csv_path}: no row for {len(missing)} sprite(s), e.g. {', '.join(missing[:5])}. "
            "Add a row per sprite (the `file` column holds its path relative to the CSV, or its file name)."
        )
    unknown = sorted(set(range(len(rows))) - set(matched) - ignored)
    if unknown:
        names = ", ".join(rows[i]["file"] for i in unknown[:5])
        raise SpriteforgeError(
            f"{csv_path}: {len(unknown)} row(s) name files that are not in the data, e.g. {names}. "
            "Remove those rows, or point --data at the folder that holds them."
        )
    return matched


def _categorical(
    csv_path: Path, rows: list[dict[str, str]], columns: list[str], column: str
) -> tuple[LabelSpec, np.ndarray]:
    if column not in columns:
        raise SpriteforgeError(f"{csv_path}: no column {column!r}. Columns: {', '.join(columns)}.")
    values = [row[column] for row in rows]
    names = tuple(sorted(set(values)))
    index = {name: i for i, name in enumerate(names)}
    return LabelSpec(CATEGORICAL, names, column), np.array([index[v] for v in values], dtype=np.int64)


def _multi_hot(csv_path: Path, rows: list[dict[str, str]], columns: list[str]) -> tuple[LabelSpec, np.ndarray]:
    not_binary = [c for c in columns if any(row[c].strip() not in ("0", "1") for row in rows)]
    if not_binary:
        raise SpriteforgeError(
            f"{csv_path}: column(s) {', '.join(not_binary[:5])} hold values other than 0/1. For multi-hot "
            "attributes every column but `file` must be 0 or 1; otherwise pick one categorical column with "
            f"--label-column (e.g. --label-column {not_binary[0]})."
        )
    values = np.array([[float(row[c]) for c in columns] for row in rows], dtype=np.float32)
    return LabelSpec(MULTI_HOT, tuple(columns)), values
