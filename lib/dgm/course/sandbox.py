"""Where a submission runs: its processes, its environment, and the audit-hook layer.

The grader (``dgm.course.grade``) runs each submission in its own processes, each confined
by the operating system first (``dgm.course.confine``: bubblewrap, limits):

* ``python -m dgm.course.sandbox execute ...`` executes the notebook cell by cell with
  nbclient (a time limit per cell, the partial notebook written after every cell, text
  outputs cut to 1 MB) in a kernel started by ``python -m dgm.course.sandbox kernel ...``;
* ``dgm.course.checker`` then grades the answers.

The kernel and the checker also install ``policy`` as a ``sys.addaudithook`` hook, which
cannot be removed: no file written outside the submission's folder, nothing read from the
other submissions or the grader's output, no network beyond loopback, no new processes, no
signals to others, no foreign libraries loaded. It is the second layer: CPython's audit
hooks are no sandbox (``tests/test_grade_attacks.py`` shows attacks that pass it), but it
gives a student a clear refusal where the first layer would give an obscure error. Every
process carries the submission's ``DGM_SANDBOX_TOKEN``, by which ``kill_all`` finds them
when the grader runs without the first layer.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

TOKEN = "DGM_SANDBOX_TOKEN"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
ALWAYS_DENIED = {
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.killpg",
    "signal.pthread_kill",
    "ctypes.dlopen",
    "ctypes.dlsym",
    "sys.addaudithook",
    "pty.spawn",
    "os.startfile",
    "webbrowser.open",
}
FILE_CHANGES = {
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.link",
    "os.symlink",
    "os.truncate",
    "os.utime",
    "shutil.rmtree",
    "shutil.move",
    "shutil.copyfile",
}
LOOPBACK = {"127.0.0.1", "::1", "localhost", ""}


def writes(args: tuple) -> bool:
    """Whether the arguments of an ``open`` audit event open the file for writing."""
    mode, flags = args[1], args[2] or 0
    return bool(
        (mode is not None and any(c in str(mode) for c in "wax+"))
        or (mode is None and flags & WRITE_FLAGS)
    )


def _path(p) -> str | None:
    if isinstance(p, int) or p is None:
        return None
    try:
        return os.path.realpath(os.fsdecode(p))
    except (TypeError, ValueError):
        return None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def policy(root: str | Path, private: list[str | Path]) -> Callable[[str, tuple], str | None]:
    """``rule(event, args) -> None`` (allowed) or why an audit event is denied.

    Parameters
    ----------
    root : path
        The submission's own folder: the only place it may create or change files.
    private : list of paths
        Folders it may not even read (other submissions, the grader's output, the
        grader's copy of the library).
    """
    root = os.path.realpath(root)
    private = [os.path.realpath(p) for p in private]
    writable = [root, "/dev/null", "/dev/shm"]

    def rule(event: str, args: tuple) -> str | None:
        if event in ALWAYS_DENIED:
            return f"{event} is not allowed while grading"
        if event == "os.kill":
            return None if args[0] == os.getpid() else "signals to other processes"
        if event == "open":
            path = _path(args[0])
            if path is None:
                return None
            if any(_inside(path, p) for p in private):
                return f"reading {path}"
            if writes(args) and not any(_inside(path, w) for w in writable):
                return f"writing {path} (only the submission's own folder is writable)"
            return None
        if event in FILE_CHANGES:
            for p in args[:2]:
                path = _path(p)
                if path is not None and not _inside(path, root):
                    return f"{event} on {path}"
            return None
        if event in ("socket.connect", "socket.sendto", "socket.bind"):
            address = args[1] if len(args) > 1 else None
            if isinstance(address, tuple) and str(address[0]) not in LOOPBACK:
                return f"network access to {address[0]}"
            return None
        if event == "socket.getaddrinfo" and str(args[0]) not in LOOPBACK:
            return f"network access to {args[0]}"
        return None

    return rule


def install(root: str | Path, private: list[str | Path]) -> None:
    """Install ``policy(root, private)`` in this process, for good."""
    rule = policy(root, private)

    def hook(event, args):
        why = rule(event, args)
        if why:
            raise PermissionError(f"the grader's sandbox refused: {why}")

    sys.addaudithook(hook)


def processes(token: str | None = None, grader: int | None = None) -> list[int]:
    """The pids whose environment carries ``DGM_SANDBOX_TOKEN=token`` (any token if None;
    with ``grader``, any token that the grader with that pid made with ``token()``)."""
    if token is None and grader is not None:
        token, prefix = f"{grader}-", True
    else:
        prefix = token is None
    needle = f"{TOKEN}={token or ''}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                entries = f.read().split(b"\0")
                if any(e == needle or (prefix and e.startswith(needle)) for e in entries):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def token() -> str:
    """A new submission's token: this grader's pid, then a random part."""
    return f"{os.getpid()}-{secrets.token_hex(12)}"


def kill_all(token: str) -> int:
    """Kill every process of a submission; return how many there were."""
    pids = [p for p in processes(token) if p != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(map(_alive, pids)):
        for p in pids:
            try:
                os.waitpid(p, os.WNOHANG)  # reap our own children
            except ChildProcessError:
                pass
        time.sleep(0.05)
    return len(pids)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs: a zombie has ended (its reaper, perhaps not us, may be
    slow to collect it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


# the subfolders of a submission's folder that its environment points to
WORK = ("home", "tmp", "mpl", "ipython", "checkpoints")
PASSED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM")


def environment(root: Path, token: str, extra: dict | None = None) -> dict:
    """The environment of a submission's processes: its caches and temp files in ``root``.

    Only the few variables listed in ``PASSED`` come from the grader's environment: a token
    or key there (``GITHUB_TOKEN``, a cloud credential) must not reach a submission, which
    could print it into its own feedback."""
    env = {k: os.environ[k] for k in PASSED if k in os.environ}
    home = root / "home"
    for d in WORK:  # in the host's folder too, for a grading without the sandbox
        (root / d).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        TMPDIR=str(root / "tmp"),
        MPLCONFIGDIR=str(root / "mpl"),
        IPYTHONDIR=str(root / "ipython"),
        DGM_CHECKPOINTS=str(root / "checkpoints"),
        DGM_FAST="1",
        DGM_STATIC="1",
        MPLBACKEND="module://matplotlib_inline.backend_inline",  # figures kept for review
        OMP_NUM_THREADS="1",
        **{TOKEN: token},
    )
    if os.environ.get("DGM_DATA"):
        env["DGM_DATA"] = os.environ["DGM_DATA"]
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- the kernel


def _kernel(args, extra: list[str]) -> None:
    """An IPython kernel that installs the policy once it is up."""
    import matplotlib.pyplot  # noqa: F401  (font cache built before the hook)
    import numpy  # noqa: F401
    import torch  # noqa: F401  (loads its libraries before ctypes.dlopen is refused)
    from ipykernel.kernelapp import IPKernelApp

    import dgm  # noqa: F401

    app = IPKernelApp.instance()
    app.initialize(["-f", args.connection_file, *extra])
    install(args.root, args.private)
    app.start()


def kernel_argv(root: Path, private: list[str]) -> list[str]:
    """The command line of this submission's kernel: ``sandbox kernel``, policy installed."""
    argv = [sys.executable, "-m", "dgm.course.sandbox", "kernel", "--root", str(root)]
    argv += [a for p in private for a in ("--private", str(p))]
    return argv + ["-f", "{connection_file}"]


# --------------------------------------------------------------------------- execution


def _execute(args) -> None:
    """Execute a notebook in the sandboxed kernel; print one JSON line: how it ended."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from . import execute

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over RLIMIT_FSIZE: an OSError, not death
    nb = nbformat.read(args.notebook, as_version=4)
    out = Path(args.out)

    def save(**_):
        trim(nb)
        try:
            out.write_text(nbformat.writes(nb))
        except OSError:
            pass  # over the file-size limit: the grader keeps no executed copy

    client = execute.notebook_client(
        nb,
        args.root,
        args.cell_timeout,
        argv=kernel_argv(Path(args.root), args.private),
        allow_errors=True,
        on_cell_executed=save,
    )
    status, cell, message = "ok", None, ""
    try:
        client.execute()
    except CellTimeoutError as err:
        status, message = "timeout", str(err).splitlines()[0]
    except DeadKernelError as err:
        status, message = "dead kernel", str(err).splitlines()[0]
    except Exception as err:  # noqa: BLE001  (reported, the grading goes on)
        status, message = "error", f"{type(err).__name__}: {err}".splitlines()[0]
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.get("execution_count") is None and c.source.strip():
            cell = i
            break
    save()
    print(json.dumps({"status": status, "first_unrun_cell": cell, "message": message}))


def trim(nb, limit: int = 2**20) -> None:
    """Cut every text output of ``nb`` to ``limit`` characters (a print loop's megabytes)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts = [(output, "text")] if "text" in output else []
            texts += [(output.get("data", {}), k) for k in ("text/plain", "text/html")]
            for owner, key in texts:
                text = owner.get(key)
                if isinstance(text, list):
                    text = owner[key] = "".join(text)
                if isinstance(text, str) and len(text) > limit:
                    owner[key] = text[:limit] + f"\n[... {len(text) - limit} characters cut]\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dgm.course.sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kernel")
    k.add_argument("--root", required=True)
    k.add_argument("--private", action="append", default=[])
    k.add_argument("-f", dest="connection_file", required=True)
    e = sub.add_parser("execute")
    e.add_argument("notebook")
    e.add_argument("--out", required=True)
    e.add_argument("--root", required=True)
    e.add_argument("--private", action="append", default=[])
    e.add_argument("--cell-timeout", type=int, default=60)
    args, extra = parser.parse_known_args(argv)  # nbclient adds IPython options
    if args.command == "kernel":
        _kernel(args, extra)
    else:
        _execute(args)


if __name__ == "__main__":
    main()
