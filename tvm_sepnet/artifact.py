"""A compiled model on disk and in memory: :class:`Artifact` (run, check against the reference
executor, export) and :func:`load`.

An artifact folder holds the files named below, written atomically by :meth:`Artifact.export` (a
temporary folder renamed into place, so an interrupted export never leaves a half-written artifact):
the compiled library, the quantized graph and its constants that the reference executor checks it
against, the metadata (target, config, layer table, and the SHA-256 of every other file: :mod:`.artifact_files`),
and per target family the ARM kernels' TIR (for ``tvm-sepnet estimate``) or the accelerator's programs
(``fpga-sim``). :func:`load` verifies the checksums before it opens any file, so a truncated or altered
file is an error naming it, never a crash.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile

import numpy as np
import tvm
from tvm import relax

from .artifact_files import META_JSON, CorruptArtifactError, checksums, read_meta, sha256_file, verify_files
from .batching import run_any_batch
from .errors import SepnetError
from .fpga.runtime import load_programs, register_programs, save_programs
from .graph_export import save_graph
from .reference import ReferenceExecutor
from .system_tools import require as require_tools
from .system_tools import require_host_compiler
from .targets import get_target, why_not_runnable_here
from .targets.accelerator import load_spec

ARTIFACT_FORMAT = 1
LIB_NAME, GRAPH_JSON, GRAPH_NPZ = "model.so", "graph.json", "graph.npz"
KERNELS_JSON = "kernels.json"  # ARM artifacts: each layer's scheduled kernels (TIR), for tvm-sepnet estimate
FPGA_JSON, FPGA_NPZ = "fpga.json", "fpga.npz"  # fpga-sim artifacts: the offloaded layers' programs


def compare_with_reference(got: list, ref: list, rtol: float = 1e-5) -> dict:
    """max_abs_err, max_rel_err (to max |ref|), match (every output finite and within ``rtol`` of
    max |ref|) and bit_exact of outputs ``got`` against the reference executor's ``ref``."""
    err = max(float(np.max(np.abs(np.asarray(g, np.float64) - r))) for g, r in zip(got, ref))
    scale = max(float(np.max(np.abs(r))) for r in ref) or 1.0
    finite = all(np.all(np.isfinite(g)) for g in got)
    return {"max_abs_err": err, "max_rel_err": err / scale, "match": bool(finite and err <= rtol * scale),
            "bit_exact": all(np.array_equal(g, r) for g, r in zip(got, ref))}


def load_reference(path: str, meta: dict | None = None) -> ReferenceExecutor:
    """The reference executor of the artifact folder ``path`` (its quantized graph and constants). Without
    ``meta`` (already verified by the caller) the folder's checksums are verified first."""
    if meta is None:
        meta = read_meta(path)
        verify_files(path, meta, LIB_NAME)
    try:
        return ReferenceExecutor.load(os.path.join(path, GRAPH_JSON), os.path.join(path, GRAPH_NPZ))
    except SepnetError:
        raise
    except Exception as err:  # noqa: BLE001 - only reachable for files without checksums (older artifacts)
        raise CorruptArtifactError(f"artifact {path!r}: its graph ({GRAPH_JSON}, {GRAPH_NPZ}) cannot be read "
                                   f"({type(err).__name__}: {err}); recompile it") from None


class Artifact:
    """A compiled model: run it, inspect its layers, export it."""

    def __init__(self, lib, graph: dict, consts: dict, meta: dict, kernels: dict | None = None, programs=None):
        self.lib = lib  # tvm.runtime.Executable or Module
        self.graph = graph
        self.consts = consts
        self.meta = meta
        self.kernels = kernels  # {"layers": {layer: [kernel names]}, "tir": {kernel name: TIR JSON}} or None
        self.programs = programs  # fpga-sim: {layer: tvm_sepnet.fpga.compiler.LayerProgram} ({} if none offloaded); else None
        self._vm = None
        self._engine = None

    @property
    def accelerator(self):
        """The accelerator spec of an fpga-sim artifact, else None."""
        acc = self.meta.get("accelerator")
        if not acc:
            return None
        return load_spec(acc["spec"])

    @property
    def accelerator_engine(self) -> str:
        """What runs the accelerator programs: ``sim`` or ``rtl`` (the target's, unless
        :meth:`use_accelerator_engine` changed it)."""
        return self._engine or get_target(self.meta["target"]).accelerator_engine

    def use_accelerator_engine(self, engine: str) -> None:
        """Run the offloaded layers on ``engine`` from the next run on (e.g. an fpga-sim artifact on the RTL)."""
        if engine != self.accelerator_engine:
            self._engine = engine
            self._vm = None  # a new VM looks the re-registered layer functions up again

    @property
    def layers(self) -> list[dict]:
        return self.meta["layers"]

    @property
    def input_specs(self) -> list[dict]:
        return self.graph["inputs"]

    def reference(self) -> ReferenceExecutor:
        return ReferenceExecutor(self.graph, self.consts)

    def _check_runnable_here(self):
        why = why_not_runnable_here(get_target(self.meta["target"]))
        if why:
            raise SepnetError(why)

    @property
    def vm(self):
        if self._vm is None:
            self._check_runnable_here()
            if self.programs:
                register_programs(self.meta["accelerator"]["model_id"], self.programs, self.accelerator, self.accelerator_engine)
            self._vm = relax.VirtualMachine(self.lib, tvm.cpu())
        return self._vm

    @property
    def any_batch(self) -> bool:
        """Whether the artifact runs any number of images (in chunks of its compiled batch: tvm_sepnet.batching)."""
        return bool(self.graph.get("any_batch"))

    def run(self, inputs) -> list[np.ndarray]:
        """Outputs (numpy) for ``inputs`` (an array, a list, or a name -> array dict); an ``any_batch``
        artifact takes any number of images (:mod:`tvm_sepnet.batching`)."""
        chunked = run_any_batch(self.run, inputs, self.input_specs, self.any_batch)
        if chunked is not None:
            return chunked
        checked = self.reference().check_inputs(inputs)
        args = [tvm.runtime.tensor(checked[s["name"]], tvm.cpu()) for s in self.input_specs]
        out = self.vm["main"](*args)
        outs = out if isinstance(out, (list, tuple)) or type(out).__name__ == "Array" else [out]
        return [o.numpy() for o in outs]

    def time(self, inputs, number: int = 10, repeat: int = 5) -> float:
        """Median seconds per run of ``main`` (TVM time_evaluator)."""
        checked = self.reference().check_inputs(inputs)
        args = [tvm.runtime.tensor(checked[s["name"]], tvm.cpu()) for s in self.input_specs]
        timer = self.vm.time_evaluator("main", tvm.cpu(), number=number, repeat=repeat)
        return float(timer(*args).median)

    def assembly(self) -> str:
        """Assembly of the compiled kernels (host targets; for inspection and tests)."""
        mod = self.lib.mod if hasattr(self.lib, "mod") else self.lib
        return "\n".join(m.inspect_source("asm") for m in mod.imports if getattr(m, "kind", "") == "llvm")

    def check_layers(self, inputs) -> list[dict]:
        """Per probed layer (build with ``probe_layers=True``): name, kind, max_abs_err, bit_exact."""
        probes = self.meta.get("probes")
        if not probes:
            raise SepnetError("this artifact has no layer probes; build it with probe_layers=True")
        n_out = len(self.graph["outputs"])
        got = self.run(inputs)[n_out:]
        ref = self.reference().run(inputs, keep=[p["node"] for p in probes])[n_out:]
        kinds = {r["name"]: r["kind"] for r in self.layers}
        return [{"name": p["layer"], "kind": kinds.get(p["layer"]), "bit_exact": bool(np.array_equal(g, r)),
                 "max_abs_err": float(np.max(np.abs(g.astype(np.float64) - r)))}
                for p, g, r in zip(probes, got, ref)]

    def check(self, inputs, rtol: float = 1e-5) -> dict:
        """Compare with the reference executor (:func:`compare_with_reference`), plus the outputs and
        the reference's."""
        n_out = len(self.graph["outputs"])
        got = self.run(inputs)[:n_out]
        ref = self.reference().run(inputs)
        return {**compare_with_reference(got, ref, rtol), "outputs": got, "reference": ref}

    def export(self, path: str) -> str:
        """Write the artifact folder ``path`` atomically; returns the path."""
        path = os.path.abspath(path)
        if os.path.exists(path) and not os.path.isdir(path):
            raise SepnetError(f"cannot write the artifact folder {path!r}: a file of that name exists")
        if os.path.isdir(path) and os.listdir(path) and not os.path.isfile(os.path.join(path, META_JSON)):
            raise SepnetError(f"will not replace {path!r}: it is a folder that is not a tvm-sepnet artifact "
                              f"(no {META_JSON}); choose another -o")
        parent = os.path.dirname(path) or "."
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-artifact-", dir=parent)
        try:
            cc = self.meta.get("export_cc")
            if cc:
                from tvm.support import cc as tcc

                require_tools(cc, f"exporting an artifact for target {self.meta['target']!r}")
                self.lib.export_library(os.path.join(tmp, LIB_NAME), fcompile=tcc.cross_compiler(cc))
            else:
                require_host_compiler(f"exporting an artifact for target {self.meta['target']!r}")
                self.lib.export_library(os.path.join(tmp, LIB_NAME))
            save_graph(self.graph, self.consts, os.path.join(tmp, GRAPH_JSON), os.path.join(tmp, GRAPH_NPZ))
            if self.kernels is not None:
                with open(os.path.join(tmp, KERNELS_JSON), "w", encoding="utf-8") as f:
                    json.dump(self.kernels, f)
            if self.programs is not None:  # fpga-sim, also when no layer is offloaded (load reads the files)
                save_programs(self.programs, os.path.join(tmp, FPGA_JSON), os.path.join(tmp, FPGA_NPZ))
            with open(os.path.join(tmp, META_JSON), "w", encoding="utf-8") as f:  # last: it lists the others' checksums
                json.dump({**self.meta, "files": checksums(tmp)}, f, indent=1)
            if os.path.isdir(path):
                replace_folder(tmp, path)
                shutil.rmtree(tmp, ignore_errors=True)  # now the previous artifact
            else:
                os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path


def _renameat2():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.renameat2
    except (OSError, AttributeError):
        return None


def replace_folder(new: str, path: str) -> None:
    """Put folder ``new`` at ``path`` (an existing folder) in one step: the two are exchanged
    (Linux ``renameat2(RENAME_EXCHANGE)``), so ``path`` always holds a whole artifact, the old or the
    new; ``new`` then holds the old one. Without that call: two renames (a short window without ``path``)."""
    fn = _renameat2()
    if fn is not None:
        at_fdcwd, rename_exchange = -100, 2
        if fn(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(path), rename_exchange) == 0:
            return
    old = new + ".old"
    os.rename(path, old)
    os.rename(new, path)
    os.rename(old, new)


_LOADED: dict[str, str] = {}  # library path -> SHA-256 of the file this process dlopen'ed there
_COPIES: list = []  # temporary folders of the renamed copies (alive as long as the process)


def _load_library(lib_path: str, meta: dict):
    """``tvm.runtime.load_module`` of ``lib_path``. ``dlopen`` returns the library already loaded under the
    same path name, so an artifact recompiled in place and loaded again in the same process would run
    the *old* code: a path loaded before with other contents is loaded from a copy with a unique name."""
    key = os.path.realpath(lib_path)
    digest = (meta.get("files") or {}).get(LIB_NAME) or sha256_file(lib_path)
    if _LOADED.setdefault(key, digest) == digest:
        return tvm.runtime.load_module(lib_path)
    folder = tempfile.mkdtemp(prefix="sepnet-lib-")
    _COPIES.append(folder)
    copy = os.path.join(folder, f"model-{digest[:16]}.so")
    shutil.copyfile(lib_path, copy)
    return tvm.runtime.load_module(copy)


def load(path: str) -> Artifact:
    """Load an artifact folder written by :meth:`Artifact.export`, after checking every file against
    the checksums in its ``meta.json`` (:func:`tvm_sepnet.artifact_files.verify_files`)."""
    meta = read_meta(path)
    if meta.get("format") != ARTIFACT_FORMAT:
        raise SepnetError(f"{path!r}: artifact format {meta.get('format')} is not supported (expected {ARTIFACT_FORMAT})")
    verify_files(path, meta, LIB_NAME)  # before dlopen: a truncated library would be a SIGBUS there
    ref = load_reference(path, meta)
    lib_path = os.path.join(path, LIB_NAME)
    try:
        lib = _load_library(lib_path, meta) if meta["family"] == "x86" else lib_path
        programs = None
        if meta.get("accelerator"):
            programs = load_programs(os.path.join(path, FPGA_JSON), os.path.join(path, FPGA_NPZ))
    except SepnetError:
        raise
    except Exception as err:  # noqa: BLE001 - verified files that still fail: name them and the cause
        raise CorruptArtifactError(f"artifact {path!r} cannot be loaded ({type(err).__name__}: {err}); "
                                   "recompile it with this version of tvm-sepnet") from None
    return Artifact(lib, ref.graph, ref.consts, meta, programs=programs)


__all__ = ["META_JSON", "Artifact", "compare_with_reference", "load", "load_reference"]
