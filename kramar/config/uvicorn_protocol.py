"""uvicorn's h11 protocol with TCP_NODELAY switched on for every accepted connection.

With `--workers N` uvicorn binds the listening socket itself with proto 0; accepted sockets inherit it
and asyncio then skips TCP_NODELAY, so on Linux each keep-alive response waits ~40 ms for the client's
delayed ACK (https://github.com/Kludex/uvicorn/issues/3149, open). `--workers 1` is not affected.
`kramar serve` always uses this protocol; benchmarks/api_list.py measures it beside plain uvicorn.
"""

from __future__ import annotations

import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class H11NoDelayProtocol(H11Protocol):
    def connection_made(self, transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
