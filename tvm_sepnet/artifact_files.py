"""The files of an artifact folder: their checksums, and reading ``meta.json`` before anything else.

Contract: :meth:`tvm_sepnet.artifact.Artifact.export` writes the SHA-256 of every file of the folder
(except ``meta.json`` itself, which holds them) into ``meta["files"]`` (``{file name: hex digest}``).
:func:`read_meta` parses ``meta.json`` (an unreadable or incomplete one is an error naming it) and
:func:`verify_files` recomputes every listed digest *before* any file is used: a truncated or altered
file is a :class:`CorruptArtifactError` naming the file, never a crash (a ``model.so`` cut short
would otherwise make ``dlopen`` map pages past the end of the file: SIGBUS).

Artifacts written before checksums existed (no ``files`` key) still load, with a warning on stderr;
for them the compiled library is at least checked to be a complete ELF file (its section header
table, written last by the linker, lies inside the file), which catches a file cut short.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import sys

from .errors import InvalidModelError

META_JSON = "meta.json"
REQUIRED_META = ("format", "family", "target", "layers")
_CHUNK = 1 << 20


class CorruptArtifactError(InvalidModelError):
    """A file of an artifact folder is missing, truncated, altered or unparsable."""


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def checksums(folder: str) -> dict[str, str]:
    """{file name: SHA-256} of every regular file directly in ``folder`` except ``meta.json``."""
    return {name: sha256_file(os.path.join(folder, name)) for name in sorted(os.listdir(folder))
            if name != META_JSON and os.path.isfile(os.path.join(folder, name))}


def _recompile_hint(path: str) -> str:
    return f"copy the artifact again or recompile it (tvm-sepnet compile ... -o {path})"


def read_meta(path: str) -> dict:
    """``meta.json`` of the artifact folder ``path``, parsed and checked to hold the keys every command
    reads. Raises :class:`CorruptArtifactError` naming the file when it is missing, unreadable,
    not JSON or incomplete."""
    meta_path = os.path.join(path, META_JSON)
    if not os.path.isfile(meta_path):
        raise CorruptArtifactError(
            f"{path!r} is not a tvm-sepnet artifact (no {META_JSON}); compile one with tvm-sepnet compile")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CorruptArtifactError(f"artifact file {meta_path!r} is damaged ({err}); {_recompile_hint(path)}") from None
    if not isinstance(meta, dict):
        raise CorruptArtifactError(f"artifact file {meta_path!r} is damaged (not a JSON object); {_recompile_hint(path)}")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing and "format" in meta:
        raise CorruptArtifactError(f"artifact file {meta_path!r} is damaged (no {', '.join(missing)}); {_recompile_hint(path)}")
    files = meta.get("files")
    if files is not None and not (isinstance(files, dict) and all(isinstance(v, str) for v in files.values())):
        raise CorruptArtifactError(f"artifact file {meta_path!r} is damaged (its 'files' checksums); {_recompile_hint(path)}")
    return meta


def verify_files(path: str, meta: dict, lib_name: str) -> None:
    """Check every file listed in ``meta["files"]`` against its SHA-256 (a missing, truncated or altered
    file raises :class:`CorruptArtifactError` naming it). Without ``files`` (an artifact written before
    checksums): a warning, and ``lib_name`` is checked to be a complete ELF file."""
    files = meta.get("files")
    if files is None:
        print(f"tvm-sepnet: warning: artifact {path!r} has no checksums (written before tvm-sepnet 0.1.0 session 8); "
              "its files are not verified. Recompile it to add them", file=sys.stderr)
        lib = os.path.join(path, lib_name)
        if os.path.isfile(lib):
            check_elf(lib)
        return
    for name, digest in files.items():
        file = os.path.join(path, name)
        if os.path.basename(name) != name or not os.path.isfile(file):
            raise CorruptArtifactError(f"artifact file {file!r} is missing; {_recompile_hint(path)}")
        try:
            got = sha256_file(file)
        except OSError as err:
            raise CorruptArtifactError(f"artifact file {file!r} cannot be read ({err}); {_recompile_hint(path)}") from None
        if got != digest:
            raise CorruptArtifactError(
                f"artifact file {file!r} is truncated or altered (SHA-256 {got[:16]}…, meta.json lists {digest[:16]}…); "
                f"{_recompile_hint(path)}")


def check_elf(path: str) -> None:
    """Raise :class:`CorruptArtifactError` unless ``path`` is an ELF file whose program and section
    header tables lie inside it (a shared library cut short fails this)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(64)
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        raise CorruptArtifactError(f"artifact file {path!r} is not a complete shared library (no ELF header)")
    end = "<" if head[5] == 1 else ">"
    if head[4] == 2:  # 64-bit
        phoff, shoff = struct.unpack_from(end + "QQ", head, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", head, 54)
    else:
        phoff, shoff = struct.unpack_from(end + "II", head, 28)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", head, 42)
    if phoff + phentsize * phnum > size or shoff + shentsize * shnum > size:
        raise CorruptArtifactError(f"artifact file {path!r} is truncated ({size} bytes; its ELF tables end past that)")


__all__ = ["CorruptArtifactError", "checksums", "check_elf", "read_meta", "sha256_file", "verify_files"]
