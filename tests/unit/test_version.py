"""The version a person sees (About box, --version) is the one the bundle is built with."""

import tomllib
from pathlib import Path

import messenger


def test_the_package_version_matches_pyproject():
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert messenger.__version__ == declared
