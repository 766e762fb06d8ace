"""The Colab path, simulated: a fresh virtual environment that already has its own torch.

Colab ships torch without its nvidia pip packages; reinstalling it would cost minutes and GBs.
The bootstrap must install minnp and what the notebooks need without touching that torch, be
idempotent, and leave an environment in which a notebook runs.
"""

import os
import pathlib
import shutil
import subprocess
import venv

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def _torch_record(python) -> str:
    code = ("import importlib.metadata as m, hashlib; d = m.distribution('torch'); "
            "print(d.version, hashlib.sha256(d.read_text('RECORD').encode()).hexdigest())")
    return _run([python, "-c", code]).stdout.strip()


@pytest.mark.slow
def test_bootstrap_keeps_colab_torch_is_idempotent_and_a_notebook_runs(tmp_path):
    env_dir = tmp_path / "colab-venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    # "Colab": its own torch build (a local version label CI's torch does not have) and a kernel.
    torch_spec = os.environ.get("MINNP_COLAB_TORCH", "torch==2.13.0")
    _run([python, "-m", "pip", "install", "--quiet", torch_spec, "ipykernel", "nbclient", "nbformat"])
    site = pathlib.Path(_run([python, "-c", "import torch, pathlib; print(pathlib.Path(torch.__file__).parents[1])"]).stdout.strip())
    meta = next(site.glob("torch-*.dist-info")) / "METADATA"
    text = meta.read_text()
    version = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Version: "))
    meta.write_text(text.replace(f"Version: {version}", f"Version: {version.split('+')[0]}+colab", 1))
    before = _torch_record(python)
    assert "+colab" in before

    # The clone the setup cell makes: a copy of the course, as git would check it out.
    clone = tmp_path / "minnp"
    shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "_student", "_instructor"))
    first = _run([python, str(clone / "colab" / "bootstrap.py")])
    assert "installed; torch" in first.stdout
    assert _torch_record(python) == before, "the bootstrap must not touch the preinstalled torch"
    second = _run([python, str(clone / "colab" / "bootstrap.py")])
    assert "already installed" in second.stdout, "running the setup cell twice does nothing the second time"

    # A notebook then runs in that environment (the setup cell is a no-op outside Colab).
    script = (
        "import nbformat, nbclient; nb = nbformat.read(r'%s', as_version=4); "
        "nbclient.NotebookClient(nb, timeout=300, kernel_name='python3', resources={'metadata': {'path': r'%s'}}).execute()"
        % (clone / "notebooks" / "00_welcome.ipynb", tmp_path)
    )
    _run([python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"])
    environment = {**os.environ, "MINNP_DATA": str(clone / "data"), "MPLBACKEND": "Agg",
                   "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}", "JUPYTER_PATH": str(env_dir / "share" / "jupyter")}
    environment.pop("PYTHONPATH", None)
    _run([python, "-c", script], env=environment, cwd=tmp_path)
    imported = _run([python, "-c", "import minnp; print(minnp.__file__)"], cwd=tmp_path).stdout
    assert str(env_dir) in imported, "minnp comes from the Colab environment, not from the repository"
