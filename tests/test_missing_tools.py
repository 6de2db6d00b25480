"""A missing system tool (cross compiler, qemu, mmdebstrap, llvm-mca, the host C++ compiler) is an error
naming the tool, its Debian package and scripts/install_system_packages.sh, exit status 2: never a
FileNotFoundError traceback. Run with a PATH that lacks them."""
import os
import subprocess
import sys

import onnx
import pytest

from tests.onnx_models import foreign_model
from tvm_sepnet.cli import main
from tvm_sepnet.device import board
from tvm_sepnet.device.emulation import EmulationError, require_tools
from tvm_sepnet.system_tools import DEBIAN_PACKAGES, MissingToolError, require
from tvm_sepnet.targets import get_target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = "scripts/install_system_packages.sh"


@pytest.fixture()
def empty_path(tmp_path, monkeypatch):
    """PATH = an empty folder: no tool at all (Python itself is already running)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.delenv("CC", raising=False)
    return str(empty)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tools") / "m.onnx")
    onnx.save(foreign_model(), path)
    return path


def test_every_tool_named_is_installed_by_the_install_script():
    script = open(os.path.join(ROOT, SCRIPT), encoding="utf-8").read()
    packages = script.split('PACKAGES="', 1)[1].split('"', 1)[0].split()
    wanted = {p for t, p in DEBIAN_PACKAGES.items() if t not in ("qemu-aarch64", "qemu-arm", "gcc", "cc")}
    assert wanted - set(packages) == set()  # qemu-user(-static), gcc come with the listed packages


def test_compile_for_arm64_without_cross_compiler_in_a_real_process(tiny_onnx, empty_path, tmp_path):
    out = str(tmp_path / "art")
    proc = subprocess.run([sys.executable, "-m", "tvm_sepnet", "compile", tiny_onnx, "--target", "arm64", "-o", out],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert ("compiling for target 'arm64' needs aarch64-linux-gnu-g++, which is not installed; install the Debian "
            "package g++-aarch64-linux-gnu") in proc.stderr
    assert SCRIPT in proc.stderr and not os.path.exists(out)


def test_compile_for_armv7_without_cross_compiler(tiny_onnx, empty_path, tmp_path, capsys):
    assert main(["compile", tiny_onnx, "--target", "armv7", "-o", str(tmp_path / "art")]) == 2
    err = capsys.readouterr().err
    assert "arm-linux-gnueabihf-g++" in err and "g++-arm-linux-gnueabihf" in err and SCRIPT in err


def test_emulation_without_qemu_names_qemu_user_static(empty_path):
    with pytest.raises(EmulationError, match=r"qemu-aarch64-static, aarch64-linux-gnu-gcc, aarch64-linux-gnu-g\+\+.*"
                       r"g\+\+-aarch64-linux-gnu, gcc-aarch64-linux-gnu, qemu-user-static"):
        require_tools(get_target("arm64-dotprod"))


def test_board_without_qemu_or_mmdebstrap(empty_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TVM_SEPNET_CACHE", str(tmp_path / "cache"))  # no arm64 tree built
    assert main(["device", "start", "--arch", "arm64"]) == 2
    err = capsys.readouterr().err
    assert "qemu-aarch64-static" in err and "qemu-user-static" in err and SCRIPT in err
    with pytest.raises(board.DeviceError, match="needs mmdebstrap, qemu-aarch64-static.*mmdebstrap, qemu-user-static"):
        board.build_tree(log=lambda *_: None)


def test_export_without_host_compiler(tiny_onnx, empty_path, tmp_path, capsys):
    assert main(["compile", tiny_onnx, "--act-bits", "4", "-o", str(tmp_path / "art")]) == 2
    err = capsys.readouterr().err
    assert "needs a C++ compiler (g++)" in err and "Debian package g++" in err
    assert not os.path.exists(tmp_path / "art") and not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


def test_require_lists_every_missing_tool(empty_path):
    with pytest.raises(MissingToolError, match=r"x needs mmdebstrap, yosys, which are not installed; install the "
                       r"Debian packages mmdebstrap, yosys \(sudo apt-get install mmdebstrap yosys;"):
        require(["mmdebstrap", "yosys"], "x")


def test_a_missing_optional_package_names_its_extra(tiny_onnx, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ModuleNotFoundError, as without [onnx]
    assert main(["compile", tiny_onnx, "-o", str(tmp_path / "art")]) == 2
    err = capsys.readouterr().err
    assert "needs the Python package 'onnx'" in err and "pip install 'tvm-sepnet[onnx]'" in err
    assert "Traceback" not in err


def test_sympy_is_declared_where_onnxruntime_quantization_needs_it():
    from tvm_sepnet.optional_deps import missing_package_error

    err = missing_package_error(ModuleNotFoundError("No module named 'sympy'", name="sympy"))
    assert "pip install 'tvm-sepnet[onnx]'" in str(err)
    setup = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    onnx_extra = setup.split('"onnx": [', 1)[1].split("]", 1)[0]
    assert '"sympy"' in onnx_extra
    assert missing_package_error(ModuleNotFoundError("x", name="no_such_module")) is None
