"""Model families, one file each. `models.base.registered()` imports every module of this package (and any plugin
package's, entry-point group `spriteforge.models`), so a new model file needs no line here."""
