"""The XML-RPC client of the OpenNebula CLIs (``OpenNebula::Client``, 7.0).

Credentials: the explicit secret, else the file named by ``$ONE_AUTH``, else
``~/.one/one_auth``, else ``/var/lib/one/.one/one_auth``; none of them means
``ONE_AUTH file not present``. Endpoint: the explicit one, else ``$ONE_XMLRPC``, else
``~/.one/one_endpoint``, else ``/var/lib/one/.one/one_endpoint``, else
``http://localhost:2633/RPC2``. Both are ``rstrip``-ed. The timeout is the explicit one,
else ``$ONE_XMLRPC_TIMEOUT``, else Ruby's XMLRPC default of 30 s.

Transport failures are reported with the texts Ruby's ``Net::HTTP`` uses, so a caller sees
the same message the real CLI prints.
"""

from __future__ import annotations

import http.client
import os
import socket
import xmlrpc.client
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_ENDPOINT",
    "NO_ONE_AUTH_ERROR",
    "Client",
    "NoOneAuth",
    "OneError",
    "resolve_endpoint",
    "resolve_secret",
]

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
    ):
        env = os.environ if env is None else env
        self.secret = secret.rstrip() if secret is not None else resolve_secret(env)
        self.endpoint = resolve_endpoint(endpoint, env)
        self.timeout = _resolve_timeout(timeout, env)

    def call(self, action: str, *args):
        """Call ``one.<action>(session, *args)``; return the value or raise :class:`OneError`."""
        body = xmlrpc.client.dumps((self.secret, *args), "one." + action, allow_none=False)
        response = _post(self.endpoint, body.encode("utf-8"), self.timeout)
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


def _post(endpoint: str, body: bytes, timeout: float) -> bytes:
    """POST an XML-RPC request; failures become the texts Ruby's Net::HTTP/XMLRPC give."""
    try:
        url = urlsplit(endpoint)
        host = url.hostname or ""
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError as exc:
        raise OneError(f"Wrong URI as parameter! ({exc})", EXML_RPC_CALL) from None
    if url.scheme not in ("http", "https") or not host:
        raise OneError(f"Wrong URI as parameter! ({endpoint})", EXML_RPC_CALL)
    path = url.path or "/RPC2"
    if url.query:
        path += "?" + url.query
    opening = f"Failed to open TCP connection to {host}:{port}"
    if url.scheme == "https":
        import ssl  # only for https endpoints

        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        try:
            conn.connect()
        except TimeoutError:
            raise OneError(f"{opening} (execution expired)", EXML_RPC_CALL) from None
        except socket.gaierror as exc:
            raise OneError(f"{opening} (getaddrinfo: {exc.strerror})", EXML_RPC_CALL) from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OneError(
                f'{opening} ({reason} - connect(2) for "{host}" port {port})', EXML_RPC_CALL
            ) from None
        try:
            conn.request(
                "POST",
                path,
                body=body,
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "Accept": "text/xml",
                    "Accept-Encoding": "identity",
                    "User-Agent": "XMLRPC::Client (Ruby 3.3.8)",
                    "Connection": "keep-alive",
                },
            )
            response = conn.getresponse()
            data = response.read()
        except TimeoutError:
            raise OneError("Net::ReadTimeout with #<TCPSocket:(closed)>", EXML_RPC_CALL) from None
        except (http.client.RemoteDisconnected, http.client.IncompleteRead):
            raise OneError("end of file reached", EXML_RPC_CALL) from None
        except OSError as exc:
            raise OneError(exc.strerror or str(exc), EXML_RPC_CALL) from None
        except http.client.HTTPException as exc:
            raise OneError(str(exc) or type(exc).__name__, EXML_RPC_CALL) from None
        if response.status != 200:
            raise OneError(f"HTTP-Error: {response.status} {response.reason}", EXML_RPC_CALL)
        return data
    finally:
        conn.close()
