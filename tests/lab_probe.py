"""Stands in for `jupyter` when tests/test_lab.py runs `make lab JUPYTER=...`.

It starts a notebook kernel exactly as JupyterLab would from that environment (the kernel inherits
it), runs one figure cell, and writes the MIME types of what the cell displayed to $LAB_PROBE_OUT.
"""

import json
import os
import sys

import nbformat
from nbclient import NotebookClient

cell = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [0, 1])\nplt.show()"
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
NotebookClient(nb, timeout=120, kernel_name="python3").execute()
mime = [key for output in nb.cells[0].outputs for key in output.get("data", {})]
with open(os.environ["LAB_PROBE_OUT"], "w") as f:
    json.dump({"argv": sys.argv[1:], "mime": mime, "MPLBACKEND": os.environ.get("MPLBACKEND")}, f)
