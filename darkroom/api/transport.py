"""Where a gRPC peer is, and what may travel to it: loopback detection, the plaintext-bearer rule,
and the checks a server's listen address gets before binding.

- A bearer key goes in plaintext only to this machine (a loopback address, ``localhost`` or a unix
  socket); anywhere else needs TLS, or ``insecure=True`` asked for on purpose. Deciding needs no
  DNS lookup and no connection: a host name other than ``localhost`` counts as remote.
- A channel to this machine never goes through an HTTP proxy (:func:`channel_options`): grpc
  honours ``http_proxy``/``grpc_proxy`` for every target, and would hand the request, bearer key
  included, to the proxy host, where "127.0.0.1" is that host, not this one.
- Who listens on a loopback port: :func:`listener_uids` reads the kernel's socket tables (Linux
  ``/proc/net/tcp``, ``tcp6``), so a client can decline to hand its home's key to a port another
  local user holds (a server started while the platform was down, waiting for keys).
- A listen address must be ``host:port`` with a port from 0 to 65535 (grpc would otherwise wrap
  99999 to 34463), or ``unix:/path``. Servers bind without ``SO_REUSEPORT``
  (:data:`SERVER_OPTIONS`), so a second server on a taken port fails instead of sharing it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from pathlib import Path

from darkroom.api.errors import AddressUnavailable, InsecureTransport

__all__ = [
    "SERVER_OPTIONS",
    "channel_options",
    "check_bearer_transport",
    "check_listen_address",
    "host_of",
    "is_local",
    "listen_tcp",
    "listen_tcp_group",
    "listener_uids",
    "port_of",
]

_log = logging.getLogger(__name__)

# grpc turns SO_REUSEPORT on by default: two servers on one port then split the clients between them.
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (("grpc.so_reuseport", 0),)
_UNIX_PREFIXES = ("unix:", "unix-abstract:")


def host_of(target: str) -> str:
    """The host part of ``host:port``, ``[v6]:port`` or ``scheme://host:port`` (no brackets)."""
    address = target.split("://", 1)[-1]
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 or address.startswith("[") else address
    return host.strip("[]")


def is_local(target: str) -> bool:
    """True for a unix socket, ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    address = target.split("://", 1)[-1]
    if target.startswith(_UNIX_PREFIXES) or address.startswith(_UNIX_PREFIXES):
        return True
    host = host_of(target)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: where it points is not known without asking DNS


def port_of(target: str) -> int | None:
    """The port of ``host:port``, ``[v6]:port`` or ``scheme://host:port``; None without one."""
    address = target.split("://", 1)[-1]
    if address.startswith(_UNIX_PREFIXES) or (address.count(":") != 1 and "]:" not in address):
        return None
    port = address.rsplit(":", 1)[1]
    return int(port) if port.isdigit() else None


def listener_uids(port: int, tables: tuple[str, ...] = ("/proc/net/tcp", "/proc/net/tcp6")) -> set[int]:
    """The users (uids) whose TCP sockets listen on ``port`` here, on any address; empty when none
    does, or where the kernel does not say (not Linux)."""
    owners: set[int] = set()
    for table in tables:
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            # sl local_address rem_address st tx:rx tr:when retrnsmt uid …; 0A is LISTEN
            cells = row.split()
            if len(cells) > 7 and cells[3] == "0A" and int(cells[1].rsplit(":", 1)[1], 16) == port:
                owners.add(int(cells[7]))
    return owners


def channel_options(target: str) -> list[tuple[str, int]]:
    """Channel options every client adds for ``target``: no HTTP proxy to this machine."""
    return [("grpc.enable_http_proxy", 0)] if is_local(target) else []


def check_bearer_transport(target: str, *, tls: bool, has_key: bool, insecure: bool) -> None:
    """Refuse to send a key in plaintext off this machine (:class:`InsecureTransport`), unless
    ``insecure``, in which case it is logged."""
    if tls or not has_key or is_local(target):
        return
    if not insecure:
        raise InsecureTransport(
            f"refusing to send an API key in plaintext to {target} (not this machine): use grpcs:// "
            "(TLS), or pass insecure=True (--insecure) if the network is trusted"
        )
    _log.warning("sending an API key in plaintext to %s (insecure=True)", target)


def check_listen_address(address: str) -> None:
    """Refuse a listen address grpc would misread (:class:`AddressUnavailable`, naming it)."""
    if address.startswith(_UNIX_PREFIXES):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise AddressUnavailable(f"cannot listen on {address!r}: expected host:port with a port from 0 to 65535")


def listen_tcp(address: str) -> socket.socket:
    """A listening TCP socket on ``address`` (``host:port``, ``[v6]:port``; port 0: any free one)."""
    check_listen_address(address)
    port = port_of(address)
    if address.startswith("unix") or port is None:
        raise AddressUnavailable(f"cannot listen on {address!r}: a TCP server takes host:port")
    host = host_of(address)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise AddressUnavailable(f"cannot listen on {address}: {exc.strerror}") from None
    family, kind, proto, _, where = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # SO_REUSEADDR lets a restart take the port from connections in TIME_WAIT; on Linux it
        # never lets two listeners share it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise AddressUnavailable(
            f"cannot listen on {address}: {exc.strerror or exc} (is another server running?)"
        ) from None
    sock.set_inheritable(True)
    return sock


def listen_tcp_group(address: str, count: int) -> list[socket.socket]:
    """``count`` listening sockets on ``address``, one per worker process, in one ``SO_REUSEPORT``
    group: the kernel spreads new connections over them by their addresses' hash. One socket shared
    by every worker hands most connections to whichever worker woke last (with a few keep-alive
    clients, one worker served everything while the other idled). The address must be free: a
    plain listener is bound first, so a taken address is refused as :func:`listen_tcp` refuses it,
    and a later plain listener (a second server) cannot bind beside the group; Linux lets only
    sockets of the same user join a group."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count {count!r} must be a whole number >= 1")
    probe = listen_tcp(address)  # a port of 0 becomes the free one it found
    family = probe.family
    where = probe.getsockname()
    probe.close()
    group: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            group.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(where)
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in group:
            sock.close()
        raise AddressUnavailable(
            f"cannot listen on {address}: {exc.strerror or exc} (is another server running?)"
        ) from None
    return group
