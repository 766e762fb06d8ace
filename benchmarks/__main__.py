"""Run benchmarks: ``python -m benchmarks [NAME ...] [--quick]`` (NAME: the part after bench_)."""

import argparse
import importlib
import pathlib

from benchmarks.harness import machine, report


def main() -> None:
    here = pathlib.Path(__file__).parent
    available = sorted(p.stem[len("bench_"):] for p in here.glob("bench_*.py"))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {available}")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args()
    print(f"machine: {machine()}\n")
    for name in args.names or available:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(report(module.__doc__.strip().splitlines()[0], module.run(quick=args.quick)), "\n", flush=True)


if __name__ == "__main__":
    main()
