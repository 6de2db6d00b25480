"""Fixtures of the ARM tests: where this test session finds the emulated board's arm64 tree."""
import os
import socket

import pytest

from tvm_sepnet.device import board

#: what building the tree downloads from (mmdebstrap: Debian packages; pip: the aarch64 wheels)
BUILD_HOSTS = (("deb.debian.org", 80), ("pypi.org", 443), ("files.pythonhosted.org", 443))


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def board_tree():
    """The arm64 tree of the emulated board, located once per test session: ``$TVM_SEPNET_CACHE`` if
    set, else the user's cache (``~/.cache/tvm-sepnet``), and pinned in the environment for the whole
    session (boards and their processes see the same place). A tree that is not built yet is built
    here, which needs network; without network the board tests are skipped with a message naming the
    missing tree and the hosts that could not be reached."""
    cache = board.cache_dir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TVM_SEPNET_CACHE", cache)
        root = board.tree_root()
        if not board.tree_ready():
            down = [f"{host}:{port}" for host, port in BUILD_HOSTS if not _reachable(host, port)]
            if down:
                pytest.skip(f"the emulated arm64 board's tree {root} is not built and building it needs network "
                            f"({', '.join(down)} unreachable): build it once with `tvm-sepnet device start --arch "
                            "arm64` where there is network, or set TVM_SEPNET_CACHE to a folder holding a built tree")
            board.build_tree(log=lambda message: None)
        assert os.path.isdir(os.path.join(root, "rootfs"))
        yield root
