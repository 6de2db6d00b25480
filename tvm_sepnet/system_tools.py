"""Executables tvm-sepnet runs that are not Python packages, and the Debian package of each.

:func:`require` is called before a command first runs such a tool: a tool missing from ``PATH`` is a
:class:`MissingToolError` (exit status 2 on the command line) naming the tool, what needs it, its Debian
package and ``scripts/install_system_packages.sh`` (which installs all of them), never a
``FileNotFoundError`` traceback from deep inside a build.
"""
from __future__ import annotations

import os
import shutil

from .errors import SepnetError

#: executable -> Debian package (bookworm / trixie names); scripts/install_system_packages.sh installs all
DEBIAN_PACKAGES = {
    "aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu",
    "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu",
    "arm-linux-gnueabihf-g++": "g++-arm-linux-gnueabihf",
    "arm-linux-gnueabihf-gcc": "gcc-arm-linux-gnueabihf",
    "qemu-aarch64-static": "qemu-user-static",
    "qemu-arm-static": "qemu-user-static",
    "qemu-aarch64": "qemu-user",
    "qemu-arm": "qemu-user",
    "mmdebstrap": "mmdebstrap",
    "verilator": "verilator",
    "yosys": "yosys",
    "llvm-mca-19": "llvm-19",
    "g++": "g++",
    "gcc": "gcc",
    "cc": "gcc",
    "make": "make",
}
INSTALL_SCRIPT = "scripts/install_system_packages.sh"


def install_script() -> str:
    """Path of the install script: the checkout's, or the copy a wheel installs in tvm_sepnet/system_scripts."""
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.join(os.path.dirname(here), INSTALL_SCRIPT)
    return checkout if os.path.isfile(checkout) else os.path.join(here, "system_scripts", os.path.basename(INSTALL_SCRIPT))


class MissingToolError(SepnetError):
    """An executable a command needs (cross compiler, qemu, mmdebstrap, ...) is not installed."""


def install_hint(tools) -> str:
    """'install the Debian package(s) ... (apt-get install ...; the repository's
    scripts/install_system_packages.sh installs every one)' for ``tools``."""
    packages = sorted({DEBIAN_PACKAGES.get(t, t) for t in tools})
    word = "package" if len(packages) == 1 else "packages"
    return (f"install the Debian {word} {', '.join(packages)} (sudo apt-get install {' '.join(packages)}; "
            f"{INSTALL_SCRIPT}, bash {install_script()}, installs every tool tvm-sepnet uses)")


def not_installed(tools) -> str:
    return "which is not installed" if len(tools) == 1 else "which are not installed"


def missing(tools) -> list[str]:
    """The executables of ``tools`` that are not on ``PATH``."""
    return [t for t in tools if shutil.which(t) is None]


def require(tools, purpose: str) -> None:
    """Raise :class:`MissingToolError` if any executable of ``tools`` is not on ``PATH``; ``purpose``
    says what needs them (e.g. "compiling for target 'arm64'")."""
    absent = missing([tools] if isinstance(tools, str) else list(tools))
    if absent:
        raise MissingToolError(f"{purpose} needs {', '.join(absent)}, {not_installed(absent)}; {install_hint(absent)}")


def require_host_compiler(purpose: str) -> None:
    """Raise :class:`MissingToolError` if TVM finds no host C/C++ compiler (``$CXX``/``$CC``, else g++,
    gcc, clang++, clang, c++ or cc on ``PATH``), which links every exported library."""
    from tvm.support.cc import get_cc

    if get_cc() is None:
        raise MissingToolError(f"{purpose} needs a C++ compiler (g++), which is not installed; {install_hint(['g++'])}")


__all__ = ["DEBIAN_PACKAGES", "INSTALL_SCRIPT", "MissingToolError", "install_hint", "missing", "require",
           "require_host_compiler"]
