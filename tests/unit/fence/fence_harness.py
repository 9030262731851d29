"""Fakes for the fence's unit tests: a hand-driven clock, peers and host commands."""

import logging

from support.load import load_fence_agent as load_agent

agent = load_agent()
# The agent logs to its own logger; keep it away from the root logger, where Salt's
# start-up handler (loaded by the salt-factories plugin) would replay it at exit.
agent.LOG.propagate = False
agent.LOG.setLevel(logging.DEBUG)


class Captured(logging.Handler):
    """Every formatted line the agent logs, through its scrubbing formatter."""

    def __init__(self, scrubber):
        super().__init__()
        self.lines = []
        self.setFormatter(agent.ScrubbingFormatter("%(levelname)s %(message)s", scrubber))
        self.addFilter(scrubber)

    def emit(self, record):
        self.lines.append(self.format(record))

    @property
    def text(self):
        return "\n".join(self.lines)


SESSION = "oneadmin:Sup3r-s3cret-pw"
#: A follower's ``one.zone.raftstatus`` answer as oned writes it (term 4, commit 20).
RAFT_FOLLOWER = (
    "<RAFT><SERVER_ID>{sid}</SERVER_ID><STATE>2</STATE><TERM>4</TERM><VOTEDFOR>0</VOTEDFOR>"
    "<COMMIT>20</COMMIT><LOG_INDEX>21</LOG_INDEX><LOG_TERM>4</LOG_TERM>"
    "<FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>"
)


def accepted(sock):
    """Each connection the listening ``sock`` accepts, until the socket is closed."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        yield conn


def read_request(conn):
    """One HTTP request from ``conn``: ``(head, body)``, the body read to its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head.decode(), body


ENDPOINTS = {sid: f"http://10.9.0.{10 + sid}:2633/RPC2" for sid in range(5)}


class Clock:
    def __init__(self, start=1000.0):
        self.t = start

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


class FakeCommands:
    """The host side: a VIP that is present or not, services, and the order of events."""

    def __init__(self, events, vip=True):
        self.events = events
        self.present = False
        self.add_fails = 0
        self.vip = "10.9.0.100/24"
        self.iface = "eth0"
        self.services = []
        self.announced = []

    def vip_present(self):
        return self.present

    def vip_add(self):
        self.events.append("ip add")
        if self.add_fails:
            self.add_fails -= 1
            return 2, "RTNETLINK answers: Operation not permitted"
        self.present = True
        return 0, ""

    def vip_del(self):
        self.events.append("ip del")
        if not self.present:
            return 2, "RTNETLINK answers: Cannot assign requested address"
        self.present = False
        return 0, ""

    def announce(self):
        # Runs in the agent's announce thread: kept out of ``events`` so that the order of
        # the fencing thread's commands can be asserted without a race.
        self.announced.append("arping")
        return [(0, ""), (0, "")]

    def service(self, name, verb):
        self.services.append((name, verb))
        return 0, ""


def status(sid, state, term, log_index=10, commit=None):
    return agent.RaftStatus(sid, state, term, log_index if commit is None else commit, log_index)


def leader(sid=0, term=3, log_index=10):
    return status(sid, agent.LEADER, term, log_index)


def follower(sid, term=3, log_index=10):
    return status(sid, agent.FOLLOWER, term, log_index)


class Late:
    """An answer that arrives ``after`` seconds into the round. Nothing sleeps: the fake
    zone hands a round's answers over in the order they would arrive."""

    def __init__(self, answer, after):
        self.answer = answer
        self.after = after


class Zone:
    """The agent's ``ask`` over fake servers, answering by endpoint: a RaftStatus or an
    RpcError is the answer, a callable is called when the request is sent, a ``Late``
    answer comes after the others (and not at all past the round's timeout). Like the
    agent's poller, it stops once ``decided`` says the answers in hand settle the round."""

    def __init__(self, clock, events, answers):
        self.clock = clock
        self.events = events
        self.answers = answers  # sid -> RaftStatus | RpcError | Late | callable
        self.sessions = []

    def ask(self, endpoints, session, timeout, decided=None):
        self.sessions.append(session)
        arrivals = []
        for order, (key, endpoint) in enumerate(endpoints.items()):
            sid = next(s for s, e in ENDPOINTS.items() if e == endpoint)
            self.events.append(f"query {sid}")
            answer, after = self.answers.get(sid, agent.RpcError("connection refused")), 0.0
            if isinstance(answer, Late):
                answer, after = answer.answer, answer.after
            if callable(answer) and not isinstance(answer, agent.RaftStatus):
                answer = answer()
            arrivals.append((after, order, key, answer))
        answers = {}
        for after, _order, key, answer in sorted(arrivals, key=lambda a: a[:2]):
            if after > timeout or (decided and decided(answers)):
                break
            answers[key] = answer
        settled = bool(decided and decided(answers))
        for _after, _order, key, _answer in arrivals:
            if key not in answers:
                answers[key] = agent.RpcError(
                    "not waited for (the round was decided)" if settled else "TimeoutError"
                )
        return answers


def config(size=5, server_id=0, vip=True, **extra):
    raw = {
        "server_id": server_id,
        "servers": [
            {"id": i, "name": f"vmm0{i + 1}", "endpoint": ENDPOINTS[i]} for i in range(size)
        ],
        "vip": {"address": "10.9.0.100/24", "interface": "eth0"} if vip else None,
        "leader_services": ["opennebula-flow", "opennebula-gate"],
        "oned_conf": "/nonexistent/oned.conf",
        "one_auth": "/nonexistent/one_auth",
    }
    raw.update(extra)
    return agent.check_config(raw)


def make_fence(answers, size=5, timings=(5000, 500), vip=True, **extra):
    """``(fence, clock, zone, commands, events)`` with the shipped timings by default."""
    events = []
    clock = Clock()
    zone = Zone(clock, events, answers)
    commands = FakeCommands(events)

    def read_timings():
        if isinstance(timings, BaseException):
            raise timings
        return timings

    fence = agent.Fence(
        config(size=size, vip=vip, **extra),
        clock=clock,
        ask=zone.ask,
        commands=commands,
        timings=read_timings,
        session_reader=lambda _path: SESSION,
    )
    return fence, clock, zone, commands, events
