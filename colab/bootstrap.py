"""Install minnp from a checkout of the course on Google Colab, without touching Colab's torch.

The first code cell of every notebook clones the course at a fixed ref into /content/minnp and
runs this script there. It is safe to run again (it only installs what is missing) and does
nothing to torch: minnp declares torch with a floor only, which Colab's build satisfies, and
pip is told never to replace an installed torch.

    python colab/bootstrap.py [--extras colab]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="colab", help="minnp extras to install (default: colab)")
    args = parser.parse_args()

    torch_before = installed_version("torch")
    if torch_before is None:
        sys.exit("torch is not installed: on Colab it always is; elsewhere use `make lab` instead")
    wanted = (ROOT / "minnp" / "__init__.py").read_text().split('__version__ = "')[1].split('"')[0]
    if installed_version("minnp") == wanted:
        print(f"minnp {wanted} already installed; torch {torch_before} untouched")
        return
    # A constraint pins torch to what is installed, so no dependency can swap it.
    constraint = pathlib.Path("/tmp/minnp-keep-torch.txt")
    constraint.write_text(f"torch=={torch_before}\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--constraint", str(constraint),
                    f"{ROOT}[{args.extras}]"], check=True)
    torch_after = installed_version("torch")
    if torch_after != torch_before:
        sys.exit(f"torch changed from {torch_before} to {torch_after}: please report this as a bug")
    print(f"minnp {wanted} installed; torch {torch_before} untouched")


if __name__ == "__main__":
    main()
