"""tools.course: badges re-pointed by one command, written as checked literals (no code planted in the
Colab setup cell); student notebooks keep no solution text, and a marker the stubber does not know
stops it (fails closed); generated notebooks never go into or over the sources; files are written
atomically."""

import json
import shutil

import pytest

from tools import course


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


# ---------------------------------------------------------------------------------------------
# hostile and mistaken input: nothing planted, nothing overwritten, nothing shipped by accident
# ---------------------------------------------------------------------------------------------

PLANTED = 'x";__import__("os").system("id");_="'  # a valid git branch name


def _setup_cell_shape(source: str) -> str:
    """The setup cell's syntax tree with its two string literals blanked out."""
    import ast

    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in (*course.config().values(), PLANTED, "main"):
            node.value = "?"
    return ast.dump(tree)


def test_a_ref_holding_code_is_written_as_a_string_literal_and_runs_nothing(course_copy):
    reference = course.setup_cell("minnp/minnp", "main")
    course.main(["badges", "--repo", "minnp/minnp", "--ref", PLANTED])
    for path in course.notebooks():
        cell = "".join(json.loads(path.read_text())["cells"][1]["source"])
        assert course.setup_cell_target(cell) == ("minnp/minnp", PLANTED)
        assert _setup_cell_shape(cell) == _setup_cell_shape(reference), "the cell's code is the standard code"
        assert course.problems(path) == []
    readme = (course_copy / "README.md").read_text()
    assert '__import__("os")' not in readme and "blob/x%22%3B__import__%28%22os%22%29" in readme


@pytest.mark.parametrize("repo, ref, problem", [
    ("minnp/minnp", "a..b", "'..'"),
    ("minnp/minnp", "two words", "space"),
    ("minnp/minnp", "-x", "starts with"),
    ("minnp/minnp", "v1.lock", ".lock"),
    ("minnp/minnp", "", "empty"),
    ("minnp", "main", "OWNER/NAME"),
    ("-me/minnp", "main", "OWNER/NAME"),
    ("me/minnp.git", "main", "without '.git'"),
    ('me/x"y', "main", "OWNER/NAME"),
])
def test_repo_and_ref_outside_githubs_and_gits_rules_are_refused_before_anything_is_written(
        course_copy, repo, ref, problem):
    before = {p: p.read_bytes() for p in [*course.notebooks(), course.CONFIG, course_copy / "README.md"]}
    with pytest.raises(ValueError, match="e.g. --(repo|ref) ") as error:
        course.repoint(repo, ref)
    assert problem in str(error.value)
    assert {p: p.read_bytes() for p in before} == before
    with pytest.raises(SystemExit) as exit_:
        course.main(["badges", "--repo", repo, "--ref", ref])
    assert exit_.value.code == 2


@pytest.mark.parametrize("line, problem", [
    ('    REPO, REF = "minnp/minnp", "main"; __import__("os").system("id")', "not the standard"),
    ('    REPO, REF = "minnp/" + "minnp", "main"', "two string literals"),
    ('    REPO, REF = "someone/else", "main"', "installs someone/else@main"),
    ('    REPO, REF = "minnp/minnp", "main"(', "not valid Python"),
])
def test_check_reads_the_setup_cell_and_reports_a_planted_or_foreign_target(course_copy, line, problem):
    path = course.notebooks()[0]
    nb = json.loads(path.read_text())
    cell = "".join(nb["cells"][1]["source"]).replace('    REPO, REF = "minnp/minnp", "main"', line)
    nb["cells"][1]["source"] = cell.splitlines(keepends=True)
    path.write_text(json.dumps(nb))
    assert any(problem in p for p in course.problems(path)), course.problems(path)


@pytest.mark.parametrize("where", ["notebooks", ".", "notebooks/student"])
def test_generated_notebooks_never_go_into_the_course_sources(where):
    sources = {p: p.read_bytes() for p in course.notebooks()}
    target = course.ROOT / where
    for write in (course.write_student, course.write_ci):
        with pytest.raises(ValueError, match="course sources .*Choose a folder outside"):
            write(target)
    with pytest.raises(ValueError, match="course sources"):
        course.write_student(course.ROOT / "_student", instructor_out=course.NOTEBOOKS)
    assert {p: p.read_bytes() for p in course.notebooks()} == sources
    assert not (course.ROOT / "notebooks" / "student").exists()


def test_a_copy_of_the_sources_is_not_overwritten_but_earlier_output_is(tmp_path):
    copy = tmp_path / "my-course"
    copy.mkdir()
    source = course.notebooks()[0]
    shutil.copy(source, copy / source.name)
    with pytest.raises(ValueError, match="not a notebook this tool wrote"):
        course.write_student(copy)
    assert (copy / source.name).read_bytes() == source.read_bytes()
    course.write_student(tmp_path / "student", tmp_path / "instructor")
    course.write_student(tmp_path / "student", tmp_path / "instructor")  # a second run replaces its own output


@pytest.mark.parametrize("marker", ["### BEGIN SOLUTION  # the hard part", "### begin solution", "#### BEGIN SOLUTION",
                                    "### END SOLUTION (end)"])
def test_a_marker_with_extra_text_stops_the_stubber_instead_of_shipping_the_solution(marker):
    src = f"def f(x):\n    {marker}\n    return 42\n    ### END SOLUTION\n"
    if "END" in marker:
        src = f"def f(x):\n    ### BEGIN SOLUTION\n    return 42\n    {marker}\n"
    with pytest.raises(ValueError, match=r"exercise 3, line \d: .* not one; a marker line holds exactly"):
        course._stub(src, 3)
    with pytest.raises(ValueError, match="END SOLUTION without ### BEGIN"):
        course._stub("x = 1\n### END SOLUTION\n", 1)
    with pytest.raises(ValueError, match="BEGIN SOLUTION inside the region opened by ### BEGIN SOLUTION; close"):
        course._stub("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", 1)


def test_a_bad_marker_in_any_notebook_writes_no_student_notebook(course_copy, tmp_path):
    last = course.notebooks()[-1]
    last.write_text(last.read_text().replace("### BEGIN SOLUTION", "### BEGIN SOLUTION (keep)", 1))
    out = tmp_path / "student"
    with pytest.raises(ValueError, match=f"{last.name}, exercise 1"):
        course.write_student(out)
    assert list(out.glob("*.ipynb")) == []
    assert any("looks like a solution marker" in p for p in course.problems(last))


def test_a_failed_rewrite_leaves_every_file_as_it_was(course_copy, monkeypatch):
    before = {p: p.read_bytes() for p in [*course.notebooks(), course.CONFIG]}

    def interrupted(text, *args, **kwargs):
        raise KeyboardInterrupt  # as if the run were stopped while writing

    monkeypatch.setattr(course.pathlib.Path, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        course.repoint("someone/fork", "v9")
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in before} == before
    assert not [p for p in course_copy.rglob(".*.tmp")], "no temporary file is left behind"


def _with_hidden_tests(path, hidden):
    """The first check cell of notebook ``path`` with ``hidden`` (nbgrader hidden tests) appended."""
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if "check" in c.get("metadata", {}).get("tags", []))
    cell["source"] = ("".join(cell["source"]) + "\n" + hidden).splitlines(keepends=True)
    path.write_text(json.dumps(nb))
    return "".join(cell["source"])


def test_hidden_tests_reach_the_instructor_version_only(course_copy, tmp_path):
    path = course.notebooks()[0]
    hidden = "### BEGIN HIDDEN TESTS\nassert abs(lj_minimum(2.0) - 2.2449241) < 1e-6  # the reference value\n" \
             "### END HIDDEN TESTS"
    check = _with_hidden_tests(path, hidden)
    course.write_student(tmp_path / "student", tmp_path / "instructor")
    student = (tmp_path / "student" / path.name).read_text()
    instructor = json.loads((tmp_path / "instructor" / path.name).read_text())
    assert "2.2449241" not in student and "HIDDEN TESTS" not in student
    assert "check.lj_minimum(lj_minimum)" in student
    cell = next(c for c in instructor["cells"] if "HIDDEN TESTS" in "".join(c["source"]))
    assert "".join(cell["source"]) == check and cell["metadata"]["nbgrader"]["grade"]
    ci = json.dumps(course.ci_notebook(path))
    assert ci.count("2.2449241") == 1, "CI runs the hidden tests once, with the solutions, not in the rehearsal"


@pytest.mark.parametrize("hidden, problem", [
    ("### BEGIN HIDDEN TESTS\nassert True", "BEGIN HIDDEN TESTS without ### END HIDDEN TESTS"),
    ("### BEGIN HIDDEN TESTS (secret)\nassert True\n### END HIDDEN TESTS", "looks like a solution marker"),
    ("### END HIDDEN TESTS", "END HIDDEN TESTS without ### BEGIN HIDDEN TESTS"),
])
def test_a_broken_hidden_test_region_stops_the_student_tool(course_copy, tmp_path, hidden, problem):
    path = course.notebooks()[0]
    _with_hidden_tests(path, hidden)
    with pytest.raises(ValueError, match=problem) as error:
        course.write_student(tmp_path / "student")
    assert str(error.value).startswith(f"{path.name}, cell "), "the message names the notebook and the cell"
    assert not (tmp_path / "student").exists() or list((tmp_path / "student").glob("*.ipynb")) == []
