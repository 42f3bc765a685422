"""A student's first hour: what `make lab` installs and runs, and the package metadata."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the instructor extra installs tomli
    import tomli as tomllib


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements):
    return {r.split(">")[0].split("=")[0].split("[")[0].strip().lower() for r in requirements}


def test_the_student_environment_has_no_instructor_tools(project):
    student = names(project["dependencies"]) | names(project["optional-dependencies"]["lab"])
    assert {"torch", "torchvision", "matplotlib", "ipywidgets", "tqdm", "jupyterlab"} <= student
    assert not student & {"nbgrader", "pytest", "nbval", "jupytext", "ruff"}
    extras = project["optional-dependencies"]
    assert "nbgrader" in names(extras["instructor"])
    assert {"pytest", "nbval"} <= names(extras["test"]) and "dgm[lab,instructor]" in extras["test"]


def test_license_is_an_spdx_string(project):
    assert project["license"] == "MIT"


def dry_run(*args):
    out = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


def test_make_lab_installs_the_lab_extra_and_opens_a_working_copy():
    lines = dry_run("lab", "VENV=/nonexistent-venv")
    assert any('pip install -e ".[lab]"' in line for line in lines)
    assert not any(".[test]" in line for line in lines)
    lab = [line for line in lines if "jupyter lab" in line]
    assert lab and lab[-1].rstrip().endswith("work/")  # not the tracked notebooks/


@pytest.mark.skipif(os.geteuid() != 0, reason="--allow-root is added only for root")
def test_lab_args_add_to_allow_root():
    (lab,) = [line for line in dry_run("lab", "LAB_ARGS=--no-browser") if "jupyter lab" in line]
    assert "--allow-root --no-browser" in lab


def test_the_working_copy_is_ignored_by_git():
    out = subprocess.run(
        ["git", "check-ignore", "work/01_em.ipynb"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, "work/ must be git-ignored"


def test_make_lab_copies_new_lectures_and_never_overwrites_answers(tmp_path):
    """The copy loop of `make lab`, run for real on a temporary working folder."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "01_em.ipynb").write_text("my answers")
    text = "\n".join(dry_run("lab", f"WORK={work}")).replace("\\\n", " ")
    script = next(line for line in text.splitlines() if line.lstrip().startswith("for nb in"))
    subprocess.run(["sh", "-c", script], cwd=ROOT, check=True, capture_output=True)
    assert (work / "01_em.ipynb").read_text() == "my answers"
    assert (work / "02_wake_sleep.ipynb").read_bytes() == (
        ROOT / "notebooks" / "02_wake_sleep.ipynb"
    ).read_bytes()
