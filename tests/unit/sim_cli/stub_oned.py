"""A minimal XML-RPC server on 127.0.0.1 that answers fixed replies.

The real Ruby ``onezone`` was checked against such a server (docs/opennebula-cli.md §1); pointing
our CLI at the same kind of server checks it against the same replies. Replies are written as raw
XML-RPC bodies so that they can carry exactly what oned sends (``<i8>`` in failure arrays).
"""

from __future__ import annotations

import socket
import threading
import xmlrpc.client
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

Reply = str | Callable[[tuple], str]


def success_string(value: str) -> str:
    """``[true, "<xml...>", 0]``: oned's success array carrying a string."""
    return _response(
        f"<value><boolean>1</boolean></value><value><string>{escape(value)}</string></value>"
        "<value><i4>0</i4></value>"
    )


def success_int(value: int) -> str:
    """``[true, <int>, 0]`` (addserver/delserver/resetserver/enable return the zone ID)."""
    return _response(
        f"<value><boolean>1</boolean></value><value><i4>{value}</i4></value><value><i4>0</i4></value>"
    )


def failure(message: str, code: int, resp_id: int = -1, index: int = -1) -> str:
    """``[false, "[method] msg", code, resp_id, i8]``: oned's 5-item failure array."""
    return _response(
        f"<value><boolean>0</boolean></value><value><string>{escape(message)}</string></value>"
        f"<value><i4>{code}</i4></value><value><i4>{resp_id}</i4></value>"
        f"<value><i8>{index}</i8></value>"
    )


def fault(code: int, message: str) -> str:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True)


def _response(items: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<params>\r\n<param>'
        f"<value><array><data>\r\n{items}\r\n</data></array></value></param>\r\n</params>\r\n"
        "</methodResponse>\r\n"
    )


class StubOned:
    """Serve ``replies[method]`` (a body, or a function of the call's params)."""

    def __init__(self, replies: dict[str, Reply]):
        self.replies = dict(replies)
        self.calls: list[tuple[str, tuple]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length", "0"))
                params, method = xmlrpc.client.loads(self.rfile.read(length))
                stub.calls.append((method, params))
                reply = stub.replies.get(method)
                if reply is None:
                    body = fault(-506, f"Method '{method}' not defined")
                else:
                    body = reply(params) if callable(reply) else reply
                data = body.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/RPC2"

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def start(self) -> StubOned:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SilentServer:
    """Accepts TCP connections (through the kernel backlog) and never answers."""

    def __init__(self):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/RPC2"

    def stop(self) -> None:
        self._socket.close()


def closed_port_endpoint() -> str:
    """An endpoint on a port nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/RPC2"
