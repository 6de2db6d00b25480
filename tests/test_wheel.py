"""The wheel: built from the sources (pip wheel), installed with the [onnx] extra into a fresh virtual
environment (no system site-packages; pip's cache makes the dependencies a local copy), then the quickstart's
compile + run --check from a folder outside the repository. Also checks that the wheel carries every
non-Python file the commands read (C sources, accelerator presets, the RTL, the system-package script)."""
import os
import shutil
import subprocess
import sys
import time
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["setup.py", "README.md", "tvm_sepnet", "relay_passes", "schedules", "rtl", "scripts"]
pytestmark = pytest.mark.slow


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                                  f"{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Build the wheel from a copy of the sources (the checkout gets no build/ or egg-info folders)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        path = os.path.join(ROOT, name)
        (shutil.copytree(path, src / name, ignore=ignore) if os.path.isdir(path) else shutil.copy(path, src / name))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"), str(src)])
    (whl,) = list((root / "dist").glob("tvm_sepnet-*.whl"))
    return whl


def test_the_wheel_carries_the_files_the_commands_read(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = [os.path.relpath(os.path.join(d, f), ROOT) for top in ("rtl", "tvm_sepnet")
            for d, dirs, files in os.walk(os.path.join(ROOT, top)) if "__pycache__" not in d
            for f in files if not f.endswith((".py", ".pyc"))]
    assert len(data) >= 20  # 17 RTL files, 2 C sources, 3 accelerator presets
    for f in data:  # every non-Python file of the package and the RTL, where the code looks for it
        want = f"tvm_sepnet/rtl_sources/{f[len('rtl/'):]}" if f.startswith("rtl/") else f
        assert want in names, f"{f} is not in the wheel (as {want})"
    assert "tvm_sepnet/system_scripts/install_system_packages.sh" in names
    assert not [n for n in names if n.startswith("tvm_sepnet/system_scripts/") and n.endswith(".py")]
    assert not [n for n in names if n.startswith("tests/")]
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
    for dep in ("apache-tvm==0.27.0.post1", "numpy", "onnxruntime", "sympy"):
        assert dep in meta


def test_quickstart_from_the_wheel_in_a_fresh_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    t0 = time.time()
    _run([sys.executable, "-m", "venv", str(venv)])  # a truly fresh environment: no system site-packages
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    _run([py, "-m", "pip", "install", "-q", f"{wheel}[onnx]"], env=env)
    installed = time.time() - t0
    work = tmp_path / "elsewhere"  # not the repository: nothing of the checkout is importable from here
    work.mkdir()
    probe = _run([py, "-c", "import tvm_sepnet, sympy, onnxruntime; print(tvm_sepnet.__file__)"], cwd=work, env=env)
    assert str(venv) in probe.stdout and ROOT not in probe.stdout
    _run([py, "-c", "import numpy as np; np.save('x.npy', np.random.default_rng(0).standard_normal((1, 3, 64, 64))"
          ".astype('float32'))"], cwd=work, env=env)
    cli = str(venv / "bin" / "tvm-sepnet")
    t1 = time.time()
    _run([cli, "compile", "sepnet-bq", "--target", "x86", "--image-size", "64", "-o", "art"], cwd=work, env=env)
    res = _run([cli, "run", "art", "--input", "x.npy", "--check"], cwd=work, env=env)
    assert "match: True" in res.stdout and "bit_exact: True" in res.stdout
    print(f"\nwheel install {installed:.0f} s, compile + run --check {time.time() - t1:.0f} s")
