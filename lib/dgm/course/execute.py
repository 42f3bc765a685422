"""Executing notebooks: a per-cell time limit, the kernel always shut down, timings recorded.

Every tool that executes a notebook (``make solutions``, the tests, the grader) goes
through ``notebook_client``: its kernel is this Python environment's own, a cell that runs
past ``timeout`` seconds is interrupted and raises ``CellTimeoutError``, and the kernel is
shut down when execution ends, however it ends.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

import nbformat

from .. import config
from . import records


def kernel_manager_class(argv: list[str] | None = None):
    """An ``AsyncKernelManager`` class whose ``python3`` kernel runs this environment.

    Parameters
    ----------
    argv : list of str, optional
        The kernel's command line (with ``{connection_file}``); by default ipykernel's,
        which runs ``sys.executable``. The grader passes its sandboxed kernel's.

    A machine-wide or user-level kernelspec named ``python3`` (another Python, other
    packages) must never leak in; this is what nbval's ``--nbval-current-env`` does too.
    The asynchronous manager matters: with the blocking one, nbclient's cell timeout
    never fires.
    """
    import ipykernel.kernelspec
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from traitlets import default

    class CurrentEnv(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            spec = ipykernel.kernelspec.get_kernel_dict()  # argv: this sys.executable
            if argv is not None:
                spec["argv"] = list(argv)
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **spec)

    class CurrentEnvKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self):
            return CurrentEnv(data_dir=self.data_dir)

    return CurrentEnvKernelManager


def notebook_client(
    nb: nbformat.NotebookNode,
    cwd: str | Path,
    timeout: int = 600,
    argv: list[str] | None = None,
    **kwargs,
):
    """An nbclient ``NotebookClient`` for ``nb``, run in folder ``cwd``.

    Parameters
    ----------
    nb : NotebookNode
        The notebook, executed in place.
    cwd : path
        The kernel's working directory.
    timeout : int
        Seconds a cell may run before it is interrupted (``CellTimeoutError``).
    argv : list of str, optional
        The kernel's command line (see ``kernel_manager_class``); the grader's sandbox.
    **kwargs
        Passed to ``NotebookClient`` (``allow_errors``...).

    The client owns its kernel manager, so the kernel is shut down (at once, not
    politely) when ``execute()`` returns or raises.
    """
    from nbclient import NotebookClient

    if not isinstance(timeout, int) or timeout <= 0:
        raise ValueError(
            f"notebook_client: timeout must be a positive int (seconds), got {timeout!r}"
        )
    return NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        kernel_manager_class=kernel_manager_class(argv),
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(cwd)}},
        **kwargs,
    )


def timings() -> list[dict]:
    """The recorded notebook run times (``benchmarks/results/notebooks.json``)."""
    return json.loads(records.TIMINGS.read_text()) if records.TIMINGS.exists() else []


def execute(paths: list[Path], fast: bool = False, write: bool = True, timeout: int = 3600) -> None:
    """Execute notebooks and record how long each took, in which mode, on which device.

    With ``write`` the executed notebook replaces the file (``make solutions``); without
    it only the time is recorded, e.g. to time fast mode without losing full-mode outputs.
    """
    os.environ["DGM_STATIC"] = "1"
    os.environ["DGM_FAST"] = "1" if fast else "0"
    # train from scratch: an executed solution must not resume from an older run's checkpoint
    os.environ["DGM_CHECKPOINTS"] = tempfile.mkdtemp(prefix="dgm-execute-")
    dev = config.device()
    device = records.device_name(dev)
    found = timings()
    for path in paths:
        path = Path(path).resolve()
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        notebook_client(nb, path.parent, timeout=timeout).execute()
        seconds = time.perf_counter() - start
        if write:
            path.write_text(nbformat.writes(nb) + "\n")
        record = {
            "notebook": path.name,
            "mode": "fast" if fast else "full",
            "device_type": dev.type,
            "device": device,
            "seconds": round(seconds, 1),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "commit": records.commit(),
        }
        key = ("notebook", "mode", "device_type")
        found = [r for r in found if any(r[k] != record[k] for k in key)] + [record]
        found.sort(key=lambda r: (r["notebook"], r["mode"], r["device_type"]))
        records.write_json(records.TIMINGS, found)  # after each notebook
        print(f"{path.name}: {record['mode']} mode on {device} in {seconds:.1f} s")
