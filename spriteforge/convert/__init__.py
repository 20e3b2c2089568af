"""Image -> pixel art: the classical pixelizer (`spriteforge.convert.pixelize`) and, later, learned translators."""
