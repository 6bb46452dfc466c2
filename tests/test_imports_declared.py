"""Every package the course imports is declared in pyproject.toml.

Scans the library, tools, tests and every notebook's code cells for `import x` and
`from x import ...`, maps each top-level module to the distribution that provides it,
and fails when that distribution is not in `dependencies` or an extra. A learner who
installs the course must never meet a ModuleNotFoundError in a chapter.
"""
import ast
import functools
import importlib.metadata as md
import re
import sys
import tomllib

import pytest

from notebook_utils import ROOT, notebooks, read

# The course's own modules: the package and the helper scripts next to the tests and tools.
LOCAL = {"fastgrad"} | {p.stem for folder in ("tests", "tests/browser", "tools") for p in (ROOT / folder).glob("*.py")}
# Module names whose distribution is not installed here, or is named differently on PyPI.
KNOWN = {"yaml": "pyyaml", "sklearn": "scikit-learn", "torch": "torch", "playwright": "playwright",
         "IPython": "ipython"}
# Distributions that come with a declared one (ipython with ipykernel/jupyterlab, ...):
# importing them is fine as long as their provider is declared.
PROVIDED_BY = {"ipython": "ipykernel", "nbclient": "nbclient", "traitlets": "ipykernel"}


def _normalise(name: str) -> str:
    return re.split(r"[<>=!~\[; ]", name.strip(), maxsplit=1)[0].lower().replace("_", "-")


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_normalise(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        names |= {_normalise(r) for r in extra}
    return names


def _imports(source: str) -> set[str]:
    # Notebook cells may hold IPython magics; drop those lines so the cell parses.
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def sources():
    for path in sorted((ROOT / "lib").rglob("*.py")) + sorted((ROOT / "tools").rglob("*.py")) \
            + sorted((ROOT / "tests").rglob("*.py")):
        yield path.relative_to(ROOT), path.read_text()
    for path in notebooks("notebooks", "solutions", "exercises"):
        code = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
        yield path.relative_to(ROOT), code


@functools.cache
def _installed() -> dict:
    return md.packages_distributions()


def distribution(module: str) -> str | None:
    if module in KNOWN:
        return KNOWN[module]
    dists = _installed().get(module)
    return _normalise(dists[0]) if dists else None


def test_every_imported_package_is_declared():
    wanted = declared()
    missing = []
    for where, source in sources():
        for module in sorted(_imports(source)):
            if module in sys.stdlib_module_names or module in LOCAL or module == "__future__":
                continue
            dist = distribution(module)
            if dist is None:
                missing.append(f"{where}: imports {module!r}, which no installed distribution provides")
            elif dist not in wanted and PROVIDED_BY.get(dist) not in wanted:
                missing.append(f"{where}: imports {module!r} (distribution {dist!r}), not declared in pyproject.toml")
    assert not missing, "undeclared imports:\n" + "\n".join(missing)


@pytest.mark.parametrize("source, modules", [
    ("import numpy as np\nfrom threadpoolctl import threadpool_limits", {"numpy", "threadpoolctl"}),
    ("%timeit f()\nimport os.path", {"os"}),
    ("from . import x\nfrom fastgrad.ops import OPS", {"fastgrad"}),
])
def test_import_scanner(source, modules):
    assert _imports(source) == modules
