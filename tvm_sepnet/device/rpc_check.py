"""Fail-fast checks before talking TVM RPC: a plain TCP connect with a timeout (TVM's own connect can
wait long on a dead address), and a tracker's queue for a key."""
from __future__ import annotations

import socket

from ..errors import SepnetError


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_hostport(text: str, what: str, error=SepnetError) -> tuple[str, int]:
    host, _, port = (text or "").rpartition(":")
    if not host or not port.isdigit():
        raise error(f"{what} wants HOST:PORT, got {text!r}")
    return host, int(port)


def check_reachable(host: str, port: int, what: str, timeout: float, error=SepnetError) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        raise error(f"{what} {host}:{port} is unreachable ({err}); is it running? "
                    "(python -m tvm.exec.rpc_tracker / rpc_server, or tvm-sepnet device status)") from None


def check_tracker_key(tracker: str, key: str | None, timeout: float, error=SepnetError) -> tuple[str, int]:
    """(host, port) of a reachable tracker that has a server queue for ``key``, else ``error``."""
    from tvm import rpc

    if not key:
        raise error("--tracker needs --key (the device key the RPC servers registered with)")
    host, port = parse_hostport(tracker, "--tracker", error)
    check_reachable(host, port, "RPC tracker", timeout, error)
    queues = rpc.connect_tracker(host, port).summary().get("queue_info", {})
    if key not in queues:
        raise error(f"RPC tracker {host}:{port} has no server registered under key {key!r} (keys: "
                    f"{sorted(queues) or 'none'}); start one with python -m tvm.exec.rpc_server "
                    f"--tracker {host}:{port} --key {key}, or tvm-sepnet device start --tracker {host}:{port} --key {key}")
    return host, port
