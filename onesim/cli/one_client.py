"""The XML-RPC client of the OpenNebula CLIs (``OpenNebula::Client``, 7.0).

Credentials: the explicit secret, else the file named by ``$ONE_AUTH``, else
``~/.one/one_auth``, else ``/var/lib/one/.one/one_auth``; none of them means
``ONE_AUTH file not present``. Endpoint: the explicit one, else ``$ONE_XMLRPC``, else
``~/.one/one_endpoint``, else ``/var/lib/one/.one/one_endpoint``, else
``http://localhost:2633/RPC2``. Both are ``rstrip``-ed. The timeout is the explicit one,
else ``$ONE_XMLRPC_TIMEOUT``, else Ruby's XMLRPC default of 30 s.

The endpoint is checked when the client is built, as ``XMLRPC::Client.new2`` (xmlrpc 0.3)
does with Ruby's RFC 3986 URI parser: an unparsable one raises ``bad URI(is not URI?):
"<uri>"``, anything but http/https ``Wrong protocol specified. Only http or https allowed!``.
Transport failures are reported with the texts the Ruby generation in :data:`RUBY_VERSION`
prints (Debian 12: Ruby 3.1.2 with net-http 0.2.0, which connects through ``Socket.tcp``), so
a caller sees the same message the real CLI prints.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import socket
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_ENDPOINT",
    "NO_ONE_AUTH_ERROR",
    "RUBY_VERSION",
    "Client",
    "Endpoint",
    "EndpointError",
    "NoOneAuth",
    "OneError",
    "parse_endpoint",
    "resolve_endpoint",
    "resolve_secret",
    "ruby_inspect",
]

#: The Ruby the simulated CLIs behave as: Debian 12's ruby3.1, the interpreter OpenNebula 7.0's
#: Debian 12 packages run on. It shows in the User-Agent (``XMLRPC::Client (Ruby 3.1.2)``)
#: and it decides the transport error texts: its net-http (0.2.0) opens connections with
#: ``Socket.tcp(..., connect_timeout:)``, so a refused connection reads ``connect(2) for
#: <ip>:<port>``, a connect timeout ``Connection timed out - user specified timeout`` and a
#: read timeout ``Net::ReadTimeout with #<Socket:(closed)>`` (net-http 0.1 and >= 0.3, i.e.
#: Ruby 3.0 and >= 3.2, use ``TCPSocket.open`` and print other texts).
RUBY_VERSION = "3.1.2"

DEFAULT_ENDPOINT = "http://localhost:2633/RPC2"
NO_ONE_AUTH_ERROR = "ONE_AUTH file not present"
#: ``OpenNebula::Error::EXML_RPC_CALL``: the code of transport-level failures.
EXML_RPC_CALL = 0xF002

SYSTEM_ONE_DIR = Path("/var/lib/one/.one")
_RUBY_XMLRPC_DEFAULT_TIMEOUT = 30.0


class OneError(Exception):
    """A failed call (``OpenNebula::Error``): oned's message, or the transport error text."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.message = message
        self.errno = errno


class EndpointError(Exception):
    """The endpoint is not an http(s) URI: ``XMLRPC::Client.new2`` raises at construction."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NoOneAuth(Exception):
    """No credentials file could be found (the Ruby client raises this from its constructor)."""

    def __init__(self):
        super().__init__(NO_ONE_AUTH_ERROR)


def _home(env: Mapping[str, str]) -> Path | None:
    home = env.get("HOME")
    return Path(home) if home else None


def resolve_secret(env: Mapping[str, str] | None = None) -> str:
    """The ``user:password`` session string from the ONE_AUTH files (no explicit secret)."""
    env = os.environ if env is None else env
    candidates = []
    if env.get("ONE_AUTH"):
        candidates.append(Path(env["ONE_AUTH"]))
    home = _home(env)
    if home is not None:
        candidates.append(home / ".one" / "one_auth")
    candidates.append(SYSTEM_ONE_DIR / "one_auth")
    for path in candidates:
        if path.is_file():
            return path.read_text(errors="replace").rstrip()
    raise NoOneAuth()


def resolve_endpoint(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The XML-RPC endpoint the CLI talks to."""
    env = os.environ if env is None else env
    if explicit is not None:
        endpoint = explicit
    elif "ONE_XMLRPC" in env:  # Ruby tests for presence: an empty value is used as is
        endpoint = env["ONE_XMLRPC"]
    else:
        home = _home(env)
        files = ([home / ".one" / "one_endpoint"] if home is not None else []) + [
            SYSTEM_ONE_DIR / "one_endpoint"
        ]
        endpoint = DEFAULT_ENDPOINT
        for path in files:
            if path.exists():
                endpoint = path.read_text(errors="replace")
                break
    return endpoint.rstrip()


def _resolve_timeout(explicit: float | None, env: Mapping[str, str]) -> float:
    if explicit is not None:
        return explicit
    raw = env.get("ONE_XMLRPC_TIMEOUT")
    if raw is not None:
        digits = ""
        for ch in raw.strip():  # String#to_i: leading digits, 0 if none
            if not ch.isdigit():
                break
            digits += ch
        # A zero timeout makes Ruby's reads time out at once; a socket cannot take 0.
        return float(int(digits)) if digits and int(digits) > 0 else 0.001
    return _RUBY_XMLRPC_DEFAULT_TIMEOUT


class Client:
    """One endpoint + one session string, like ``OpenNebula::Client.new(secret, endpoint)``.

    Raises :class:`NoOneAuth` at construction when no secret is given and no ONE_AUTH file
    exists, exactly when the Ruby constructor raises.
    """

    def __init__(
        self,
        secret: str | None = None,
        endpoint: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        sync: bool = False,
    ):
        env = os.environ if env is None else env
        self.secret = secret.rstrip() if secret is not None else resolve_secret(env)
        self.endpoint = resolve_endpoint(endpoint, env)
        self.timeout = _resolve_timeout(timeout, env)
        self.target = parse_endpoint(self.endpoint)  # raises EndpointError like new2
        # Only the CLIs' own client is built with :sync; the per-server raftstatus clients and
        # onedb's are "async", and Ruby refuses the SSL settings for those.
        self.sync = sync
        self.cert_dir = env.get("ONE_CERT_DIR")
        if "ONE_CERT_DIR" in env and not sync:
            raise EndpointError("SSL options don't work in async mode")
        self.ssl_verify = "ONE_DISABLE_SSL_VERIFY" not in env
        if not self.ssl_verify and not sync:
            raise EndpointError("SSL options don't work in async mode")

    def call(self, action: str, *args):
        """Call ``one.<action>(session, *args)``; return the value or raise :class:`OneError`."""
        body = xmlrpc.client.dumps((self.secret, *args), "one." + action, allow_none=False)
        response = _post(
            self.target,
            body.encode("utf-8"),
            self.timeout,
            self.ssl_verify,
            cert_dir=self.cert_dir,
            keep_alive=self.sync,
        )
        try:
            (result,), _ = xmlrpc.client.loads(response, use_builtin_types=False)
        except xmlrpc.client.Fault as fault:
            raise OneError(str(fault.faultString), EXML_RPC_CALL) from None
        except Exception as exc:  # malformed reply
            raise OneError(str(exc), EXML_RPC_CALL) from None
        if isinstance(result, list) and result and result[0] is False:
            message = result[1] if len(result) > 1 else ""
            code = result[2] if len(result) > 2 else None
            raise OneError(str(message), code)
        if isinstance(result, list):
            return result[1] if len(result) > 1 else None
        return result

    def get_version(self):
        """``one.system.version`` (``Client#get_version``)."""
        return self.call("system.version")


# -- endpoint parsing (Ruby's URI with the RFC 3986 parser, then XMLRPC::Client.new2) ----------

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_SEGMENT = rf"{_PCHAR}*"
_SEGMENT_NZ = rf"{_PCHAR}+"
_SEGMENT_NZ_NC = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}@]|{_PCT})+"
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_USERINFO = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*"
_REG_NAME = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*"
_IP_LITERAL = rf"\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+)\]"
_AUTHORITY = (
    rf"(?:(?P<userinfo>{_USERINFO})@)?(?P<host>{_IP_LITERAL}|{_REG_NAME})(?::(?P<port>\d*))?"
)
_ABEMPTY = rf"(?:/{_SEGMENT})*"
_ABSOLUTE = rf"/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"
_TAIL = rf"(?:\?(?P<query>{_QUERY}))?(?:#{_QUERY})?"
_URI = re.compile(
    rf"(?P<scheme>[A-Za-z][A-Za-z0-9+\-.]*):"
    rf"(?://{_AUTHORITY}(?P<path>{_ABEMPTY})"
    rf"|(?P<path_abs>{_ABSOLUTE})"
    rf"|(?P<opaque>{_SEGMENT_NZ}(?:/{_SEGMENT})*)"
    rf"|)"
    rf"{_TAIL}"
)
_RELATIVE = re.compile(
    rf"(?://{_AUTHORITY}{_ABEMPTY}|{_ABSOLUTE}|{_SEGMENT_NZ_NC}(?:/{_SEGMENT})*|){_TAIL}"
)


def ruby_inspect(text: str) -> str:
    """``String#inspect`` for a UTF-8 string: double quotes, Ruby's escapes."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f",
               "\v": "\\v", "\a": "\\a", "\b": "\\b", "\x1b": "\\e"}  # fmt: skip
    out = []
    for index, char in enumerate(text):
        if char in escapes:
            out.append(escapes[char])
        elif char == "#" and text[index + 1 : index + 2] in ("{", "$", "@"):
            out.append("\\#")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02X}")
        elif not char.isprintable():
            out.append(f"\\u{ord(char):04X}" if ord(char) <= 0xFFFF else f"\\u{{{ord(char):X}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _valid_ip_literal(host: str) -> bool:
    inner = host[1:-1]
    if inner.startswith("v"):
        return True
    try:
        ipaddress.IPv6Address(inner)
    except ValueError:
        return False
    return "%" not in inner


@dataclass(frozen=True)
class Endpoint:
    """What ``XMLRPC::Client.new2`` keeps of the URI: ``url.host`` (brackets included for an
    IPv6 literal, as xmlrpc 0.3 passes it to Net::HTTP), port, request path, TLS or not."""

    host: str
    port: int
    path: str
    use_ssl: bool


def parse_endpoint(endpoint: str) -> Endpoint:
    """Check ``endpoint`` as ``URI(endpoint)`` + ``new2`` do; raise :class:`EndpointError`."""
    bad = EndpointError(f"bad URI(is not URI?): {ruby_inspect(endpoint)}")
    match = _URI.fullmatch(endpoint)
    if match is None:
        if _RELATIVE.fullmatch(endpoint) is not None:  # a relative reference: URI::Generic
            raise EndpointError("Wrong protocol specified. Only http or https allowed!")
        raise bad
    host = match.group("host")
    if host is not None and host.startswith("[") and not _valid_ip_literal(host):
        raise bad
    scheme = match.group("scheme").lower()
    if scheme not in ("http", "https"):
        raise EndpointError("Wrong protocol specified. Only http or https allowed!")
    if match.group("opaque") is not None:  # "http:foo": URI::HTTP without a path
        raise EndpointError("undefined method `empty?' for nil:NilClass")
    use_ssl = scheme == "https"
    port_text = match.group("port")
    port = int(port_text) if port_text else (443 if use_ssl else 80)
    path = match.group("path") or match.group("path_abs") or ""
    query = match.group("query")
    if path or query is not None:  # url.request_uri
        path = (path or "/") + (f"?{query}" if query is not None else "")
    else:
        path = "/RPC2"
    # No authority at all ("http:/RPC2"): host is nil and XMLRPC::Client uses "localhost".
    return Endpoint(host if host is not None else "localhost", port, path, use_ssl)


# -- transport (Ruby 3.1's net-http 0.2.0 over Socket.tcp) --------------------------------------


def _sockaddr_text(sockaddr) -> str:
    """``Addrinfo#inspect_sockaddr``: ``1.2.3.4:5`` or ``[::1]:5``."""
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tcp_connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    """``Socket.tcp(host, port, connect_timeout:)``: every address in turn, last error wins."""
    opening = f"Failed to open TCP connection to {endpoint.host}:{endpoint.port}"
    lookup = endpoint.host or "0.0.0.0"  # Ruby's getaddrinfo takes "" as INADDR_ANY
    try:
        addresses = socket.getaddrinfo(lookup, endpoint.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OneError(f"{opening} (getaddrinfo: {exc.strerror})", EXML_RPC_CALL) from None
    last_error = "no appropriate local address"
    for family, kind, proto, _name, sockaddr in addresses:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except TimeoutError:
            sock.close()
            last_error = "Connection timed out - user specified timeout"
            continue
        except OSError as exc:
            sock.close()
            reason = exc.strerror or str(exc)
            last_error = f"{reason} - connect(2) for {_sockaddr_text(sockaddr)}"
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise OneError(f"{opening} ({last_error})", EXML_RPC_CALL)


def _ssl_reason(exc) -> str:
    """OpenSSL's reason text as Ruby's openssl extension appends it."""
    text = str(exc)
    match = re.search(r"\] (.*?)(?: \(_ssl\.c:\d+\))?$", text)
    reason = match.group(1) if match else (getattr(exc, "reason", None) or text).lower()
    head, sep, detail = reason.partition(": ")
    return f"{head} ({detail})" if sep else reason


def _tls_wrap(
    sock: socket.socket, endpoint: Endpoint, timeout: float, verify: bool, cert_dir: str | None
):
    import ssl  # only for https endpoints

    context = ssl.create_default_context()
    if cert_dir is not None:  # ONE_CERT_DIR: the default store plus every file in the dir
        for path in sorted(Path(cert_dir).glob("*")):
            if path.is_file():
                context.load_verify_locations(cafile=str(path))
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    peer = _sockaddr_text(sock.getpeername())
    try:
        tls = context.wrap_socket(sock, server_hostname=endpoint.host.strip("[]"))
    except ssl.SSLError as exc:
        sock.close()
        raise OneError(
            f"SSL_connect returned=1 errno=0 peeraddr={peer} state=error: {_ssl_reason(exc)}",
            EXML_RPC_CALL,
        ) from None
    except OSError as exc:
        sock.close()
        raise OneError(exc.strerror or str(exc), EXML_RPC_CALL) from None
    tls.settimeout(timeout)
    return tls


class _Connection(http.client.HTTPConnection):
    """An HTTP connection over a socket opened the Ruby way."""

    def __init__(self, sock, endpoint: Endpoint, timeout: float):
        super().__init__(endpoint.host.strip("[]") or "0.0.0.0", endpoint.port, timeout=timeout)
        self.sock = sock


def _post(
    endpoint: Endpoint,
    body: bytes,
    timeout: float,
    verify: bool = True,
    *,
    cert_dir: str | None = None,
    keep_alive: bool = True,
) -> bytes:
    """POST an XML-RPC request; failures become the texts Ruby 3.1's Net::HTTP/XMLRPC give."""
    sock = _tcp_connect(endpoint, timeout)
    if endpoint.use_ssl:
        sock = _tls_wrap(sock, endpoint, timeout, verify, cert_dir)
    else:
        sock.settimeout(timeout)
    conn = _Connection(sock, endpoint, timeout)
    socket_name = "#<OpenSSL::SSL::SSLSocket>" if endpoint.use_ssl else "#<Socket:(closed)>"
    try:
        try:
            conn.request(
                "POST",
                endpoint.path,
                body=body,
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "Accept": "*/*",
                    "accept-encoding": "identity",
                    "User-Agent": f"XMLRPC::Client (Ruby {RUBY_VERSION})",
                    # call (sync, one kept connection) or call_async (one per call)
                    "Connection": "keep-alive" if keep_alive else "close",
                },
            )
            response = conn.getresponse()
            data = response.read()
        except TimeoutError:
            raise OneError(f"Net::ReadTimeout with {socket_name}", EXML_RPC_CALL) from None
        except (http.client.RemoteDisconnected, http.client.IncompleteRead):
            raise OneError("end of file reached", EXML_RPC_CALL) from None
        except OSError as exc:
            raise OneError(exc.strerror or str(exc), EXML_RPC_CALL) from None
        except http.client.HTTPException as exc:
            raise OneError(str(exc) or type(exc).__name__, EXML_RPC_CALL) from None
        if response.status == 401:
            raise OneError(
                f"Authorization failed.\nHTTP-Error: {response.status} {response.reason}",
                EXML_RPC_CALL,
            )
        if not 200 <= response.status < 300:
            raise OneError(f"HTTP-Error: {response.status} {response.reason}", EXML_RPC_CALL)
        return data
    finally:
        conn.close()
