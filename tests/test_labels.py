"""Turning `--label` words into label values, with the vocabulary in every error."""

from __future__ import annotations

import numpy as np
import pytest
from spriteforge.data.labels import CATEGORICAL, MULTI_HOT, LabelSpec
from spriteforge.errors import SpriteforgeError

PACKS = LabelSpec(CATEGORICAL, ("roguelike", "tiny_dungeon"), column="pack")
ATTRIBUTES = LabelSpec(MULTI_HOT, ("earring", "female", "hoodie"))


def test_categorical_by_bare_name_or_column_equals_name() -> None:
    assert PACKS.encode(["tiny_dungeon"]) == 1
    assert PACKS.encode(["pack=roguelike"]) == 0
    assert PACKS.encode(["pack=tiny_dungeon"]).dtype == np.int64


def test_categorical_needs_exactly_one_label() -> None:
    with pytest.raises(SpriteforgeError, match="exactly one --label"):
        PACKS.encode(["roguelike", "tiny_dungeon"])


def test_categorical_wrong_column_names_the_column() -> None:
    with pytest.raises(SpriteforgeError, match="the column 'pack'"):
        PACKS.encode(["kind=roguelike"])


def test_multi_hot_sets_named_attributes_and_leaves_the_rest_absent() -> None:
    np.testing.assert_array_equal(ATTRIBUTES.encode(["female", "earring"]), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(ATTRIBUTES.encode([]), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("spec, word", [(PACKS, "castle"), (ATTRIBUTES, "crown")])
def test_unknown_label_lists_the_vocabulary(spec: LabelSpec, word: str) -> None:
    with pytest.raises(SpriteforgeError, match=f"unknown label.*'{word}'.*knows: {', '.join(spec.names)}"):
        spec.encode([word])
