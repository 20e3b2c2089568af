"""The import direction of docs/architecture.md, checked on the source: a lower layer never imports a higher one.

Every module under spriteforge/ is parsed with `ast` (nothing is imported or run), and every import in it counts:
top-level, inside functions, and under `if TYPE_CHECKING:` alike, since each one is a dependency a reader must
follow. Each module maps to a layer by its path; an import of a module in a higher layer fails the test, naming
the file, the line and the imported module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spriteforge"

# Bottom to top, as docs/architecture.md draws them. Modules in one layer may import each other.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("spriteforge.errors", "spriteforge.io", "spriteforge.progress", "spriteforge.diffusion")),
    ("data", ("spriteforge.data",)),
    ("nn", ("spriteforge.nn",)),
    ("models", ("spriteforge.models",)),
    ("engine", ("spriteforge.engine",)),
    ("metrics, convert", ("spriteforge.metrics", "spriteforge.convert")),
    ("bench, demo", ("spriteforge.bench", "spriteforge.demo")),
    ("serve, cli, public API", ("spriteforge.serve", "spriteforge.cli", "spriteforge")),
]


def layer_of(module: str) -> int:
    """The index in LAYERS of a dotted module name: the longest matching prefix wins."""
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module}: in no layer; add its package to LAYERS and to docs/architecture.md")
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, importer: str) -> list[tuple[int, str]]:
    """(line, dotted module) of every spriteforge import in the tree, wherever it stands."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{importer}:{node.lineno}: a relative import; spriteforge imports absolutely")
            base = node.module or ""
            for alias in node.names:
                # `from spriteforge import io` imports the module spriteforge.io; `from spriteforge import load_run`
                # takes a name from the package itself (the public API, the top layer).
                candidate = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").is_file() or (
                    PACKAGE.parent / candidate.replace(".", "/")
                ).is_dir()
                found.append((node.lineno, candidate if is_module else base))
    ours = [(line, name) for line, name in found if name == "spriteforge" or name.startswith("spriteforge.")]
    return list(dict.fromkeys(ours))  # `from m import a, b` is one import of m


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        here = layer_of(importer)
        relative = path.relative_to(PACKAGE.parent).as_posix()
        for line, imported in imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)), importer):
            there = layer_of(imported)
            if there > here:
                problems.append(
                    f"{relative}:{line} imports {imported}: layer '{LAYERS[here][0]}' may not import the higher "
                    f"layer '{LAYERS[there][0]}'"
                )
    return problems


def test_every_module_has_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path))  # raises for a module outside every layer


def test_the_architecture_page_names_every_package() -> None:
    """docs/architecture.md draws the layers: a new package or top-level module must appear there too."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    entries = [p for p in PACKAGE.iterdir() if (p.is_dir() and (p / "__init__.py").is_file()) or p.suffix == ".py"]
    missing = [p.name for p in entries if (f"{p.name}/" if p.is_dir() else p.name) not in page]
    assert not missing, f"docs/architecture.md does not mention: {', '.join(sorted(missing))}"


def test_no_layer_imports_a_higher_one() -> None:
    problems = upward_imports()
    assert not problems, "imports that point up (see docs/architecture.md):\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from spriteforge.engine.trained import load_run\n", ["spriteforge.engine.trained"]),
        ("def f():\n    from spriteforge.metrics import recon\n", ["spriteforge.metrics.recon"]),
        ("import spriteforge.cli\n", ["spriteforge.cli"]),
        ("from spriteforge import io, load_run\n", ["spriteforge.io", "spriteforge"]),
        ("if TYPE_CHECKING:\n    from spriteforge.engine.config import RunConfig\n", ["spriteforge.engine.config"]),
        ("import numpy\nfrom torch import nn\n", []),
    ],
)
def test_imports_are_found_wherever_they_stand(source: str, expected: list[str]) -> None:
    assert [name for _, name in imported_modules(ast.parse(source), "spriteforge.models.vae")] == expected


def test_an_upward_import_is_reported_with_file_line_and_module() -> None:
    tree = ast.parse("import torch\n\n\ndef load():\n    from spriteforge.engine.trained import load_run\n")
    [(line, imported)] = imported_modules(tree, "spriteforge.models.fake")
    assert (line, imported) == (5, "spriteforge.engine.trained")
    assert layer_of(imported) > layer_of("spriteforge.models.fake")
    assert layer_of("spriteforge.diffusion.gaussian") < layer_of("spriteforge.data.palette")
    assert layer_of("spriteforge") == layer_of("spriteforge.cli")
