"""Course tooling: Colab badges, student/instructor notebooks, output stripping, convention checks.

    python -m minnp.course badges --repo ORG/NAME --ref REF   re-point every badge and install line
    python -m minnp.course student OUT [--instructor DIR]     notebooks with solutions replaced by stubs
    python -m minnp.course strip                              clear outputs of every notebook
    python -m minnp.course check                              check the conventions (tests run this)
    python -m minnp.course ci OUT                             the notebooks as CI runs them (below)

The repository and ref that badges and the Colab setup cell point at live in one place,
``colab/colab.json``. See notebooks/CONVENTIONS.md for what a course notebook looks like.
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CONFIG = ROOT / "colab" / "colab.json"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# Notebooks that benefit from a Colab GPU (training); they carry "accelerator": "GPU" metadata.
GPU_NOTEBOOKS = {"07", "10"}


def config() -> dict:
    return json.loads(CONFIG.read_text())


def notebooks() -> list[pathlib.Path]:
    """The course notebooks, in order (NN_name.ipynb)."""
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def colab_url(name: str, repo: str, ref: str) -> str:
    return f"https://colab.research.google.com/github/{repo}/blob/{ref}/notebooks/{name}"


def badge(name: str, repo: str, ref: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(name, repo, ref)})"


def setup_cell(repo: str, ref: str) -> str:
    """The first code cell of every notebook: installs minnp on Colab, does nothing elsewhere."""
    return f'''# Colab setup: on Google Colab, fetch the course and install minnp (Colab's torch is kept).
# Elsewhere this cell does nothing; running it twice is harmless.
import os, subprocess, sys
if "google.colab" in sys.modules:
    REPO, REF = "{repo}", "{ref}"
    if not os.path.isdir("/content/minnp"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", REF,
                        f"https://github.com/{{REPO}}.git", "/content/minnp"], check=True)
    subprocess.run([sys.executable, "/content/minnp/colab/bootstrap.py"], check=True)
    os.environ["MINNP_DATA"] = "/content/minnp/data"'''


def _read(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


def _write(path: pathlib.Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


_COLAB_LINK = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")


def repoint(repo: str, ref: str) -> list[pathlib.Path]:
    """Rewrite the config, every notebook's badge and setup cell, and the README's badges."""
    CONFIG.write_text(json.dumps({"repo": repo, "ref": ref}, indent=2) + "\n")
    changed = []
    for path in notebooks():
        nb = _read(path)
        first, setup = nb["cells"][0], nb["cells"][1]
        _set_source(first, _COLAB_LINK.sub(badge(path.name, repo, ref), _source(first)))
        _set_source(setup, setup_cell(repo, ref))
        _write(path, nb)
        changed.append(path)
    readme = ROOT / "README.md"
    if readme.exists():
        text = re.sub(r"https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/notebooks/",
                      f"https://colab.research.google.com/github/{repo}/blob/{ref}/notebooks/", readme.read_text())
        readme.write_text(text)
        changed.append(readme)
    return changed


def strip(path: pathlib.Path) -> bool:
    """Clear outputs and execution counts; return whether anything changed."""
    nb = _read(path)
    dirty = False
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
            cell["outputs"], cell["execution_count"] = [], None
            dirty = True
    if dirty:
        _write(path, nb)
    return dirty


def _stub(source: str, number: int) -> str:
    """Replace each BEGIN/END SOLUTION region by a NotImplementedError at the marker's indent."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f'{indent}raise NotImplementedError("Exercise {number}: write your solution here")')
        elif line.strip() == END:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"exercise {number}: {BEGIN} without {END}")
    return "\n".join(out)


def _nbgrader(cell: dict, grade_id: str, solution: bool) -> None:
    cell.setdefault("metadata", {})["nbgrader"] = {
        "grade": not solution, "grade_id": grade_id, "locked": not solution,
        "points": 0 if solution else 1, "schema_version": 3, "solution": solution,
    }


def student_versions(path: pathlib.Path) -> tuple[dict, dict]:
    """(student, instructor) notebooks from one source; both carry nbgrader cell metadata."""
    source = _read(path)
    instructor = copy.deepcopy(source)
    number = 0
    for k, cell in enumerate(instructor["cells"]):
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if BEGIN in _source(cell):
            number += 1
            _nbgrader(cell, f"{path.stem}-exercise-{number}", solution=True)
        elif "check" in cell.get("metadata", {}).get("tags", []):
            _nbgrader(cell, f"{path.stem}-check-{k}", solution=False)
    student = copy.deepcopy(instructor)
    number = 0
    for cell in student["cells"]:
        if cell["cell_type"] == "code" and BEGIN in _source(cell):
            number += 1
            _set_source(cell, _stub(_source(cell), number))
    return student, instructor


def write_student(out: pathlib.Path, instructor_out: pathlib.Path | None = None) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks():
        student, instructor = student_versions(path)
        _write(out / path.name, student)
        written.append(out / path.name)
        if instructor_out is not None:
            instructor_out.mkdir(parents=True, exist_ok=True)
            _write(instructor_out / path.name, instructor)
    return written


def _indent(code: str) -> str:
    return "\n".join("    " + line if line.strip() else line for line in code.splitlines()) or "    pass"


def ci_notebook(path: pathlib.Path) -> dict:
    """The source notebook with its student version's exercises run first, in the same kernel.

    One kernel run proves both versions: every cell before "## Exercises" (identical in both),
    then the *student* exercise cells, where a solution cell may raise only the stub's
    NotImplementedError and a check cell must raise it (a check that passes on a stub is
    broken), then the *source* exercise cells with their solutions, which must all pass.
    """
    source = _read(path)
    student, _ = student_versions(path)
    start = next((k for k, c in enumerate(source["cells"])
                  if c["cell_type"] == "markdown" and "## Exercises" in _source(c)), len(source["cells"]))
    ci = copy.deepcopy(source)
    rehearsal = []
    for before, after in zip(source["cells"][start:], student["cells"][start:]):
        if after["cell_type"] != "code":
            continue
        tags = before.get("metadata", {}).get("tags", [])
        if BEGIN in _source(before):
            guard = "allow_stub"
        elif "check" in tags:
            guard = "expect_stub"
        else:
            guard = None
        code = _source(after)
        if guard:
            code = f"with __import__('minnp.course').course.{guard}():\n{_indent(code)}"
        cell = copy.deepcopy(after)
        cell["id"] = f"student-{len(rehearsal)}"  # cell ids must stay unique in the notebook
        _set_source(cell, f"# student version, as a learner first runs it\n{code}")
        cell.get("metadata", {}).pop("nbgrader", None)
        rehearsal.append(cell)
    ci["cells"] = source["cells"][:start] + rehearsal + source["cells"][start:]
    return ci


class _Stub:
    """Context managers for the student rehearsal in :func:`ci_notebook`."""

    def __init__(self, required: bool):
        self.required = required

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is None:
            if self.required:
                raise AssertionError("this check cell passed although the exercise is still a stub: "
                                     "the check must call the learner's code")
            return False
        if issubclass(kind, NotImplementedError) and "write your solution here" in str(error):
            return True  # the expected failure of an unsolved exercise
        return False  # anything else is a real error in the student notebook


def allow_stub() -> _Stub:
    return _Stub(required=False)


def expect_stub() -> _Stub:
    return _Stub(required=True)


def write_ci(out: pathlib.Path) -> list[pathlib.Path]:
    """Write the CI notebooks (and the nbval conftest and sanitize file) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for helper in ("conftest.py", "sanitize.cfg"):
        (out / helper).write_text((NOTEBOOKS / helper).read_text())
    written = []
    for path in notebooks():
        _write(out / path.name, ci_notebook(path))
        written.append(out / path.name)
    return written


def problems(path: pathlib.Path) -> list[str]:
    """What a notebook gets wrong against notebooks/CONVENTIONS.md (empty when it is fine)."""
    nb = _read(path)
    cfg = config()
    found = []
    cells = nb["cells"]
    if len(cells) < 3 or cells[0]["cell_type"] != "markdown" or cells[1]["cell_type"] != "code":
        return [f"{path.name}: must start with a Markdown title cell and the Colab setup code cell"]
    head = _source(cells[0])
    if not head.startswith(f"# {path.name[:2]} "):
        found.append(f"{path.name}: the first cell must start with '# {path.name[:2]} · Title'")
    if badge(path.name, cfg["repo"], cfg["ref"]) not in head:
        found.append(f"{path.name}: Colab badge missing or pointing elsewhere (run python -m minnp.course badges)")
    for word in ("Goals", "Prerequisites", "Run time"):
        if f"**{word}" not in head:
            found.append(f"{path.name}: the first cell lacks **{word}**")
    if _source(cells[1]) != setup_cell(cfg["repo"], cfg["ref"]):
        found.append(f"{path.name}: the second cell is not the standard Colab setup cell")
    for k, cell in enumerate(cells):
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
            found.append(f"{path.name}: cell {k} has outputs (run python -m minnp.course strip)")
            break
    text = "\n".join(_source(c) for c in cells)
    for heading in ("## Summary", "## Exercises"):
        if heading not in text:
            found.append(f"{path.name}: no '{heading}' section")
    n_exercises = sum(BEGIN in _source(c) for c in cells if c["cell_type"] == "code")
    if n_exercises < 3:
        found.append(f"{path.name}: {n_exercises} exercises with solutions, at least 3 expected")
    if "minnp.device()" not in text:
        found.append(f"{path.name}: does not pick its device with minnp.device()")
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m minnp.course", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("badges", help="re-point every Colab badge and install line")
    b.add_argument("--repo", required=True, help="ORG/NAME on GitHub")
    b.add_argument("--ref", required=True, help="branch or tag")
    s = sub.add_parser("student", help="write student (and instructor) notebooks")
    s.add_argument("out", type=pathlib.Path)
    s.add_argument("--instructor", type=pathlib.Path, default=None)
    sub.add_parser("strip", help="clear outputs of every notebook")
    sub.add_parser("check", help="check every notebook against the conventions")
    c = sub.add_parser("ci", help="write the notebooks as CI runs them: student exercises rehearsed first")
    c.add_argument("out", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.command == "badges":
        for p in repoint(args.repo, args.ref):
            print(f"re-pointed {p.relative_to(ROOT)}")
    elif args.command == "student":
        for p in write_student(args.out, args.instructor):
            print(f"wrote {p}")
    elif args.command == "strip":
        for p in notebooks():
            if strip(p):
                print(f"stripped {p.relative_to(ROOT)}")
    elif args.command == "ci":
        for p in write_ci(args.out):
            print(f"wrote {p}")
    elif args.command == "check":
        found = [msg for p in notebooks() for msg in problems(p)]
        print("\n".join(found) or "all notebooks follow the conventions")
        raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    main()
