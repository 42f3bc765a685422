"""The library as the checks expect it, while an answer runs in the answers process.

Three guards of ``dgm.course.checker``'s process, all about what an answer could change or
take of the library:

- ``snapshot`` and ``changes``: the identity of every attribute of ``dgm.*``, torch,
  ``torch.nn.functional``, ``torch.Tensor``, numpy, math, builtins and ``sys``'s hooks,
  compared after every answer cell and every call of the student's function;
- ``bind_stubs``: every binding of an exercise's reference function replaced by a stub that
  asks the audit hook for the real one (refused to an answer);
- ``plain``: what a student's function returns is plain data (numbers, strings, tensors,
  arrays, the library's own types), never an object with code of its own.
"""

from __future__ import annotations

import builtins
import collections
import math
import sys
import types


def _modules_to_watch():
    import numpy
    import torch
    import torch.nn.functional

    watched = [m for n, m in sorted(sys.modules.items()) if n == "dgm" or n.startswith("dgm.")]
    return watched + [torch, torch.nn.functional, torch.nn, numpy, math, builtins]


def snapshot() -> list[tuple]:
    """``(where, attribute, value, owner)`` for everything the checks rely on: ``where`` is
    the live namespace the attribute is read from (a module's or class's ``__dict__``,
    ``sys.modules``), so a later look needs no copy of it."""
    import torch

    spaces = []
    for module in _modules_to_watch():
        owner = getattr(module, "__name__", repr(module))
        spaces.append((owner, vars(module), None))
        for k, v in list(vars(module).items()):
            if isinstance(v, type) and getattr(v, "__module__", "").startswith("dgm"):
                spaces.append((f"{owner}.{k}", vars(v), None))
    for cls in (torch.Tensor, torch.nn.Module, torch.nn.Parameter, torch.Generator):
        spaces.append((cls.__qualname__, vars(cls), None))
    hooks = ("excepthook", "displayhook", "stdout", "stderr", "audit", "meta_path")
    spaces.append(("sys", vars(sys), hooks))
    dgm = [n for n in sys.modules if n == "dgm" or n.startswith("dgm.")]
    spaces.append(("sys.modules", sys.modules, dgm))
    snap = []
    for owner, where, names in spaces:
        for k in list(where) if names is None else names:
            if k.startswith("__") and k not in ("__call__", "__init__"):
                continue  # __dict__ caches, __annotations__...
            snap.append((where, k, where.get(k, MISSING), owner))
    snap.append((None, "meta_path[]", tuple(sys.meta_path), "sys"))
    return snap


MISSING = object()


def changes(before: list[tuple]) -> list[str]:
    """What of ``snapshot()`` was replaced or removed since (new attributes are fine)."""
    found = []
    for where, key, value, owner in before:
        now = tuple(sys.meta_path) if where is None else where.get(key, MISSING)
        if now is value or _same_items(now, value):
            continue
        found.append(f"{owner}.{key} was " + ("removed" if now is MISSING else "replaced"))
    return found


def _same_items(a, b) -> bool:
    return (
        type(a) is tuple
        and type(b) is tuple
        and len(a) == len(b)
        and all(x is y for x, y in zip(a, b))
    )


def plain(value, allowed: set, depth: int = 0) -> str | None:
    """``None`` if ``value`` is made of plain values; else what is not."""
    if depth > 20:
        return "nested too deeply"
    t = type(value)
    if t in (tuple, list):
        return next((p for v in value if (p := plain(v, allowed, depth + 1))), None)
    if t is dict or t is collections.OrderedDict:  # a state_dict is an OrderedDict
        items = [*value.keys(), *value.values()]
        return next((p for v in items if (p := plain(v, allowed, depth + 1))), None)
    if t in allowed:
        if t not in (int, float, bool, str, complex, type(None)) and isinstance(value, tuple):
            return plain(tuple(value), allowed, depth + 1)  # a library named tuple
        return None
    return f"a {t.__module__}.{t.__qualname__}"


def allowed_types() -> set:
    import numpy
    import torch

    allowed = {int, float, bool, str, complex, type(None), torch.Tensor, torch.nn.Parameter}
    allowed |= {torch.Size, torch.dtype, torch.device, numpy.ndarray}
    allowed |= set(numpy.sctypeDict.values())
    for n, m in list(sys.modules.items()):
        if n == "dgm" or n.startswith("dgm."):
            allowed |= {v for v in vars(m).values() if isinstance(v, type) and v.__module__ == n}
    return allowed


def stub(name: str, real):
    """What the answers process binds in place of the reference ``real``: a call asks the
    audit hook for the real function, and the hook refuses it to an answer."""

    def call(*args, **kwargs):
        box = []
        sys.audit("dgm.grader.reference", name, box)
        return box[0](*args, **kwargs)

    for a in ("__name__", "__qualname__", "__module__", "__doc__"):
        setattr(call, a, getattr(real, a))
    return call


def bind_stubs(refs: dict, ns: dict, checks) -> dict:
    """Replace every binding of each reference (``{"module.qualname": function}``) by its
    stub: the attributes of every ``dgm`` module and of its classes, the values of the dicts
    those modules hold (registries such as ``gan.GENERATOR_LOSSES``), their functions'
    default arguments, the values of ``ns`` (the release notebook's imports) and each
    check's ``references``. Returns the stubs, ``{"module.qualname": stub}``. ``refs`` is
    then the only holder of the real functions (``tests/test_hidden_checks.py`` looks for
    any other with ``gc.get_referrers``)."""
    stubs = {name: stub(name, real) for name, real in refs.items()}
    by_id = {id(real): stubs[name] for name, real in refs.items()}  # refs keeps them alive
    seen: set[int] = set()  # the dicts walked (alive: each is held by a module)

    def rebind(space, setter) -> None:
        if type(space) is dict:  # a dict may hold itself, or be held twice
            if id(space) in seen:
                return
            seen.add(id(space))
        for key, value in list(space.items()):
            if id(value) in by_id:
                setter(key, by_id[id(value)])
            elif type(value) is dict:  # a registry
                rebind(value, value.__setitem__)
            elif isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, types.FunctionType):  # def f(loss=reference)
                defaults = value.__defaults__ or ()
                if any(id(d) in by_id for d in defaults):
                    value.__defaults__ = tuple(by_id.get(id(d), d) for d in defaults)
                if value.__kwdefaults__:
                    rebind(value.__kwdefaults__, value.__kwdefaults__.__setitem__)

    for modname, module in list(sys.modules.items()):
        if not (modname == "dgm" or modname.startswith("dgm.")) or module is None:
            continue
        rebind(vars(module), lambda k, v, m=module: setattr(m, k, v))
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__.startswith("dgm"):
                rebind(vars(value), lambda k, v, c=value: setattr(c, k, v))
    rebind(ns, ns.__setitem__)
    for check in checks:  # check.references holds them too
        check.references = tuple(by_id[id(r)] for r in check.references)
    return stubs
