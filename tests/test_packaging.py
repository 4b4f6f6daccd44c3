"""The package list in pyproject.toml names every sub-package, so a non-editable install (what CI
and users get) contains all of neuro."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {"neuro." + ".".join(p.parent.relative_to(ROOT / "neuro").parts)
             for p in (ROOT / "neuro").rglob("__init__.py")}
    found = {f.rstrip(".") for f in found}
    missing = sorted(found - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"
