"""Packaging: one version number, torch never pinned, environment.yml consistent with pyproject."""

import pathlib
import re
import tomllib

import minnp

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONDA_NAMES = {"torch": "pytorch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


def test_one_version_for_library_and_course():
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "minnp.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", minnp.__version__)


def test_torch_has_a_floor_and_no_pin():
    torch_req = [r for r in PYPROJECT["project"]["dependencies"] if _name(r) == "torch"]
    assert torch_req and ">=" in torch_req[0] and "==" not in torch_req[0] and "<" not in torch_req[0]


def test_environment_yml_lists_every_core_dependency_and_installs_the_course_extra():
    text = (ROOT / "environment.yml").read_text()
    conda = {_name(line.strip()[2:]) for line in text.splitlines() if re.match(r"\s+- [a-z]", line)}
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = _name(requirement)
        if name == "vesin":  # not on conda-forge for every platform: pip installs it with -e .
            continue
        assert CONDA_NAMES.get(name, name) in conda, f"{name} missing from environment.yml"
    assert "- -e .[course]" in text
    assert "conda-forge" in text
    conda_python = tuple(int(n) for n in re.search(r"python=(\d+)\.(\d+)", text).groups())
    floor = tuple(int(n) for n in re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"]).groups())
    assert conda_python >= floor, "environment.yml's python is older than pyproject's requires-python"
    # as numbers: the string "3.9" >= "3.10" is True


def test_extras_exist():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"course", "test", "data", "dev", "colab"} <= set(extras)
    assert any(_name(r) == "tblite" for r in extras["data"])
    assert any(_name(r) == "dscribe" for r in extras["colab"])
