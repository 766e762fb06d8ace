"""Course tooling: Colab badges, student/instructor notebooks, output stripping, convention checks.

Run from the repository root (this is repository tooling, never installed with minnp):

    python -m tools.course badges --repo OWNER/NAME --ref REF   re-point every badge and install line
    python -m tools.course student OUT [--instructor DIR]       notebooks with solutions replaced by stubs
    python -m tools.course strip                                clear outputs of every notebook
    python -m tools.course check                                check the conventions (tests run this)
    python -m tools.course ci OUT                               the notebooks as CI runs them (below)

The repository and ref that badges and the Colab setup cell point at live in one place,
``colab/colab.json``; they are checked against GitHub's and git's naming rules and written into the
setup cell as quoted string literals. Every file is written atomically (a failed run leaves the
previous file), and the generated notebooks never go into, or over, the course sources. See
notebooks/CONVENTIONS.md for what a course notebook looks like.
"""

from __future__ import annotations

import argparse
import ast
import copy
import inspect
import json
import pathlib
import re
import urllib.parse

from minnp.data import atomic_path

ROOT = pathlib.Path(__file__).resolve().parents[1]  # the repository: tools/ is never installed
NOTEBOOKS = ROOT / "notebooks"
CONFIG = ROOT / "colab" / "colab.json"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# nbgrader's hidden tests: kept in the instructor version (nbgrader runs them when grading), removed
# from the student version, so their reference values never reach the students
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION = re.compile(r"(BEGIN|END)\s*SOLUTION", re.IGNORECASE)
MARKER = re.compile(r"(BEGIN|END)\s*(SOLUTION|HIDDEN\s*TESTS)", re.IGNORECASE)  # anything like a marker
# Notebooks that benefit from a Colab GPU (training); they carry "accelerator": "GPU" metadata.
GPU_NOTEBOOKS = {"07", "10", "13", "14"}  # training notebooks that use a longer budget on a GPU


# ----------------------------------------------------------------------------------------------
# where badges point: a GitHub repository and a git ref, checked before they are written anywhere

_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")  # 1-39, single inner hyphens
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def check_repo(repo: str) -> str:
    """``repo`` if it is a GitHub OWNER/NAME, else a ValueError saying the rules."""
    owner, slash, name = str(repo).partition("/")
    if not (slash and _OWNER.fullmatch(owner) and _NAME.fullmatch(name)) or name in (".", "..") \
            or name.lower().endswith(".git"):
        raise ValueError(
            f"--repo {repo!r} is not a GitHub repository OWNER/NAME: the owner has 1-39 letters, digits "
            "or single hyphens (none at either end), the name 1-100 letters, digits, '.', '-' or '_' "
            "(without '.git'); e.g. --repo minnp/minnp"
        )
    return repo


def check_ref(ref: str) -> str:
    """``ref`` if it is a branch or tag name git accepts (``git check-ref-format --branch``)."""
    ref = str(ref)
    broken = []
    if not ref or ref == "@":
        broken.append("it is empty or '@'")
    if any(ord(c) < 32 or ord(c) == 127 or c in " ~^:?*[\\" for c in ref):
        broken.append("it holds a space, a control character or one of ~ ^ : ? * [ \\")
    if ".." in ref or "@{" in ref or "//" in ref:
        broken.append("it holds '..', '@{' or '//'")
    if ref.startswith(("/", "-")) or ref.endswith(("/", ".")):
        broken.append("it starts with '/' or '-', or ends with '/' or '.'")
    if any(part.startswith(".") or part.endswith(".lock") for part in ref.split("/")):
        broken.append("a part between slashes starts with '.' or ends with '.lock'")
    if broken:
        raise ValueError(f"--ref {ref!r} is not a git branch or tag name: {'; '.join(broken)}. "
                         "Use the name of a branch or tag of the repository, e.g. --ref main")
    return ref


def _literal(text: str) -> str:
    """``text`` as a Python string literal that reads back as exactly ``text``."""
    literal = json.dumps(text, ensure_ascii=False)  # "main" -> "main", with every quote escaped
    if ast.literal_eval(literal) != text:
        raise ValueError(f"{text!r} cannot be written as a plain string literal; use a simpler name")
    return literal


def config() -> dict:
    """``colab/colab.json``, checked: ``{"repo": OWNER/NAME, "ref": REF}``."""
    cfg = json.loads(CONFIG.read_text(encoding="utf-8"))
    check_repo(cfg.get("repo", ""))
    check_ref(cfg.get("ref", ""))
    return cfg


def notebooks() -> list[pathlib.Path]:
    """The course notebooks, in order (NN_name.ipynb)."""
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def colab_url(name: str, repo: str, ref: str) -> str:
    return (f"https://colab.research.google.com/github/{check_repo(repo)}/blob/"
            f"{urllib.parse.quote(check_ref(ref), safe='/')}/notebooks/{name}")


def badge(name: str, repo: str, ref: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(name, repo, ref)})"


def setup_cell(repo: str, ref: str) -> str:
    """The first code cell of every notebook: installs minnp on Colab, does nothing elsewhere."""
    repo, ref = _literal(check_repo(repo)), _literal(check_ref(ref))
    return f'''# Colab setup: on Google Colab, fetch the course and install minnp (Colab's torch is kept).
# Elsewhere this cell does nothing; running it twice is harmless.
import os, subprocess, sys
if "google.colab" in sys.modules:
    REPO, REF = {repo}, {ref}
    if not os.path.isdir("/content/minnp"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", REF,
                        f"https://github.com/{{REPO}}.git", "/content/minnp"], check=True)
    subprocess.run([sys.executable, "/content/minnp/colab/bootstrap.py"], check=True)
    os.environ["MINNP_DATA"] = "/content/minnp/data"'''


def setup_cell_target(source: str) -> tuple[str, str]:
    """(repo, ref) that a setup cell's ``REPO, REF = "...", "..."`` line assigns, read with ``ast``.

    Raises ValueError unless the cell is valid Python and that line assigns two string literals.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ValueError(f"the setup cell is not valid Python (line {error.lineno}: {error.msg})") from None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple)
                and [getattr(t, "id", None) for t in node.targets[0].elts] == ["REPO", "REF"]):
            values = node.value.elts if isinstance(node.value, ast.Tuple) else []
            if len(values) == 2 and all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in values):
                return values[0].value, values[1].value
            raise ValueError("the setup cell's REPO, REF line must assign two string literals")
    raise ValueError("the setup cell has no `REPO, REF = \"OWNER/NAME\", \"REF\"` line")


# ----------------------------------------------------------------------------------------------
# reading and writing notebooks and text (atomically)


def _read(path: pathlib.Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_text(path: pathlib.Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write(path: pathlib.Path, nb: dict) -> None:
    _write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


_COLAB_LINK = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/github/"
                         r"[^)]*/notebooks/([0-9]{2}_[A-Za-z0-9_]+\.ipynb)\)")


def _repoint_badges(text: str, repo: str, ref: str) -> str:
    """Every Colab badge in ``text`` pointed at its own notebook in ``repo`` at ``ref``."""
    return _COLAB_LINK.sub(lambda m: badge(m.group(1), repo, ref), text)


def repoint(repo: str, ref: str) -> list[pathlib.Path]:
    """Rewrite the config, every notebook's badge and setup cell, and the README's badges.

    Everything is checked and prepared first; each file is then replaced atomically.
    """
    check_repo(repo)
    check_ref(ref)
    updates = {CONFIG: json.dumps({"repo": repo, "ref": ref}, indent=2, ensure_ascii=False) + "\n"}
    for path in notebooks():
        nb = _read(path)
        first, setup = nb["cells"][0], nb["cells"][1]
        _set_source(first, _repoint_badges(_source(first), repo, ref))
        _set_source(setup, setup_cell(repo, ref))
        updates[path] = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    readme = ROOT / "README.md"
    if readme.exists():
        updates[readme] = _repoint_badges(readme.read_text(encoding="utf-8"), repo, ref)
    for path, text in updates.items():
        _write_text(path, text)
    return list(updates)


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


# ----------------------------------------------------------------------------------------------
# student and instructor versions


def _is_exercise(cell: dict) -> bool:
    return cell["cell_type"] == "code" and SOLUTION.search(_source(cell)) is not None


def _stub(source: str, number: int | None, where: str = "") -> str:
    """The student's version of one cell: each BEGIN/END SOLUTION region replaced by a
    NotImplementedError at the marker's indent, each BEGIN/END HIDDEN TESTS region removed.

    Fails closed: a line that looks like a marker but is not exactly one (extra text, other case,
    another number of #), a region without its end, an end without its begin or a region inside
    another is an error, never a solution or hidden test silently left in the student's notebook.
    ``number`` is the exercise's number (None for a check cell).
    """
    ends = {BEGIN: END, BEGIN_HIDDEN: END_HIDDEN}
    exact = set(ends) | set(ends.values())
    out, inside = [], None  # inside: the BEGIN line of the open region
    for k, line in enumerate(source.splitlines(), start=1):
        here = f"{where}{'check cell' if number is None else f'exercise {number}'}, line {k}"
        marker = line.strip()
        if MARKER.search(line) and marker not in exact:
            raise ValueError(f"{here}: {marker!r} looks like a solution marker but is not one; a marker line "
                             f"holds exactly {BEGIN!r}, {END!r}, {BEGIN_HIDDEN!r} or {END_HIDDEN!r} (indentation "
                             "allowed). Put other text on a line of its own, or the solution would reach the "
                             "students")
        if marker in ends:
            if inside:
                raise ValueError(f"{here}: {marker} inside the region opened by {inside}; close that with "
                                 f"{ends[inside]} first")
            inside = marker
            if marker == BEGIN:
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f'{indent}raise NotImplementedError("Exercise {number}: write your solution here")')
        elif marker in exact:
            if inside is None or ends[inside] != marker:
                opening = next(b for b, e in ends.items() if e == marker)
                raise ValueError(f"{here}: {marker} without {opening}; open the region with {opening}")
            inside = None
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}{'check cell' if number is None else f'exercise {number}'}: {inside} without "
                         f"{ends[inside]}; close the region with {ends[inside]}")
    return "\n".join(out)


def _nbgrader(cell: dict, grade_id: str, solution: bool) -> None:
    cell.setdefault("metadata", {})["nbgrader"] = {
        "grade": not solution, "grade_id": grade_id, "locked": not solution,
        "points": 0 if solution else 1, "schema_version": 3, "solution": solution,
    }


def _mark(nb: dict, kind: str) -> dict:
    """Mark a notebook this tool wrote, so a later run may overwrite it (and nothing else)."""
    nb.setdefault("metadata", {})["minnp"] = {"generated": kind}
    return nb


def student_versions(path: pathlib.Path) -> tuple[dict, dict]:
    """(student, instructor) notebooks from one source; both carry nbgrader cell metadata."""
    source = _read(path)
    instructor = copy.deepcopy(source)
    number = 0
    for k, cell in enumerate(instructor["cells"]):
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if _is_exercise(cell):
            number += 1
            _nbgrader(cell, f"{path.stem}-exercise-{number}", solution=True)
        elif "check" in cell.get("metadata", {}).get("tags", []):
            _nbgrader(cell, f"{path.stem}-check-{k}", solution=False)
    student = copy.deepcopy(instructor)
    number = 0
    for k, cell in enumerate(student["cells"]):
        if cell["cell_type"] == "code" and MARKER.search(_source(cell)):
            number += _is_exercise(cell)
            where = f"{path.name}, " if _is_exercise(cell) else f"{path.name}, cell {k}, "
            _set_source(cell, _stub(_source(cell), number if _is_exercise(cell) else None, where=where))
    return _mark(student, "student"), _mark(instructor, "instructor")


def output_folder(out: pathlib.Path, what: str) -> pathlib.Path:
    """``out``, created, unless it is, holds or lies inside the course sources (ValueError)."""
    out, sources = pathlib.Path(out).resolve(), NOTEBOOKS.resolve()
    if out == sources or out in sources.parents or sources in out.parents:
        raise ValueError(
            f"refusing to write the {what} notebooks into {out}: it is, holds or lies inside the course "
            f"sources ({sources}), which would be overwritten or mixed with generated copies. "
            "Choose a folder outside the repository's notebooks/, e.g. _student or /tmp/course"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _replaceable(path: pathlib.Path) -> pathlib.Path:
    """``path`` unless it is a notebook this tool did not write (a course source, perhaps)."""
    if path.exists():
        try:
            nb = _read(path)
        except (ValueError, UnicodeDecodeError):
            nb = {}
        generated = "minnp" in nb.get("metadata", {}) or any(
            "nbgrader" in c.get("metadata", {}) for c in nb.get("cells", []))
        if not generated:
            raise ValueError(f"refusing to overwrite {path}: it is not a notebook this tool wrote (it may be a "
                             "course source). Choose an empty folder, or delete the file if it is a stale copy")
    return path


def write_student(out: pathlib.Path, instructor_out: pathlib.Path | None = None) -> list[pathlib.Path]:
    out = output_folder(out, "student")
    if instructor_out is not None:
        instructor_out = output_folder(instructor_out, "instructor")
    versions = {path.name: student_versions(path) for path in notebooks()}  # every stub made before any write
    written = []
    for name, (student, instructor) in versions.items():
        _write(_replaceable(out / name), student)
        written.append(out / name)
        if instructor_out is not None:
            _write(_replaceable(instructor_out / name), instructor)
    return written


# ----------------------------------------------------------------------------------------------
# the notebooks as CI runs them


def _indent(code: str) -> str:
    return "\n".join("    " + line if line.strip() else line for line in code.splitlines()) or "    pass"


class StubGuard:
    """Guards the student rehearsal of :func:`ci_notebook`; its source is copied into the CI notebook.

    ``StubGuard(required=False)`` around a solution cell of the student version lets the stub's
    NotImplementedError pass; ``StubGuard(required=True)`` around a check cell demands it (a check
    that passes on a stub is broken). Any other error is a real error of the student notebook.
    """

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


def ci_notebook(path: pathlib.Path) -> dict:
    """The source notebook with its student version's exercises run first, in the same kernel.

    One kernel run proves both versions: every cell before "## Exercises" (identical in both),
    then the *student* exercise cells, where a solution cell may raise only the stub's
    NotImplementedError and a check cell must raise it, then the *source* exercise cells with
    their solutions, which must all pass. The notebook defines its own :class:`StubGuard`, so it
    runs anywhere minnp is installed, without this repository's tools/.
    """
    source = _read(path)
    student, _ = student_versions(path)
    start = next((k for k, c in enumerate(source["cells"])
                  if c["cell_type"] == "markdown" and "## Exercises" in _source(c)), len(source["cells"]))
    guard = {"cell_type": "code", "id": "student-guard", "metadata": {}, "outputs": [], "execution_count": None}
    _set_source(guard, "# CI only: what the student rehearsal below may and must raise\n"
                + inspect.getsource(StubGuard))
    rehearsal = [guard]
    for before, after in zip(source["cells"][start:], student["cells"][start:]):
        if after["cell_type"] != "code":
            continue
        code = _source(after)
        if _is_exercise(before):
            code = f"with StubGuard(required=False):\n{_indent(code)}"
        elif "check" in before.get("metadata", {}).get("tags", []):
            code = f"with StubGuard(required=True):\n{_indent(code)}"
        cell = copy.deepcopy(after)
        cell["id"] = f"student-{len(rehearsal)}"  # cell ids must stay unique in the notebook
        _set_source(cell, f"# student version, as a learner first runs it\n{code}")
        cell.get("metadata", {}).pop("nbgrader", None)
        rehearsal.append(cell)
    ci = copy.deepcopy(source)
    ci["cells"] = source["cells"][:start] + rehearsal + source["cells"][start:]
    return _mark(ci, "ci")


def write_ci(out: pathlib.Path) -> list[pathlib.Path]:
    """Write the CI notebooks (and the nbval conftest and sanitize file) into ``out``."""
    out = output_folder(out, "CI")
    ci = {path.name: ci_notebook(path) for path in notebooks()}
    for helper in ("conftest.py", "sanitize.cfg"):
        _write_text(out / helper, (NOTEBOOKS / helper).read_text(encoding="utf-8"))
    for name, nb in ci.items():
        _write(_replaceable(out / name), nb)
    return [out / name for name in ci]


# ----------------------------------------------------------------------------------------------
# the conventions


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
        found.append(f"{path.name}: Colab badge missing or pointing elsewhere (run python -m tools.course badges)")
    for word in ("Goals", "Prerequisites", "Run time"):
        if f"**{word}" not in head:
            found.append(f"{path.name}: the first cell lacks **{word}**")
    try:
        target = setup_cell_target(_source(cells[1]))
        if target != (cfg["repo"], cfg["ref"]):
            found.append(f"{path.name}: the setup cell installs {target[0]}@{target[1]}, colab/colab.json says "
                         f"{cfg['repo']}@{cfg['ref']} (run python -m tools.course badges)")
    except ValueError as error:
        found.append(f"{path.name}: {error} (run python -m tools.course badges)")
    if _source(cells[1]) != setup_cell(cfg["repo"], cfg["ref"]):
        found.append(f"{path.name}: the second cell is not the standard Colab setup cell")
    for k, cell in enumerate(cells):
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
            found.append(f"{path.name}: cell {k} has outputs (run python -m tools.course strip)")
            break
    text = "\n".join(_source(c) for c in cells)
    for heading in ("## Summary", "## Exercises"):
        if heading not in text:
            found.append(f"{path.name}: no '{heading}' section")
    n_exercises = sum(_is_exercise(c) for c in cells)
    if n_exercises < 3:
        found.append(f"{path.name}: {n_exercises} exercises with solutions, at least 3 expected")
    try:
        student_versions(path)
    except ValueError as error:
        found.append(f"{path.name}: {error}")
    if "minnp.device()" not in text:
        found.append(f"{path.name}: does not pick its device with minnp.device()")
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.course", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("badges", help="re-point every Colab badge and install line")
    b.add_argument("--repo", required=True, help="OWNER/NAME on GitHub")
    b.add_argument("--ref", required=True, help="branch or tag")
    s = sub.add_parser("student", help="write student (and instructor) notebooks")
    s.add_argument("out", type=pathlib.Path)
    s.add_argument("--instructor", type=pathlib.Path, default=None)
    sub.add_parser("strip", help="clear outputs of every notebook")
    sub.add_parser("check", help="check every notebook against the conventions")
    c = sub.add_parser("ci", help="write the notebooks as CI runs them: student exercises rehearsed first")
    c.add_argument("out", type=pathlib.Path)
    args = parser.parse_args(argv)
    try:
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
    except ValueError as error:
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")


if __name__ == "__main__":
    main()
