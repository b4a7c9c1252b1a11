"""serve(): uvicorn on uvloop and httptools, refusing a taken or malformed address by name."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
import pytest

from darkroom.api.errors import AddressUnavailable
from darkroom.web.server import HttpServer, bind, serve


def test_a_taken_port_is_refused_naming_the_address(client: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(AddressUnavailable, match=f"cannot listen on {address}"):
            serve(client.app, address)


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "127.0.0.1", ":8000", "unix:/tmp/x.sock"])
def test_a_malformed_address_is_refused_naming_it(address: str) -> None:
    with pytest.raises(AddressUnavailable, match="cannot listen on"):
        bind(address)


def test_it_serves_over_http(client: Any) -> None:
    server = HttpServer(client.app, "127.0.0.1:0", log_level="warning")
    port = server.bind()  # listening from here on: the request waits in the backlog until uvicorn accepts it
    assert server.config.loop == "uvloop" and server.config.http == "httptools"
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/demo/items?limit=1", timeout=30)
        assert response.status_code == 200 and "ratelimit-limit" in response.headers
        assert "server" not in response.headers
    finally:
        server.stop()
        thread.join(30)
    assert not thread.is_alive()
