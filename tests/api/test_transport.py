"""Listening sockets: one per server, or a SO_REUSEPORT group of one per worker process."""

from __future__ import annotations

import select
import socket

import pytest

from darkroom.api.errors import AddressUnavailable
from darkroom.api.transport import listen_tcp, listen_tcp_group


def test_a_group_shares_one_free_port_and_the_kernel_spreads_connections_over_it() -> None:
    group = listen_tcp_group("127.0.0.1:0", 2)
    try:
        ports = {s.getsockname()[1] for s in group}
        assert len(ports) == 1
        port = ports.pop()
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        accepted = [0, 0]
        for _ in clients:  # each connection waits on exactly one socket of the group
            ready, _, _ = select.select(group, [], [], 10)
            conn, _ = ready[0].accept()
            accepted[group.index(ready[0])] += 1
            conn.close()
        for c in clients:
            c.close()
        assert sum(accepted) == 64 and min(accepted) > 0, accepted  # all on one: 2^-63
    finally:
        for s in group:
            s.close()


def test_a_second_server_is_refused_beside_a_group_and_a_group_beside_a_server() -> None:
    group = listen_tcp_group("127.0.0.1:0", 2)
    address = f"127.0.0.1:{group[0].getsockname()[1]}"
    try:
        with pytest.raises(AddressUnavailable, match=f"cannot listen on {address}"):
            listen_tcp(address)
        with pytest.raises(AddressUnavailable, match=f"cannot listen on {address}"):
            listen_tcp_group(address, 2)
    finally:
        for s in group:
            s.close()
    single = listen_tcp("127.0.0.1:0")
    taken = f"127.0.0.1:{single.getsockname()[1]}"
    try:
        with pytest.raises(AddressUnavailable, match=f"cannot listen on {taken}"):
            listen_tcp_group(taken, 2)
    finally:
        single.close()


@pytest.mark.parametrize("count", [0, -1, True, 1.5])
def test_a_group_needs_a_whole_count(count: object) -> None:
    with pytest.raises(ValueError, match="count"):
        listen_tcp_group("127.0.0.1:0", count)  # type: ignore[arg-type]
