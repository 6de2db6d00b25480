"""A real TVM RPC tracker and servers on 127.0.0.1 for tests, each process stopped by its pid."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from tvm_sepnet.device.rpc_check import free_port


class RPCCluster:
    """``with RPCCluster(servers=2, key="k") as c:`` -> ``c.tracker`` ("127.0.0.1:PORT"), ``c.servers``
    (Popen objects). Every process is started in its own process group and stopped by pid."""

    def __init__(self, servers: int = 2, key: str = "sepnet-test", timeout: float = 30.0):
        self.n_servers, self.key, self.timeout = servers, key, timeout
        self.procs: list[subprocess.Popen] = []
        self.servers: list[subprocess.Popen] = []
        self.tracker = None

    def _spawn(self, args) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> "RPCCluster":
        port = free_port()
        self._spawn(["tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port), "--port-end", str(port + 1)])
        self.tracker = f"127.0.0.1:{port}"
        deadline = time.time() + self.timeout
        while True:  # the tracker accepts connections (TVM's own connect would retry every 5 s meanwhile)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    self.stop_all()
                    raise RuntimeError("RPC tracker did not start") from None
                time.sleep(0.1)
        for _ in range(self.n_servers):
            sp = free_port()
            self.servers.append(self._spawn(["tvm.exec.rpc_server", "--host", "127.0.0.1", "--port", str(sp),
                                             "--port-end", str(sp + 1), "--tracker", self.tracker, "--key", self.key]))
        while self.free_servers() < self.n_servers:
            if time.time() > deadline:
                self.stop_all()
                raise RuntimeError("RPC servers did not register with the tracker")
            time.sleep(0.2)
        return self

    def free_servers(self) -> int:
        """Servers registered with the tracker and not in a session."""
        from tvm import rpc

        host, port = self.tracker.rsplit(":", 1)
        return rpc.connect_tracker(host, int(port)).summary()["queue_info"].get(self.key, {}).get("free", 0)

    @staticmethod
    def freeze(proc: subprocess.Popen) -> None:
        """SIGSTOP a process and its children: its sockets stay open, so the tracker keeps handing it
        sessions, which hang until the client's session timeout."""
        os.killpg(proc.pid, signal.SIGSTOP)

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """SIGKILL a process and its children (the server forks a worker per session)."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.kill(proc)

    def __exit__(self, *exc):
        self.stop_all()
