"""Every course notebook follows notebooks/CONVENTIONS.md (tools.course checks their form; nbval runs them)."""

import json

import pytest

from tools import course

NOTEBOOKS = course.notebooks()


def test_the_course_has_notebooks():
    assert [p.name for p in NOTEBOOKS][:1] == ["00_welcome.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_conventions(path):
    assert course.problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [k for k, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert dirty == [], f"{path.name} has outputs in cells {dirty}: run python -m tools.course strip"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_gpu_metadata_only_where_declared(path):
    nb = json.loads(path.read_text())
    gpu = nb["metadata"].get("accelerator") == "GPU"
    assert gpu == (path.name[:2] in course.GPU_NOTEBOOKS)
