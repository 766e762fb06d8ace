"""Repository tooling, run from the repository root and never installed with minnp.

    python -m tools.course ...          badges, student/instructor notebooks, CI notebooks, checks
    python -m tools.make_datasets ...   generate the course's data sets into data/
    python tools/stress_test.py         make test, idle and under load

A learner's kernel imports only ``minnp``; nothing here is needed to run a notebook.
"""
