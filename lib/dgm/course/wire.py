"""Plain data between the process that runs a submission and the one that judges it.

No pickle: a message is a JSON header and the raw bytes of its tensors, so decoding can
build nothing but numbers, strings, tuples, lists, dicts, tensors, numpy arrays and a few
named records of the library. A frame on a pipe is an 8-byte length and the message; a
reader refuses a frame over its limit.

``encode(value) -> bytes`` and ``decode(bytes) -> value`` round-trip:

* ``None``, ``bool``, ``int``, ``float`` (inf and nan too), ``str``, ``complex``;
* ``tuple``, ``list``, ``dict`` (any of these keys; an ``OrderedDict``, a module's
  ``state_dict``, arrives as a ``dict``), nested;
* ``torch.Tensor`` (any strided dtype; the values, shape and ``requires_grad``),
  ``torch.Size``, ``torch.dtype``, ``torch.device``; ``numpy.ndarray`` and numpy scalars;
* a ``NamedTuple`` defined in ``dgm`` (rebuilt from the library by its name).

Anything else raises ``TypeError`` naming it.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import struct

import numpy as np
import torch

MAGIC = b"DGMW"
LENGTH = struct.Struct("<Q")
DTYPES = {
    str(d).removeprefix("torch."): d for d in vars(torch).values() if isinstance(d, torch.dtype)
}


class WireError(ValueError):
    """A message that is malformed, too large, or holds a value the wire does not carry."""


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""


def encode(value) -> bytes:
    """``value`` as one message: a JSON header, then the tensors' bytes."""
    blobs: list[bytes] = []
    header = json.dumps(_tree(value, blobs, 0)).encode()
    sizes = [len(b) for b in blobs]
    meta = json.dumps(sizes).encode()
    return (
        MAGIC + LENGTH.pack(len(header)) + header + LENGTH.pack(len(meta)) + meta + b"".join(blobs)
    )


def _tree(v, blobs: list, depth: int):  # noqa: C901  (one case per type, read top to bottom)
    if depth > 50:
        raise TypeError("wire: nested too deeply")
    t = type(v)
    if v is None or t in (bool, int, str):
        return v
    if t is float:
        return {"f": repr(v)}  # inf and nan survive; JSON would lose them
    if t is complex:
        return {"c": [repr(v.real), repr(v.imag)]}
    if t is list:
        return [_tree(x, blobs, depth + 1) for x in v]
    if t is tuple:
        return {"t": [_tree(x, blobs, depth + 1) for x in v]}
    if t is dict or t is collections.OrderedDict:  # a state_dict: decoded as a dict
        return {
            "d": [[_tree(k, blobs, depth + 1), _tree(x, blobs, depth + 1)] for k, x in v.items()]
        }
    if isinstance(v, torch.Tensor) and t in (torch.Tensor, torch.nn.Parameter):
        if v.layout != torch.strided:
            raise TypeError(f"wire: a {v.layout} tensor (only dense tensors)")
        blobs.append(_tensor_bytes(v))
        dtype = str(v.dtype).removeprefix("torch.")
        return {
            "T": len(blobs) - 1,
            "dtype": dtype,
            "shape": list(v.shape),
            "grad": v.requires_grad,
        }
    if t is torch.Size:
        return {"S": list(v)}
    if t is torch.dtype:
        return {"dt": str(v).removeprefix("torch.")}
    if t is torch.device:
        return {"dev": str(v)}
    if t is np.ndarray:
        if v.dtype.hasobject:
            raise TypeError("wire: a numpy array of Python objects")
        blobs.append(np.ascontiguousarray(v).tobytes())
        return {"N": len(blobs) - 1, "dtype": v.dtype.str, "shape": list(v.shape)}
    if isinstance(v, np.generic) and not isinstance(v, np.object_):
        return {"n": v.dtype.str, "b": v.tobytes().hex()}
    if isinstance(v, tuple) and hasattr(t, "_fields") and t.__module__.startswith("dgm."):
        return {
            "nt": f"{t.__module__}:{t.__qualname__}",
            "t": [_tree(x, blobs, depth + 1) for x in v],
        }
    raise TypeError(f"wire: cannot carry a {t.__module__}.{t.__qualname__}")


def decode(data: bytes):
    """The value of a message made by ``encode``; ``WireError`` if it is not one."""
    try:
        if data[:4] != MAGIC:
            raise WireError("wire: not a message")
        (n,) = LENGTH.unpack_from(data, 4)
        header = json.loads(data[12 : 12 + n])
        at = 12 + n
        (m,) = LENGTH.unpack_from(data, at)
        sizes = json.loads(data[at + 8 : at + 8 + m])
        at += 8 + m
        if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes):
            raise WireError("wire: bad sizes")
        blobs = []
        for s in sizes:
            blobs.append(data[at : at + s])
            at += s
        if at != len(data):
            raise WireError("wire: trailing or missing bytes")
        return _value(header, blobs)
    except WireError:
        raise
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        RuntimeError,
        OverflowError,
        RecursionError,
        struct.error,
    ) as err:
        raise WireError(f"wire: malformed message ({type(err).__name__}: {err})") from None


def _blob(blobs: list, i, shape: list[int], itemsize: int) -> bytes:
    """Blob ``i``, once, if it holds exactly ``shape``'s values: a header cannot make the
    reader allocate more than the message brought."""
    if type(i) is not int or not 0 <= i < len(blobs) or blobs[i] is None:
        raise WireError(f"wire: blob {i!r} is missing or used twice")
    raw, blobs[i] = blobs[i], None
    n = 1
    for s in shape:
        if s < 0:
            raise WireError(f"wire: a negative size in shape {shape}")
        n *= s
    if n * itemsize != len(raw):
        raise WireError(
            f"wire: shape {shape} needs {n * itemsize} bytes, the message has {len(raw)}"
        )
    return raw


def _value(h, blobs):  # noqa: C901
    if h is None or type(h) in (bool, int, str):
        return h
    if type(h) is list:
        return [_value(x, blobs) for x in h]
    if type(h) is not dict:
        raise WireError(f"wire: unexpected {type(h).__name__}")
    if "f" in h:
        return float(h["f"])
    if "c" in h:
        return complex(float(h["c"][0]), float(h["c"][1]))
    if "nt" in h:
        module, _, name = h["nt"].partition(":")
        if not module.startswith("dgm.") or "." in name:
            raise WireError(f"wire: {h['nt']} is not a record of the library")
        cls = getattr(importlib.import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")):
            raise WireError(f"wire: {h['nt']} is not a named tuple")
        return cls(*[_value(x, blobs) for x in h["t"]])
    if "t" in h:
        return tuple(_value(x, blobs) for x in h["t"])
    if "d" in h:
        return {_value(k, blobs): _value(x, blobs) for k, x in h["d"]}
    if "T" in h:
        dtype = DTYPES[h["dtype"]]
        shape = [int(s) for s in h["shape"]]
        raw = _blob(blobs, h["T"], shape, torch.empty((), dtype=dtype).element_size())
        if raw:
            t = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)
        else:
            t = torch.empty(shape, dtype=dtype)
        return t.requires_grad_(bool(h["grad"])) if t.is_floating_point() or t.is_complex() else t
    if "S" in h:
        return torch.Size(int(s) for s in h["S"])
    if "dt" in h:
        return DTYPES[h["dt"]]
    if "dev" in h:
        return torch.device(h["dev"])
    if "N" in h:
        dtype = np.dtype(h["dtype"])
        if dtype.hasobject:
            raise WireError("wire: a numpy array of Python objects")
        raw = _blob(blobs, h["N"], [int(s) for s in h["shape"]], dtype.itemsize)
        return np.frombuffer(raw, dtype=dtype).reshape(h["shape"]).copy()
    if "n" in h:
        dtype = np.dtype(h["n"])
        if dtype.hasobject:
            raise WireError("wire: a numpy object scalar")
        return np.frombuffer(bytes.fromhex(h["b"]), dtype=dtype)[0]
    raise WireError(f"wire: unknown entry {sorted(h)[:3]}")


# --------------------------------------------------------------------------- frames


def write_frame(fd: int, message: bytes) -> None:
    """Write one frame (its length, then ``message``) on file descriptor ``fd``."""
    data = LENGTH.pack(len(message)) + message
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_frame(fd: int, limit: int) -> bytes | None:
    """The next frame's message from ``fd``; ``None`` at the end; ``WireError`` over ``limit``."""
    head = _read_exactly(fd, LENGTH.size)
    if head is None:
        return None
    (n,) = LENGTH.unpack(head)
    if n > limit:
        raise WireError(f"wire: a message of {n} bytes, over the limit of {limit}")
    body = _read_exactly(fd, n)
    if body is None:
        raise WireError("wire: the stream ended inside a message")
    return body


def _read_exactly(fd: int, n: int) -> bytes | None:
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 2**20))
        if not chunk:
            if got == 0:
                return None
            raise WireError("wire: the stream ended inside a message")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
