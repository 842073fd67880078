"""A plain wheel install (no checkout, no bundle) still finds the app's resources.

``resources/`` is a top-level folder, so the wheel carries it as data files; this builds the
wheel from a copy of the source, installs it into a fresh venv and asks the installed
``messenger.resources`` where its style sheets and icons are.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "messenger", "server", "resources")


def run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_wheel_install_finds_its_icons_and_style_sheets(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", tmp_path / "wheels", source,
        cwd=tmp_path,
    )  # fmt: skip
    wheel = next((tmp_path / "wheels").glob("messenger-*.whl"))
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    shutil.rmtree(source)  # nothing may come from the copied checkout

    where = run(
        python, "-c", "from messenger.resources import resources_dir; print(resources_dir())",
        cwd=tmp_path,
    ).strip()  # fmt: skip

    resources = Path(where)
    assert resources == venv / "share" / "messenger" / "resources"
    shipped = {p.relative_to(ROOT / "resources") for p in (ROOT / "resources").rglob("*")}
    installed = {p.relative_to(resources) for p in resources.rglob("*")}
    assert shipped and shipped == installed
