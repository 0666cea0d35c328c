"""Read the parameters and buffers of a TorchScript archive (OpenAI's CLIP releases) without running any of its code.

A TorchScript file is a zip: ``<name>/data.pkl`` pickles the module tree (objects of classes named
``__torch__.…``, tensors as ``torch._utils._rebuild_tensor_v2`` over persistent storages kept in
``<name>/data/<key>``), and ``<name>/code/…`` holds the classes' TorchScript source, which declares each
class's ``__parameters__`` and ``__buffers__``. ``torch.jit.load`` compiles and runs that code (a class's
``__setstate__`` runs at load time); here the pickle is read by an unpickler that builds only inert
stand-ins, tensors and plain containers, and the code files are read as text for the two name lists.
Anything else named in the pickle is refused before it is touched.
"""
from __future__ import annotations

import ast
import io
import pickle
import re
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Set

import torch

STORAGE_DTYPES: Dict[str, torch.dtype] = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}
_CLASS_LINE = re.compile(r"^class\s+(\w+)\s*\(")
_NAMES_LINE = re.compile(r"^\s+(__parameters__|__buffers__)\s*=\s*(\[.*\])\s*$")


class _ScriptObject:
    """Stand-in for an instance of a TorchScript class: its qualified name and the state the pickle gives it."""

    qualname = ""

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _StorageType:
    """What the pickle's ``torch.<X>Storage`` global stands for: the element type of a storage."""

    def __init__(self, name: str) -> None:
        self.name, self.dtype = name, STORAGE_DTYPES[name]


def _as_list(data: Any, *_: Any) -> list:
    return list(data)


def _restore_type_tag(value: Any, _type: Any = None) -> Any:
    return value


_JIT_PICKLE_HELPERS: Dict[str, Callable[..., Any]] = {
    "restore_type_tag": _restore_type_tag, "build_intlist": _as_list, "build_tensorlist": _as_list,
    "build_doublelist": _as_list, "build_boollist": _as_list,
}


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                    hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """Our own ``_rebuild_tensor_v2``: a strided view of a storage read from the archive."""
    if not isinstance(storage, torch.Tensor) or not isinstance(offset, int):
        raise pickle.UnpicklingError("a tensor record does not reference a storage of the archive")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
            and all(isinstance(v, int) and v >= 0 for v in size + stride)):
        raise pickle.UnpicklingError(f"a tensor record has a malformed size {size!r} or stride {stride!r}")
    try:
        return storage.as_strided(size, stride, offset)
    except RuntimeError as exc:
        raise pickle.UnpicklingError(f"a tensor record does not fit its storage ({exc})") from exc


class _TensorOnlyUnpickler(pickle.Unpickler):
    """Unpickler that knows storages, tensors, plain containers and inert TorchScript stand-ins, and nothing else."""

    def __init__(self, data: bytes, read_storage: Callable[[str, torch.dtype, int], torch.Tensor]) -> None:
        super().__init__(io.BytesIO(data))
        self._read_storage = read_storage
        self._classes: Dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__"):
            qualname = f"{module}.{name}"
            if qualname not in self._classes:
                self._classes[qualname] = type(name, (_ScriptObject,), {"qualname": qualname})
            return self._classes[qualname]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return dict
        if module == "torch.jit._pickle" and name in _JIT_PICKLE_HELPERS:
            return _JIT_PICKLE_HELPERS[name]
        raise pickle.UnpicklingError(f"data.pkl names {module}.{name}, which is not a tensor, a storage or a "
                                     "TorchScript module")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"unexpected persistent record {pid!r:.200}")
        return self._read_storage(pid[2], pid[1].dtype, pid[4])


def _archive_prefix(zf: zipfile.ZipFile, source: str) -> str:
    roots = sorted({n[: -len("/data.pkl")] for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1})
    if len(roots) != 1:
        raise ValueError(f"{source}: not a TorchScript archive with one <name>/data.pkl (found {roots})")
    return roots[0]


def _declared_names(zf: zipfile.ZipFile, prefix: str, qualname: str, cache: Dict[str, Dict[str, Set[str]]],
                    source: str) -> Set[str]:
    """Names in the `__parameters__` and `__buffers__` lists of a class, read from the archive's code as text."""
    module, _, cls = qualname.rpartition(".")
    path = f"{prefix}/code/{module.replace('.', '/')}.py"
    if path not in cache:
        try:
            text = zf.read(path).decode("utf-8")
        except KeyError as exc:
            raise ValueError(f"{source}: no {path} declaring class {qualname}; cannot tell its parameters "
                             "from its other attributes") from exc
        classes: Dict[str, Set[str]] = {}
        current: Optional[str] = None
        for line in text.splitlines():
            head = _CLASS_LINE.match(line)
            if head:
                current = head.group(1)
                classes.setdefault(current, set())
                continue
            names = _NAMES_LINE.match(line)
            if names and current is not None:
                try:
                    classes[current].update(str(n) for n in ast.literal_eval(names.group(2)))
                except (ValueError, SyntaxError) as exc:
                    raise ValueError(f"{source}: {path}: unreadable {names.group(1)} of class {current}") from exc
        cache[path] = classes
    if cls not in cache[path]:
        raise ValueError(f"{source}: {path} does not define class {cls} (of {qualname})")
    return cache[path][cls]


def _collect(obj: _ScriptObject, prefix: str, declared: Callable[[str], Set[str]], out: Dict[str, torch.Tensor],
             source: str) -> None:
    state = getattr(obj, "state", None)
    if not isinstance(state, dict):
        raise ValueError(f"{source}: TorchScript class {obj.qualname} keeps custom state (__getstate__/__setstate__); "
                         "its tensors cannot be read without running its code, so it is refused")
    names = declared(obj.qualname)
    for attr, value in state.items():
        if isinstance(value, _ScriptObject):
            _collect(value, f"{prefix}{attr}.", declared, out, source)
        elif isinstance(value, torch.Tensor) and attr in names:
            out[f"{prefix}{attr}"] = value


def read_torchscript_tensors(path: Path) -> Dict[str, torch.Tensor]:
    """The parameters and buffers of a TorchScript archive by dotted name (its ``state_dict()``), running none of its code."""
    source = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{source}: not a readable zip archive ({exc})") from exc
    with zf:
        prefix = _archive_prefix(zf, source)
        if f"{prefix}/byteorder" in zf.namelist():
            order = zf.read(f"{prefix}/byteorder").decode("ascii", "replace").strip()
            if order != sys.byteorder:
                raise ValueError(f"{source}: tensors stored {order}-endian; this machine is {sys.byteorder}-endian")
        storages: Dict[str, torch.Tensor] = {}

        def read_storage(key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
            if key not in storages:
                name = f"{prefix}/data/{key}"
                try:
                    raw = zf.read(name)
                except KeyError as exc:
                    raise pickle.UnpicklingError(f"storage {name} is missing from the archive") from exc
                itemsize = torch.empty((), dtype=dtype).element_size()
                if len(raw) < numel * itemsize:
                    raise pickle.UnpicklingError(f"storage {name} holds {len(raw)} bytes, fewer than {numel} x {itemsize}")
                raw = raw[: numel * itemsize]
                storages[key] = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            return storages[key]

        try:
            root = _TensorOnlyUnpickler(zf.read(f"{prefix}/data.pkl"), read_storage).load()
        except pickle.UnpicklingError as exc:
            raise ValueError(f"{source}: refused to read the TorchScript archive: {exc}; nothing in it was run") from exc
        except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            raise ValueError(f"{source}: unreadable TorchScript data.pkl ({type(exc).__name__}: {exc})") from exc
        if not isinstance(root, _ScriptObject):
            raise ValueError(f"{source}: data.pkl does not hold a TorchScript module (got {type(root).__name__})")
        cache: Dict[str, Dict[str, Set[str]]] = {}
        tensors: Dict[str, torch.Tensor] = {}
        _collect(root, "", lambda q: _declared_names(zf, prefix, q, cache, source), tensors, source)
    return tensors
