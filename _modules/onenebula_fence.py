"""
The fencing agent's own view on this front-end (``onenebula-ha-fence``, see docs/fence.md).

The agent serves ``GET /health`` (JSON) and ``GET /leader`` on ``onenebula_ha:fence:bind`` and
``port``; this module reads them from the minion, so ``salt-run onenebula_ha.fence`` and
operators see each agent's lease, VIP and endpoint health without touching the agent.
"""

import json
import urllib.error
import urllib.request

__virtualname__ = "onenebula_fence"

DEFAULT_PORT = 2634


def __virtual__():
    # Plain HTTP to the local agent: always loadable.
    return __virtualname__


def _settings():
    # Salt 3008 masks pillar values ('**********') unless asked not to; the fence subtree
    # holds no secret (addresses, port, timings).
    try:
        fence = __salt__["pillar.get"]("onenebula_ha:fence", {}, unmask=True)
    except TypeError:  # Salt before 3008: no masking, no unmask argument
        fence = __salt__["pillar.get"]("onenebula_ha:fence", {})
    return fence if isinstance(fence, dict) else {}


def _base_url(bind, port):
    host = "127.0.0.1" if bind in (None, "", "0.0.0.0") else bind
    if host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{int(port)}"


def _get(url, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http only
            return response.status, response.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536).decode("utf-8", "replace")


def health(bind=None, port=None, timeout=3):
    """
    The local agent's ``/health`` plus whether ``/leader`` answers 200.

    Returns ``{"reachable": True, "endpoint", "leader": bool, "health": {...}}``, or
    ``{"reachable": False, "endpoint", "error"}`` when the agent does not answer (stopped,
    crashed, or not installed: ``onenebula_ha:fence:enabled`` is false). ``bind`` and
    ``port`` default to the pillar's ``onenebula_ha:fence`` values.

    CLI Example:

    .. code-block:: bash

        salt 'vmm0*' onenebula_fence.health
    """
    settings = _settings()
    bind = bind if bind is not None else settings.get("bind", "0.0.0.0")
    port = port if port is not None else settings.get("port", DEFAULT_PORT)
    base = _base_url(bind, port)
    try:
        status, body = _get(base + "/health", timeout)
        if status != 200:
            return {"reachable": False, "endpoint": base, "error": f"/health answered {status}"}
        data = json.loads(body)
        leader_status, _ = _get(base + "/leader", timeout)
    except (OSError, ValueError) as exc:
        return {"reachable": False, "endpoint": base, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "reachable": True,
        "endpoint": base,
        "enabled": settings.get("enabled"),
        "leader": leader_status == 200,
        "health": data,
    }
