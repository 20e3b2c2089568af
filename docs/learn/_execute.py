"""Run the tutorials headless: each docs/learn/NN_*.py (jupytext percent format) becomes a notebook, is executed top
to bottom in a fresh Jupyter kernel and saved with its outputs to docs/learn/_build/NN_*.ipynb.

    python docs/learn/_execute.py                 # every tutorial, full budgets (`make learn`)
    python docs/learn/_execute.py --tiny 01 05    # tutorials 01 and 05 with CI's tiny budgets

tests/test_learn.py uses `execute` the same way, in tiny mode, one test per tutorial.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

LEARN_DIR = Path(__file__).resolve().parent
REPO_ROOT = LEARN_DIR.parents[1]


def tutorials(selected: list[str] | None = None) -> list[Path]:
    """The tutorial sources in order (NN_slug.py), or those whose name starts with one of `selected`."""
    found = sorted(LEARN_DIR.glob("[0-9]*.py"))
    if selected:
        found = [path for path in found if any(path.name.startswith(prefix) for prefix in selected)]
    return found


def execute(
    source: Path, out: Path | None = None, *, tiny: bool, timeout: int = 600, build: Path | None = None
) -> None:
    """Execute one tutorial in a new kernel whose working directory is docs/learn; write the executed notebook
    (outputs included) to `out` when given. A failing cell raises nbclient's CellExecutionError, which names the
    cell and shows its traceback."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    env = dict(os.environ)
    # The kernel imports this checkout's spriteforge, whatever is installed, and sees the budget switch.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["SPRITEFORGE_LEARN_TINY"] = "1" if tiny else "0"
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    if build is not None:
        env["SPRITEFORGE_LEARN_BUILD"] = str(build)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(LEARN_DIR)}}
    )
    try:
        client.execute(env=env)
    finally:
        if out is not None:  # also on failure: the saved notebook shows where it stopped
            out.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("select", nargs="*", help="tutorial number prefixes (01, 05, ...); default: all")
    parser.add_argument("--tiny", action="store_true", help="CI's tiny budgets (seconds; meaningless pictures)")
    parser.add_argument("--out", type=Path, default=LEARN_DIR / "_build", help="folder for the executed notebooks")
    args = parser.parse_args(argv)
    sources = tutorials(args.select)
    if not sources:
        print(f"no tutorial in {LEARN_DIR} starts with {' or '.join(args.select)}", file=sys.stderr)
        return 2
    for source in sources:
        start = time.perf_counter()
        out = args.out / f"{source.stem}.ipynb"
        execute(source, out, tiny=args.tiny)
        print(f"{source.name}: {time.perf_counter() - start:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
