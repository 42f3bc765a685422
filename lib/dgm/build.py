"""Instructor tooling: solutions are the source of every notebook a student sees.

``python -m dgm.build notebooks``
    For each ``solutions/NN_topic.ipynb``: write the standard set-up cell (Colab install
    from the repository URL in ``pyproject.toml``) as its first cell, then generate
    ``notebooks/NN_topic.ipynb`` with nbgrader's own preprocessors (``ClearSolutions``
    turns each ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region into a
    ``raise NotImplementedError()`` stub; ``ClearOutput`` drops outputs), and regenerate
    the README's lecture table.
``python -m dgm.build execute solutions/01_em.ipynb [--fast] [--time-only]``
    Execute notebooks in place (``DGM_STATIC=1``: static figures instead of widgets),
    and record the wall time, mode and device in ``benchmarks/results/notebooks.json``.
    ``--fast --time-only`` times fast mode without replacing the full-mode outputs.
``python -m dgm.build check``
    Exit 1 if anything generated is out of date (the tests call ``problems()``).

The text twin of each solution (``solutions/NN_topic.py``, jupytext's percent format) is
what reviewers read in diffs; ``sync`` brings the two in line (jupytext ``--sync``).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from . import config

ROOT = config.repo_root() or Path.cwd()
SOLUTIONS, NOTEBOOKS = ROOT / "solutions", ROOT / "notebooks"
TIMINGS = ROOT / "benchmarks" / "results" / "notebooks.json"
README = ROOT / "README.md"
TABLE_BEGIN, TABLE_END = "<!-- lectures:begin -->", "<!-- lectures:end -->"
RESULTS_BEGIN, RESULTS_END = "<!-- results:begin -->", "<!-- results:end -->"


def repository_url() -> str:
    """The repository's address, kept in one place: ``[project.urls] Repository``."""
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, flags=re.M)
    if not match:
        raise RuntimeError("pyproject.toml has no [project.urls] Repository entry")
    return match.group(1).rstrip("/")


def setup_cell_source(url: str | None = None) -> str:
    """The first cell of every notebook: installs ``dgm`` on Colab, does nothing elsewhere."""
    url = url or repository_url()
    return (
        "# Set-up. On Colab this installs the course library `dgm` from the repository;\n"
        "# anywhere else it does nothing (run `make lab` from a clone instead).\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n\n"
        "    subprocess.run(\n"
        f'        [sys.executable, "-m", "pip", "install", "-q", "git+{url}.git"], check=True\n'
        "    )"
    )


def colab_url(name: str, url: str | None = None) -> str:
    """The "Open in Colab" address of a student notebook."""
    url = (url or repository_url()).replace("https://github.com/", "")
    return f"https://colab.research.google.com/github/{url}/blob/main/notebooks/{name}"


def solution_paths() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


def with_setup_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Make the first cell the standard set-up cell (inserting it if absent)."""
    source = setup_cell_source()
    first = nb.cells[0] if nb.cells else None
    if first is not None and "setup" in first.get("metadata", {}).get("tags", []):
        first.source = source
    else:
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["setup"]})
        nb.cells.insert(0, cell)
    return nb


def student_version(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook: solution regions stubbed, outputs cleared, ids stable."""
    from nbgrader.preprocessors import ClearOutput, ClearSolutions

    nb = copy.deepcopy(solution)
    nb, _ = ClearSolutions(enforce_metadata=False).preprocess(nb, {})
    nb, _ = ClearOutput().preprocess(nb, {})
    nb.metadata.pop("jupytext", None)  # the student has no text twin
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def _dumps(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


# --------------------------------------------------------------------------- README table


def _title(nb: nbformat.NotebookNode) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "?"


def _timings() -> list[dict]:
    return json.loads(TIMINGS.read_text()) if TIMINGS.exists() else []


def _fmt(record: dict) -> str:
    s = record["seconds"]
    when = f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
    return f"{when} ({record['device']}, {record['date'][:10]})"


def lecture_table() -> str:
    """The README's lecture table, from the solutions' metadata and measured timings."""
    rows = [
        "| # | lecture | what it trains | open | fast mode (CPU) | full mode |",
        "|---|---|---|---|---|---|",
    ]
    timings = _timings()
    for path in solution_paths():
        nb = nbformat.read(path, as_version=4)
        mine = sorted(
            (t for t in timings if t["notebook"] == path.name), key=lambda t: t["device_type"]
        )
        fast = [_fmt(t) for t in mine if t["mode"] == "fast" and t["device_type"] == "cpu"]
        full = [_fmt(t) for t in mine if t["mode"] == "full"]
        badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path.name)})"
        rows.append(
            f"| {path.name[:2]} | [{_title(nb)}](solutions/{path.name}) | "
            f"{nb.metadata.get('dgm', {}).get('trains', '')} | {badge} | "
            f"{'; '.join(fast) or 'not yet measured'} | {'; '.join(full) or 'not yet measured'} |"
        )
    return "\n".join(rows)


def result_value(record: dict) -> str:
    """A record's value as the README shows it: ``mean ± sd`` when it averages seeds."""
    if "spread" in record:
        return f"{record['value']:g} ± {record['spread']:g} ({record['seeds']} seeds)"
    return f"{record['value']:g}"


def results_table() -> str:
    """The README's results table, from the benchmark records in ``benchmarks/results/``."""
    rows = []
    for path in sorted(TIMINGS.parent.glob("*.json")):
        if path == TIMINGS:
            continue
        for r in json.loads(path.read_text()):
            paper = "" if r["paper_value"] is None else f"{r['paper_value']:g}"
            rows.append(
                f"| {path.stem} | {r['model']} | {r['metric']} | {result_value(r)} | {paper} | "
                f"{r['paper']} | {r['epochs']:g} | {r['train_seconds']:.0f} s | {r['device']} | "
                f"{r['date'][:10]} |"
            )
    if not rows:
        return "No benchmark has been run yet: see `benchmarks/README.md`."
    columns = "lecture model metric ours paper source epochs train_time device date".split()
    head = [
        "| " + " | ".join(c.replace("_", " ") for c in columns) + " |",
        "|---" * len(columns) + "|",
    ]
    return "\n".join(head + rows)


def _replace_between(text: str, begin: str, end: str, body: str) -> str:
    if begin not in text or end not in text:
        raise RuntimeError(f"README.md lacks the {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def readme_with_table(text: str) -> str:
    """The README with its generated tables (lectures, benchmark results) brought up to date."""
    text = _replace_between(text, TABLE_BEGIN, TABLE_END, lecture_table())
    return _replace_between(text, RESULTS_BEGIN, RESULTS_END, results_table())


# --------------------------------------------------------------------------- commands


def build_notebooks() -> list[Path]:
    """Write set-up cells into solutions, student notebooks and the README table."""
    NOTEBOOKS.mkdir(exist_ok=True)
    written = []
    for path in solution_paths():
        nb = nbformat.read(path, as_version=4)
        text = _dumps(with_setup_cell(nb))
        if path.read_text() != text:
            path.write_text(text)
            written.append(path)
        target = NOTEBOOKS / path.name
        student = _dumps(student_version(nb))
        if not target.exists() or target.read_text() != student:
            target.write_text(student)
            written.append(target)
    readme = readme_with_table(README.read_text())
    if README.read_text() != readme:
        README.write_text(readme)
        written.append(README)
    return written


def problems() -> list[str]:
    """Everything generated that is out of date, in words (empty when all is in sync)."""
    found = []
    for path in solution_paths():
        nb = nbformat.read(path, as_version=4)
        if nb.cells[0].source != setup_cell_source():
            found.append(f"{path.name}: first cell is not the standard set-up cell")
        target = NOTEBOOKS / path.name
        if not target.exists():
            found.append(f"notebooks/{path.name} is missing")
        elif target.read_text() != _dumps(student_version(with_setup_cell(nb))):
            found.append(f"notebooks/{path.name} is out of date with solutions/{path.name}")
    stray = {p.name for p in NOTEBOOKS.glob("*.ipynb")} - {p.name for p in solution_paths()}
    found += [f"notebooks/{name} has no solution notebook" for name in sorted(stray)]
    if README.read_text() != readme_with_table(README.read_text()):
        found.append("README.md's generated tables (lectures, results) are out of date")
    return found


def notebook_client(nb: nbformat.NotebookNode, cwd: str | Path, **kwargs):
    """An nbclient ``NotebookClient`` whose kernel is this Python environment's own.

    A machine-wide or user-level kernelspec named ``python3`` (another Python, other
    packages) must never leak in; this is what nbval's ``--nbval-current-env`` does too.
    """
    import ipykernel.kernelspec
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    class CurrentEnv(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            spec = ipykernel.kernelspec.get_kernel_dict()  # argv: this sys.executable
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **spec)

    km = KernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnv())
    return NotebookClient(nb, km=km, resources={"metadata": {"path": str(cwd)}}, **kwargs)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


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
    import torch

    device_name = (
        torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"{dev.type} ({os.cpu_count()} cores)"
    )
    records = _timings()
    for path in paths:
        path = Path(path).resolve()
        nb = nbformat.read(path, as_version=4)
        client = notebook_client(nb, path.parent, timeout=timeout)
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        if write:
            path.write_text(_dumps(nb))
        record = {
            "notebook": path.name,
            "mode": "fast" if fast else "full",
            "device_type": dev.type,
            "device": device_name,
            "seconds": round(seconds, 1),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "commit": _git_commit(),
        }
        records = [
            r
            for r in records
            if not (
                r["notebook"] == record["notebook"]
                and r["mode"] == record["mode"]
                and r["device_type"] == record["device_type"]
            )
        ]
        records.append(record)
        print(f"{path.name}: {record['mode']} mode on {device_name} in {seconds:.1f} s")
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(
        json.dumps(
            sorted(records, key=lambda r: (r["notebook"], r["mode"], r["device_type"])), indent=2
        )
        + "\n"
    )


def sync() -> None:
    """Bring each solution notebook and its jupytext text twin in line (newest wins)."""
    for path in solution_paths():
        subprocess.run([sys.executable, "-m", "jupytext", "--sync", str(path)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dgm.build", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("notebooks", help="regenerate notebooks/ and the README table from solutions/")
    sub.add_parser("check", help="exit 1 if anything generated is out of date")
    sub.add_parser("sync", help="sync solutions/*.ipynb with their jupytext .py twins")
    ex = sub.add_parser("execute", help="execute notebooks in place and record their run time")
    ex.add_argument("paths", nargs="+", type=Path)
    ex.add_argument("--fast", action="store_true", help="fast mode (DGM_FAST=1)")
    ex.add_argument(
        "--time-only", action="store_true", help="record the time, leave the file as it is"
    )
    args = parser.parse_args(argv)
    if args.command == "notebooks":
        for path in build_notebooks():
            print(f"wrote {path.relative_to(ROOT)}")
    elif args.command == "check":
        found = problems()
        for p in found:
            print(p)
        return 1 if found else 0
    elif args.command == "sync":
        sync()
    elif args.command == "execute":
        execute(args.paths, fast=args.fast, write=not args.time_only)
        build_notebooks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
