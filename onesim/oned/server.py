"""The threaded XML-RPC HTTP server answering at ``/RPC2``."""

from __future__ import annotations

import socketserver
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from onesim.oned.api import RequestManager

__all__ = ["RpcServer"]


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2",)

    def _dispatch(self, method, params):
        # Defined on the handler so the request manager learns the client address.
        host, port = self.client_address[:2]
        return self.server.request_manager.dispatch(method, params, host, port)

    def log_message(self, format, *args):  # noqa: A002 - signature from BaseHTTPRequestHandler
        """Requests are logged by the request manager, not on stderr."""


class RpcServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = True
    # oned accepts many concurrent connections (MAX_CONN); the default backlog of 5 is too low.
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], request_manager: RequestManager):
        self.request_manager = request_manager
        super().__init__(address, requestHandler=_Handler, logRequests=False, allow_none=False)
