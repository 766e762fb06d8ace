"""minnp.course: badges re-pointed by one command; student notebooks keep no solution text."""

import json
import shutil

import pytest

from minnp import course


@pytest.fixture
def course_copy(tmp_path, monkeypatch):
    """The notebooks, README and Colab config copied to a temporary tree the commands may rewrite."""
    for name in ("notebooks", "colab"):
        shutil.copytree(course.ROOT / name, tmp_path / name)
    shutil.copy(course.ROOT / "README.md", tmp_path / "README.md")
    monkeypatch.setattr(course, "ROOT", tmp_path)
    monkeypatch.setattr(course, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(course, "CONFIG", tmp_path / "colab" / "colab.json")
    return tmp_path


def test_every_badge_points_at_its_own_notebook_with_the_configured_repo_and_ref():
    cfg = course.config()
    for path in course.notebooks():
        head = "".join(json.loads(path.read_text())["cells"][0]["source"])
        assert course.colab_url(path.name, cfg["repo"], cfg["ref"]) in head
    readme = (course.ROOT / "README.md").read_text()
    for path in course.notebooks():
        assert course.colab_url(path.name, cfg["repo"], cfg["ref"]) in readme


def test_repointing_rewrites_every_badge_and_install_line(course_copy):
    course.main(["badges", "--repo", "someone/fork", "--ref", "v9"])
    assert course.config() == {"repo": "someone/fork", "ref": "v9"}
    for path in course.notebooks():
        assert course.problems(path) == [], "still follows the conventions"
        text = path.read_text()
        assert '\\"someone/fork\\", \\"v9\\"' in text  # the setup cell's REPO, REF line
        assert "minnp/minnp" not in text
    readme = (course_copy / "README.md").read_text()
    assert "github/someone/fork/blob/v9/notebooks/00_welcome.ipynb" in readme


def test_student_notebooks_keep_no_solution_text(course_copy, tmp_path):
    course.main(["student", str(tmp_path / "student"), "--instructor", str(tmp_path / "instructor")])
    for path in course.notebooks():
        source = json.loads(path.read_text())
        student = json.loads((tmp_path / "student" / path.name).read_text())
        text = json.dumps(student)
        assert course.BEGIN not in text and course.END not in text
        solutions = 0
        for before, after in zip(source["cells"], student["cells"]):
            src = "".join(before["source"])
            if course.BEGIN not in src:
                continue
            solutions += 1
            solution = src.split(course.BEGIN)[1].split(course.END)[0]
            kept = "".join(after["source"])
            for line in solution.strip().splitlines():
                assert line.strip() not in kept, f"{path.name}: solution line survived: {line.strip()!r}"
        stubs = [c for c in student["cells"] if "NotImplementedError(\"Exercise" in "".join(c["source"])]
        assert len(stubs) == solutions >= 3
        assert all(c["metadata"]["nbgrader"]["solution"] for c in stubs)
        instructor = json.loads((tmp_path / "instructor" / path.name).read_text())
        assert sum(course.BEGIN in "".join(c["source"]) for c in instructor["cells"]) == solutions


def test_stub_keeps_the_signature_and_indentation():
    src = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n'
    assert course._stub(src, 2) == 'def f(x):\n    """Doc."""\n    raise NotImplementedError("Exercise 2: write your solution here")'
    with pytest.raises(ValueError, match="without"):
        course._stub("### BEGIN SOLUTION\nx = 1\n", 1)


def _tiny_notebook(path, check_code):
    import nbformat

    nb = nbformat.v4.new_notebook()
    check = nbformat.v4.new_code_cell(check_code)
    check.metadata["tags"] = ["check"]
    nb.cells = [
        nbformat.v4.new_code_cell("base = 2"),
        nbformat.v4.new_markdown_cell("## Exercises"),
        nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return base * x\n    ### END SOLUTION"),
        check,
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _execute(nb):
    import nbclient
    import nbformat

    nbclient.NotebookClient(nbformat.reads(json.dumps(nb), as_version=4), timeout=60, kernel_name="python3").execute()


@pytest.mark.slow
def test_ci_notebook_rehearses_the_student_version_before_the_solutions(tmp_path):
    import nbclient

    good = course.ci_notebook(_tiny_notebook(tmp_path / "good.ipynb", "assert double(3) == 6"))
    sources = ["".join(c["source"]) for c in good["cells"]]
    assert sources.index("def double(x):\n    ### BEGIN SOLUTION\n    return base * x\n    ### END SOLUTION") > \
        next(k for k, s in enumerate(sources) if "NotImplementedError" in s)
    _execute(good)
    # a check that passes on the stub is caught ...
    lazy = course.ci_notebook(_tiny_notebook(tmp_path / "lazy.ipynb", "assert base == 2"))
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="passed although the exercise is still a stub"):
        _execute(lazy)
    # ... and so is any error other than the stub's
    broken = course.ci_notebook(_tiny_notebook(tmp_path / "broken.ipynb", "assert double(undefined_name) == 6"))
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="NameError"):
        _execute(broken)
