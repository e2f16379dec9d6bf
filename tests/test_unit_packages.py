"""Units from other packages, as a user gets them: examples/textstats installed with pip into a
temporary virtual environment, found through the ``smolcpu.units`` entry points, run by a program.

The environment sees Smol and its dependencies through a site directory of the running one, so
nothing is downloaded: pip builds and installs the local packages only (``--no-index``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "textstats"


def run(*command: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=300, env=environment)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def broken_package(root: Path) -> Path:
    """A package whose unit's module does not exist: Smol must report it and go on."""
    (root / "smol_broken").mkdir(parents=True)
    (root / "smol_broken" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(textwrap.dedent('''\
        [build-system]
        requires = ["setuptools>=61", "wheel"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "smol-broken"
        version = "0.1.0"

        [project.entry-points."smolcpu.units"]
        "broken.unit" = "smol_broken.missing:Nothing"

        [tool.setuptools]
        packages = ["smol_broken"]
    '''))
    return root


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the example and the broken package pip-installed into it."""
    root = tmp_path_factory.mktemp("units-venv")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # Smol and its dependencies, from the running environment (its .pth files processed too).
    (site / "smol-outer.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    for package in (EXAMPLE, broken_package(root / "broken")):
        run(python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation", package)
    return python


def smol(python: Path, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(python, "-m", "smolcpu", *args, check=check)


def test_smol_units_lists_the_packages_unit_with_its_source_and_reports_the_broken_one(python: Path) -> None:
    listed = smol(python, "units", "--json")
    kinds = {kind["name"]: kind for kind in json.loads(listed.stdout)}
    count = kinds["textstats.count"]
    assert (count["package"], count["version"]) == ("smol-textstats", "1.2.0")
    assert count["parameters"] == ["top"] and count["inputs"]["text"]["type"] == "string"
    assert (kinds["math"]["package"], kinds["math"]["version"]) == ("smolcpu", "0.1.0")
    assert "broken.unit" not in kinds
    warning = " ".join(listed.stderr.split())
    assert "unit kind 'broken.unit' from smol-broken 0.1.0 failed to load: ModuleNotFoundError" in warning
    table = smol(python, "units").stdout
    assert "textstats.count" in table and "smol-textstats 1.2.0" in table


def test_a_program_runs_with_the_packages_unit(python: Path) -> None:
    done = smol(python, "run", EXAMPLE / "count.smol", "--input", "The cat and the hat. The end.")
    answer = json.loads(done.stdout[: done.stdout.index("\nstatus ")])
    assert answer == {"words": 7, "lines": 1, "characters": 29, "top": ["the", "cat"]}
    assert "status ok" in done.stdout


def test_a_version_the_package_does_not_have_is_a_check_error(python: Path, tmp_path: Path) -> None:
    program = tmp_path / "newer.smol"
    program.write_text((EXAMPLE / "count.smol").read_text().replace(">= 1.2", ">= 2"))
    checked = smol(python, "check", program, check=False)
    assert checked.returncode != 0
    said = " ".join((checked.stdout + checked.stderr).split())
    assert "unit-version" in said and "pip install 'smol-textstats>=2'" in said


def test_only_a_program_naming_the_broken_unit_fails(python: Path, tmp_path: Path) -> None:
    program = tmp_path / "broken.smol"
    program.write_text("use b = broken.unit\n\nout <= switch <= (\n    b => send\n) <= in\n")
    failed = smol(python, "check", program, check=False)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    said = " ".join((failed.stdout + failed.stderr).split())
    assert "unit-load" in said and "unit kind 'broken.unit' from smol-broken 0.1.0 failed to load" in said
    assert smol(python, "run", ROOT / "examples" / "calc.smol", "--input", "6 * 7").stdout.startswith("42")
