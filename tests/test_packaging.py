"""pyproject.toml and environment.yml must list the same packages (Binder builds the latter)."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    """Package name of a requirement string, normalised ('scikit_learn>=1' -> 'scikit-learn')."""
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in ("lab", "test"):
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]

    assert conda == wanted, (f"environment.yml and pyproject.toml disagree: only in environment.yml: "
                             f"{sorted(conda - wanted)}, only in pyproject.toml: {sorted(wanted - conda)}")
    assert pip_lists and "-e ." in pip_lists[0], "environment.yml must install the project itself with `pip: [-e .]`"
    assert "conda-forge" in env["channels"]


def test_extras_cover_the_tools_the_makefile_uses():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"jupyterlab", "tqdm"} <= {_name(r) for r in extras["lab"]}
    assert {"pytest", "nbval", "hypothesis", "nbformat", "nbclient"} <= {_name(r) for r in extras["test"]}


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^make test$", ci, re.M), ".ci/run must call `make test`, the README's test command"
