"""Raft timings for the functional tests (imported by conftest and tests of this directory).

Short, so that elections take well under a second, but well above the 50 ms tick and the cost
of an XML-RPC round trip on a busy 2-core machine.
"""

FAST = {
    "election_ms": 600,
    "broadcast_ms": 100,
    "xmlrpc_timeout_ms": 250,
    "warmup_ms": 300,
}
