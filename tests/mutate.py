"""Mutation testing of the core modules with mutmut (2.x): does the test suite notice when the code is wrong?
Not a test module, and not part of the default test run (minutes to hours on a CPU).

    python tests/mutate.py [MODULE ...]     # default: every module in CORE; `mutmut results` lists survivors
    python tests/mutate.py --again MODULE   # the module's survivors again, against today's tests, and what an
                                            # interrupted run left untested

For each module mutmut changes one thing at a time (an operator, a constant, a comparison) and runs the module's
tests; a mutant the tests miss "survives". mutmut starts its test command once per mutant, and a fresh Python that
imports torch, pandas and scipy takes seconds before the first test runs; so this script keeps one server process
with those libraries imported and forks it per mutant (the child imports seqbench from disk, mutant included, and
runs pytest), and mutmut's test command is this script's client, which asks the server and exits with pytest's
status. Run it on a clean tree (mutmut edits the module in place while it runs and restores it at the end). Each
module's results stay in `.mutmut-cache-NAME`: `cp .mutmut-cache-stats .mutmut-cache && mutmut results` lists them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = {  # module -> the tests that speak for it
    "bench/records/schema.py": ["tests/test_schema_rules.py", "tests/test_settings.py", "tests/test_future_records.py",
                                "tests/test_names.py", "tests/test_publish_translation.py",
                                "--deselect", "tests/test_settings.py::test_a_cell_that_trains_writes_a_record_that_"
                                "reads_back_equal"],  # training a cell: 10 s a mutant, and schema's part is above
    "bench/publish/stats.py": ["tests/test_publish_stats.py"],
    "bench/publish/reach.py": ["tests/test_publish_reach.py", "tests/test_publish_stats.py",
                               "tests/test_summary_protocol.py",  # and the tables
                               *(f"tests/test_publish.py::test_{name}" for name in (  # that read grid reach
                                   "table_prints_the_summary_first_then_compact_tables_within_120_columns",
                                   "table_markdown_holds_intervals_states_and_best", "table_csv_holds_numbers_only",
                                   "summary_is_what_a_run_prints_first"))],
    "bench/publish/brackets.py": ["tests/test_brackets.py"],
    "bench/publish/views.py": ["tests/test_publish_views.py", "tests/test_summary_protocol.py", "tests/test_sweep.py",
                               "tests/test_brackets.py"],
    "bench/run/search.py": ["tests/test_search.py"],
    "bench/run/config.py": ["tests/test_config_rules.py", "tests/test_config_sources.py", "tests/test_bad_input.py",
                            "tests/test_config_properties.py"],  # fastest first: pytest -x stops at the first fail
}
PYTEST = ["-x", "-q", "-n", "0", "-p", "no:cacheprovider", "-m", "not slow"]


def serve(path: str) -> None:
    """Answer each connection's test files with pytest's exit status, running pytest in a fork of this process."""
    import pandas  # noqa: F401  (imported once here, so that no forked child pays for them)
    import pytorch_lightning  # noqa: F401
    import pytest
    import scipy.stats  # noqa: F401
    import torch  # noqa: F401

    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        while True:
            conn, _ = server.accept()
            with conn:
                tests = json.loads(conn.makefile().readline())
                if tests == "stop":
                    return
                pid = os.fork()
                if pid == 0:  # the child: seqbench and the tests are imported from disk, the mutant with them
                    os.chdir(ROOT)
                    quiet = os.open(os.devnull, os.O_WRONLY)  # mutmut reads only the status
                    os.dup2(quiet, 1)
                    os.dup2(quiet, 2)
                    os._exit(int(pytest.main([*PYTEST, *tests])))
                _, status = os.waitpid(pid, 0)
                conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())


def ask(path: str, message: object) -> int:
    """Send one request to the server at `path`; its answer (pytest's exit status) or 0 for a stop."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall((json.dumps(message) + "\n").encode())
        answer = s.makefile().readline().strip()
    return int(answer) if answer else 0


def mutate(module: str, tests: list[str]) -> None:
    """mutmut over `module` with `tests` (resuming the cache `.mutmut-cache` when there is one), through a fork
    server started for it."""
    path = os.path.join(tempfile.mkdtemp(prefix="seqbench-mut-"), "server.sock")
    server = subprocess.Popen([sys.executable, __file__, "--serve", path])
    try:
        while server.poll() is None and not os.path.exists(path):  # the server imports, then listens
            time.sleep(0.1)
        if server.poll() is not None:
            raise SystemExit(f"mutate: the test server ended before it listened (exit {server.returncode})")
        client = f"{sys.executable} {__file__} --client {path} {' '.join(tests)}"
        subprocess.run(["mutmut", "run", "--paths-to-mutate", module, "--runner", client, "--tests-dir", "tests",
                        "--no-progress"], cwd=ROOT, check=False)
    finally:
        if server.poll() is None:
            ask(path, "stop")
            server.wait()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        serve(argv[1])
        return 0
    if argv[:1] == ["--client"]:
        return ask(argv[1], argv[2:])
    if argv[:1] == ["--again"] and len(argv) == 2 and argv[1] in CORE:
        return again(argv[1])
    unknown = [m for m in argv if m not in CORE]
    if unknown:
        print(f"mutate: not a core module: {', '.join(unknown)}; choose from {', '.join(CORE)}", file=sys.stderr)
        return 2
    for module in argv or list(CORE):  # a cache of its own for each module, kept as .mutmut-cache-NAME, so that a
        cache = ROOT / ".mutmut-cache"  # module's results are read alone
        cache.unlink(missing_ok=True)
        mutate(module, CORE[module])
        subprocess.run(["mutmut", "results"], cwd=ROOT, check=False)
        if cache.exists():
            cache.rename(ROOT / f".mutmut-cache-{Path(module).stem}")
    return 0


def again(module: str) -> int:
    """The module's cached run resumed: mutmut skips the mutants it killed, tests again those that survived (or
    timed out) when the tests have changed since, and tests those an interrupted run left untested. One baseline
    run in all (`mutmut run ID` would repeat it for every mutant)."""
    kept, cache = ROOT / f".mutmut-cache-{Path(module).stem}", ROOT / ".mutmut-cache"
    if not kept.exists():
        print(f"mutate: no results for {module} yet ({kept.name}); run it first", file=sys.stderr)
        return 2
    kept.replace(cache)
    try:
        mutate(module, CORE[module])
        subprocess.run(["mutmut", "results"], cwd=ROOT, check=False)
    finally:
        cache.replace(kept)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
