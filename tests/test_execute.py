"""Executed notebooks never hang: a cell past its time limit is stopped, the kernel shut down."""

import os
import time

import nbformat
import pytest
from nbclient.exceptions import CellTimeoutError

from dgm.course import execute


def kernel_gone(pid: int, wait: float = 120.0) -> bool:
    """Whether ``pid`` ends within ``wait`` s (a wait, not a timing: load only slows it)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a child not yet reaped by its parent still answers kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.2)
    return False


def notebook(*sources):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def test_a_cell_that_loops_forever_is_stopped_by_its_time_limit(tmp_path):
    nb = notebook("import os\nprint(os.getpid())", "while True:\n    pass")
    client = execute.notebook_client(nb, tmp_path, timeout=5)
    with pytest.raises(CellTimeoutError):  # without the limit, execute() would never return
        client.execute()
    pid = int(nb.cells[0].outputs[0]["text"])
    assert kernel_gone(pid), f"kernel {pid} still running"


def test_the_kernel_is_shut_down_after_a_normal_run_and_after_an_error(tmp_path):
    for last in ("x = 1", "raise ValueError('boom')"):
        nb = notebook("import os\nprint(os.getpid())", last)
        client = execute.notebook_client(nb, tmp_path, timeout=30, allow_errors=True)
        client.execute()
        assert kernel_gone(int(nb.cells[0].outputs[0]["text"]))


def test_the_kernel_runs_this_environment_s_python(tmp_path):
    import sys

    nb = notebook("import sys\nprint(sys.executable)")
    execute.notebook_client(nb, tmp_path, timeout=30).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == sys.executable


def test_a_bad_timeout_is_named(tmp_path):
    with pytest.raises(ValueError, match="timeout must be a positive int"):
        execute.notebook_client(notebook("1"), tmp_path, timeout=0)
