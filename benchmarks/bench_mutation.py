"""Mutation score of latentlab's core modules (mutmut 3), with the tests that cover each one.

Not part of CI: a full run over every module takes hours on two cores (see docs/testing.md for the
measured times). Each module is mutated in its own scratch copy of the repository, so the working
tree is never touched and modules can run one after another or on different machines.

Why mutmut 3: it mutates through trampolines in one pytest process that forks per mutant, and runs
only the tests that reached the mutated function (recorded in a first, clean pass). That is 10-100×
faster than tools that start a fresh interpreter per mutant (cosmic-ray, mutatest), which matters
when one ``import latentlab`` pulls numpy, scipy, scikit-learn and h5py. Its one layout demand,
``source_paths`` below a project root with ``tests/`` beside it, is met by copying the flat layout
into the scratch directory as it is.

For each module the script prints killed / survived / equivalent / no-tests and the score
``killed / (all - equivalent)``; timeouts count as killed (the mutant made the code loop).
A surviving mutant is *equivalent* when its diff matches an entry of ``EQUIVALENT`` below (module,
function, the mutated source line): those entries are listed with the reason in docs/testing.md.
Every other survivor is printed with its diff: write the test that kills it.

Usage::

    python benchmarks/bench_mutation.py [--modules radii prdc ...] [--jobs 2] [--workdir DIR] [--keep]
    python benchmarks/bench_mutation.py --modules streaming --workdir DIR --recheck   # survivors only, new tests
    python benchmarks/bench_mutation.py --modules streaming --workdir DIR --report-only

Needs ``pip install mutmut==3.8.1`` (not a runtime dependency of latentlab).
The last line is ``mutation_score=S survived=N not_run=M`` over the modules that ran (``not_run``: mutants of an
interrupted run that were never tested; they are not in the score).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module → (source file, the test files that cover it). Only in-process tests can kill a mutant:
# a CLI subprocess imports the unmutated package, so the selections below are the unit tests.
MODULES: dict[str, tuple[str, list[str]]] = {
    "radii": ("latentlab/analysis/_radii.py", ["tests/test_radii.py", "tests/test_core_values.py"]),
    "streaming": ("latentlab/analysis/_streaming.py",
                  ["tests/test_merge_values.py", "tests/test_components.py", "tests/test_radii.py",
                   "tests/test_core_values.py"]),
    "pca": ("latentlab/analysis/_pca.py",
            ["tests/test_pca.py", "tests/test_merge_values.py", "tests/test_core_values.py"]),
    "prdc": ("latentlab/metrics/_prdc.py", ["tests/test_metrics.py", "tests/test_core_values.py"]),
    "ellipsoid": ("latentlab/regions/_ellipsoid.py", ["tests/test_regions.py"]),
    "clusters": ("latentlab/regions/_clusters.py", ["tests/test_regions.py"]),
    "writer": ("latentlab/store/_writer.py", ["tests/test_store.py", "tests/test_resume_fields.py"]),
    "explore_data": ("latentlab/explore/_data.py", ["tests/test_explore.py"]),
}

# Survivors that no test can kill, as (module, function, mutated line with whitespace squeezed).
# The reason for each is in docs/testing.md, "Equivalent mutants".
EQUIVALENT: set[tuple[str, str, str]] = {
    # size == n: a seeded choice of all n rows, sorted, is arange(n), the same rows as the early return
    ("streaming", "sample_index", "if size > n:"),
    # numpy's choice tests `replace` for truth: None draws without replacement like False
    ("streaming", "sample_index", "pick = np.sort(rng.choice(n, size=int(size), replace=None))"),
    # the whitener multiplies (block - mean), already float64 because the mean is: numpy promotes a float32
    # whitener to float64 in the product, so its own cast changes nothing
    ("streaming", "Mahalanobis2.__init__", "self.whitener = np.asarray(whitener, )"),
    ("streaming", "Mahalanobis2.__init__", "self.whitener = np.asarray(whitener, dtype=None)"),
    # the read-ahead depth and the producer's put timeout change memory and how fast an abandoned pass stops,
    # never which blocks arrive or in which order
    ("streaming", "_prefetch", "def _prefetch(iterator, depth: int = 2):"),
    ("streaming", "_prefetch", "q.put(item, timeout=1.1)"),
    # the thread's name only labels it for debuggers; it is joined in `finally`, so daemon or not is moot
    ("streaming", "_prefetch", "thread = threading.Thread(target=work, daemon=True)"),
    ("streaming", "_prefetch", 'thread = threading.Thread(target=work, name="latentlab-prefetch", )'),
}

# String literals here are messages, labels and dict keys; "XX"-wrapping or re-casing them tests the
# wording, not the numbers (a changed key is caught by the JSON round-trip tests anyway). Dropping
# that one operator cuts the mutant count by about a third.
_RUN_WITHOUT_STRING_MUTANTS = (
    "import sys; import mutmut.mutation.mutators as m; "
    "m.mutation_operators[:] = [op for op in m.mutation_operators if op[1] is not m.operator_string]; "
    "from mutmut.__main__ import cli; sys.argv[0] = 'mutmut'; cli()"
)

KILLED = {1, 3, 36, -24, 24, 152, 255, -11, -9}
SURVIVED = {0}
NO_TESTS = {5, 33}


def _squeeze(line: str) -> str:
    return " ".join(line.split())


def _scratch_copy(dest: Path, source: str, tests: list[str]) -> None:
    shutil.copytree(ROOT / "latentlab", dest / "latentlab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "conftest.py", dest / "conftest.py")
    # The project's addopts run notebooks and doctests; a mutant is judged by the selected tests only.
    pyproject = (ROOT / "pyproject.toml").read_text()
    pyproject = re.sub(r'(?m)^addopts = .*$', 'addopts = "-q -p no:nbmake -p no:cacheprovider"', pyproject)
    (dest / "pyproject.toml").write_text(pyproject)
    _write_setup_cfg(dest, source, tests)


def _write_setup_cfg(dest: Path, source: str, tests: list[str]) -> None:
    selection = "\n    ".join(t for t in tests if (ROOT / t).exists())
    (dest / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = latentlab\n"
        f"only_mutate = {source}\n"
        f"pytest_add_cli_args_test_selection =\n    {selection}\n"
        "pytest_add_cli_args = -x\n"
        "timeout_multiplier = 5.0\n"
    )


def _mutant_function(name: str) -> str:
    # mutmut names a mutant <module path>.x_<function>__mutmut_<n> (methods: xǁClassǁmethod__mutmut_n)
    tail = name.rsplit(".", 1)[-1].split("__mutmut_")[0]
    if tail.startswith("xǁ"):
        return tail[2:].replace("ǁ", ".")
    return tail[2:] if tail.startswith("x_") else tail


def _diff_line(workdir: Path, env: dict, name: str) -> str:
    diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=workdir, env=env,
                          capture_output=True, text=True).stdout
    added = [ln[1:] for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return _squeeze(added[0]) if added else "", diff


def _not_killed(meta: Path) -> list[str]:
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return sorted(name for name, code in codes.items() if code is not None and code not in KILLED)


def run_module(key: str, jobs: int, workroot: Path, recheck: bool = False, report_only: bool = False) -> dict:
    source, tests = MODULES[key]
    work = workroot / key
    meta = work / "mutants" / (source + ".meta")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    names: list[str] = []
    if report_only:
        if not meta.exists():
            raise SystemExit(f"{meta}: no earlier run of {key} to report")
    elif recheck and meta.exists():
        # a finished run's survivors against the current tests (the mutants and the source stay as they were)
        shutil.rmtree(work / "tests")
        shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # setup.cfg stays: a changed configuration would make mutmut start over
        names = _not_killed(meta)
    else:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        _scratch_copy(work, source, tests)
    t0 = time.perf_counter()
    log = work / ("mutmut-recheck.log" if names else "mutmut.log")
    if report_only:
        pass
    elif recheck and not names and meta.exists():
        print(f"{key}: nothing to recheck")
    else:
        with open(log, "w") as fh:
            subprocess.run([sys.executable, "-c", _RUN_WITHOUT_STRING_MUTANTS, "run", "--max-children", str(jobs),
                            *names], cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if not meta.exists():
        print(f"{key}: mutmut wrote no results; see {log}")
        return {"module": key, "killed": 0, "survived": 0, "equivalent": 0, "no_tests": 0, "seconds": seconds,
                "error": True}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    counts = {"killed": 0, "survived": 0, "equivalent": 0, "no_tests": 0, "not_checked": 0}
    survivors = []
    for name, code in sorted(codes.items()):
        if code in KILLED:
            counts["killed"] += 1
            continue
        if code is None:
            counts["not_checked"] += 1
            continue
        line, diff = _diff_line(work, env, name)
        function = _mutant_function(name)
        if (key, function, line) in EQUIVALENT:
            counts["equivalent"] += 1
        else:
            counts["no_tests" if code in NO_TESTS else "survived"] += 1
            survivors.append((name, code, diff))
    for name, code, diff in survivors:
        print(f"--- {key}: {name} ({'no tests' if code in NO_TESTS else 'survived'})")
        print("\n".join(ln for ln in diff.splitlines() if ln.startswith(("+", "-", "@@"))))
    total = sum(counts.values()) - counts["equivalent"] - counts["not_checked"]
    score = counts["killed"] / total if total else 1.0
    print(f"{key}: killed={counts['killed']} survived={counts['survived']} no_tests={counts['no_tests']} "
          f"equivalent={counts['equivalent']} not_checked={counts['not_checked']} score={score:.3f} "
          f"time={seconds:.0f}s", flush=True)
    return {"module": key, **counts, "seconds": seconds}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", nargs="+", choices=sorted(MODULES), default=list(MODULES),
                        help="modules to mutate (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested in parallel (default 2)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch root (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies (mutmut browse works there)")
    parser.add_argument("--recheck", action="store_true",
                        help="with --workdir of an earlier run: re-test only its surviving mutants against the current tests")
    parser.add_argument("--report-only", action="store_true",
                        help="with --workdir of an earlier (possibly interrupted) run: print its results, run nothing")
    args = parser.parse_args(argv)
    workroot = args.workdir or Path(tempfile.mkdtemp(prefix="latentlab-mutation-"))
    workroot.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for key in args.modules:
            results.append(run_module(key, args.jobs, workroot, args.recheck, args.report_only))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workroot, ignore_errors=True)
    killed = sum(r["killed"] for r in results)
    not_killed = sum(r["survived"] + r["no_tests"] for r in results)
    score = killed / (killed + not_killed) if killed + not_killed else 1.0
    print(f"modules={','.join(r['module'] for r in results)} seconds={sum(r['seconds'] for r in results):.0f}")
    not_run = sum(r.get("not_checked", 0) for r in results)
    print(f"mutation_score={score:.3f} survived={not_killed} not_run={not_run}")


if __name__ == "__main__":
    main()
