"""Timelines of a running lab: who holds the VIP, and what each oned says about Raft.

* :class:`VipSampler` looks at every front-end's ``eth0`` every ``interval`` (100 ms by
  default) and records which hosts hold the VIP. A host counts as a holder only while its
  link is up: a paused VM (:meth:`onelab.lab.Lab.freeze_host`) keeps the address configured
  but answers nobody. Addresses are read over netlink through a socket opened in each host's
  namespace and the link state from the bridge port's ``operstate``: no process per look, so
  the 100 ms cadence holds on a loaded machine.
* :class:`RaftSampler` runs one thread per front-end inside the host's network namespace and
  calls ``one.zone.raftstatus`` on the host's loopback every ``interval`` (a partition only
  filters ``eth0``, so an isolated host is still observed); a call that does not answer in
  time records the state ``None``.
* :class:`Timeline` holds both samplers and the marks a test sets (fault injected, released,
  healed); :func:`failover_figures` turns a window of it into the figures of a trial.

All times are ``time.monotonic()`` seconds; ``Timeline.to_dict`` adds the wall-clock time of
its start so a run can be lined up with logs. Stop the samplers (``with Timeline(lab) as
timeline: ...``) before the lab goes down: their sockets and threads keep namespaces alive.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
import xml.etree.ElementTree as ET
import xmlrpc.client
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from onelab import netns, topology
from onelab.network import link_up

RAFT_STATES = {0: "solo", 1: "candidate", 2: "follower", 3: "leader"}
ONE_AUTH = "/var/lib/one/.one/one_auth"
DEFAULT_INTERVAL = 0.1
#: Longer than any sampler call may take: samples are appended in time order up to this.
LATE_MARGIN = 5.0


@dataclass(frozen=True)
class VipSample:
    t: float
    holders: tuple[str, ...]
    #: Hosts with the VIP on ``eth0`` whose link is down (not holders).
    parked: tuple[str, ...] = ()


@dataclass(frozen=True)
class RaftSample:
    t: float
    host: str
    #: ``leader``, ``follower``, ``candidate``, ``solo``; None when oned did not answer.
    state: str | None
    term: int | None = None
    commit: int | None = None
    latency: float = 0.0


class _Sampler:
    """A background thread that calls :meth:`_sample` every ``interval`` seconds."""

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.samples: list = []
        self.errors: list[str] = []

    def _spawn(self, target, *args, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _ticks(self):
        """Yield at each multiple of ``interval`` until stopped (a late tick is skipped)."""
        next_tick = time.monotonic()
        while not self._stop.is_set():
            yield
            next_tick += self.interval
            now = time.monotonic()
            if next_tick < now:  # fell behind: keep the grid, drop the missed ticks
                next_tick += ((now - next_tick) // self.interval + 1) * self.interval
            self._stop.wait(next_tick - now)

    def snapshot(self) -> list:
        with self._lock:
            return list(self.samples)

    def last(self):
        with self._lock:
            return self.samples[-1] if self.samples else None

    def since(self, t: float) -> list:
        """Samples taken at ``t`` or later (the list is in time order but for threads that
        finished a call late; those lag by less than a call's timeout)."""
        with self._lock:
            samples = self.samples
            low = bisect.bisect_left(samples, t - LATE_MARGIN, key=lambda sample: sample.t)
            return [sample for sample in samples[low:] if sample.t >= t]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class RunnerEvents(_Sampler):
    """Watches the runner events (``salt/run/...``) on the lab master's event bus and hands
    each one to :meth:`_on_event`, reconnecting while the master is down (some faults stop
    it). ``salt``: the lab's Salt driver (``Lab.salt``)."""

    name = "runner-events"

    def __init__(self, salt):
        super().__init__(interval=1.0)
        self.salt = salt

    def start(self) -> None:
        self._spawn(self._run, name=self.name)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.salt._master_events() as events:
                    while not self._stop.is_set():
                        event = events.get_event(wait=1, tag="salt/run/", full=True)
                        if event:
                            self._on_event(event.get("tag", ""), event.get("data") or {})
            except Exception as exc:  # noqa: BLE001 - the master restarts during some faults
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                self._stop.wait(1.0)

    def _on_event(self, tag: str, data: dict) -> None:
        raise NotImplementedError


class VipSampler(_Sampler):
    """Records :class:`VipSample` every ``interval`` for the given front-ends."""

    def __init__(
        self,
        specs: Sequence[topology.HostSpec],
        *,
        vip: str = topology.VIP,
        interval: float = DEFAULT_INTERVAL,
        interface: str = "eth0",
    ):
        super().__init__(interval)
        self.specs = list(specs)
        self.vip = vip
        self.interface = interface
        self.samples: list[VipSample] = []
        self._readers: dict[str, netns.AddressReader] = {}

    def start(self) -> None:
        for spec in self.specs:
            self._readers[spec.name] = netns.AddressReader(spec.netns)
        self._spawn(self._run, name="vip-sampler")

    def look(self) -> VipSample:
        """One sample now (also usable without the background thread once started)."""
        t = time.monotonic()
        holders, parked = [], []
        for spec in self.specs:
            try:
                has_vip = self.vip in self._readers[spec.name].addresses(self.interface)
            except OSError as exc:
                self.errors.append(f"{spec.name}: {exc}")
                continue
            if has_vip:
                (holders if link_up(spec) else parked).append(spec.name)
        return VipSample(t, tuple(holders), tuple(parked))

    def _run(self) -> None:
        for _ in self._ticks():
            sample = self.look()
            with self._lock:
                self.samples.append(sample)

    def stop(self) -> None:
        super().stop()
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


class RaftSampler(_Sampler):
    """Records :class:`RaftSample` of every front-end's oned every ``interval``.

    ``auth`` maps a host name to the file holding its ``one_auth`` (``user:password``) as
    the machine sees it; it is read when a host is first asked and again after a refusal.
    """

    def __init__(
        self,
        specs: Sequence[topology.HostSpec],
        auth: dict[str, Path],
        *,
        port: int = 2633,
        interval: float = DEFAULT_INTERVAL,
        timeout: float = 0.5,
    ):
        super().__init__(interval)
        self.specs = list(specs)
        self.auth = auth
        self.port = port
        self.timeout = timeout
        self.samples: list[RaftSample] = []
        self._latest: dict[str, RaftSample] = {}

    def start(self) -> None:
        for spec in self.specs:
            self._spawn(self._run, spec, name=f"raft-sampler-{spec.name}")

    def _run(self, spec: topology.HostSpec) -> None:
        try:
            netns.enter(spec.netns)
        except OSError as exc:
            self.errors.append(f"{spec.name}: {exc}")
            return
        session: str | None = None
        url = f"http://127.0.0.1:{self.port}/RPC2"
        for _ in self._ticks():
            if session is None:
                session = _read_session(self.auth.get(spec.name))
            sample, refused = self._ask(spec.name, url, session)
            if refused:
                session = None
            with self._lock:
                self.samples.append(sample)
                self._latest[spec.name] = sample

    def _ask(self, name: str, url: str, session: str | None) -> tuple[RaftSample, bool]:
        t = time.monotonic()
        if session is None:
            return RaftSample(t, name, None), True
        fields, refused = raftstatus(url, session, self.timeout)
        latency = time.monotonic() - t
        if fields is None:
            return RaftSample(t, name, None, latency=latency), refused
        return (
            RaftSample(
                t,
                name,
                RAFT_STATES.get(fields["STATE"], "unknown"),
                fields["TERM"],
                fields.get("COMMIT"),
                latency,
            ),
            False,
        )

    def latest(self) -> dict[str, RaftSample]:
        """The most recent sample of each host."""
        with self._lock:
            return dict(self._latest)


def raftstatus(url: str, session: str, timeout: float) -> tuple[dict[str, int] | None, bool]:
    """``one.zone.raftstatus`` at ``url``: ``(fields as ints, refused)``.

    ``(None, True)`` when oned answered with an error (e.g. a refused session), ``(None,
    False)`` when it did not answer in ``timeout`` seconds or not with XML-RPC.
    """
    proxy = xmlrpc.client.ServerProxy(url, transport=_TimeoutTransport(timeout))
    try:
        reply = proxy.one.zone.raftstatus(session)
        if not reply[0]:
            return None, True
        return {child.tag: int(child.text) for child in ET.fromstring(reply[1])}, False
    except (OSError, xmlrpc.client.Error, ET.ParseError, ValueError, TypeError, IndexError):
        return None, False
    finally:
        proxy("close")()


@dataclass(frozen=True)
class ProbeSample:
    t: float
    #: SERVER_ID and Raft state of the oned that answered; None when nothing answered.
    server_id: int | None
    state: str | None
    latency: float = 0.0


class RpcProbe(_Sampler):
    """A client on a lab host calling ``one.zone.raftstatus`` at ``url`` every ``interval``.

    Through the VIP or a load balancer this shows which front-end answers a client (the
    call is answered by the oned that receives it, never forwarded). Runs in the network
    namespace ``netns`` (the client host's by default), so its traffic stays in the lab.
    """

    def __init__(
        self,
        url: str,
        auth: Path,
        *,
        netns: str = topology.CLIENT_HOST.netns,
        interval: float = DEFAULT_INTERVAL,
        timeout: float = 1.0,
    ):
        super().__init__(interval)
        self.url = url
        self.auth = auth
        self.netns = netns
        self.timeout = timeout
        self.samples: list[ProbeSample] = []

    def start(self) -> None:
        self._spawn(self._run, name="rpc-probe")

    def _run(self) -> None:
        try:
            netns.enter(self.netns)
        except OSError as exc:
            self.errors.append(str(exc))
            return
        session = None
        for _ in self._ticks():
            session = session or _read_session(self.auth)
            t = time.monotonic()
            fields, refused = raftstatus(self.url, session or "", self.timeout)
            if refused:
                session = None
            sample = ProbeSample(
                t,
                None if fields is None else fields["SERVER_ID"],
                None if fields is None else RAFT_STATES.get(fields["STATE"], "unknown"),
                time.monotonic() - t,
            )
            with self._lock:
                self.samples.append(sample)


def first_steady(samples: Sequence[ProbeSample], start: float, server_id: int) -> float | None:
    """The time of the first sample after ``start`` from which every sample that answered
    came from ``server_id`` as leader (None if the probe never settled there)."""
    found = None
    for sample in samples:
        if sample.t < start:
            continue
        if sample.server_id == server_id and sample.state == "leader":
            found = sample.t if found is None else found
        elif sample.server_id is not None:
            found = None
    return found


class _TimeoutTransport(xmlrpc.client.Transport):
    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = self._timeout
        return connection


def _read_session(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


# -- the timeline of a run ----------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    t: float
    label: str


class Timeline:
    """Both samplers over a lab's front-ends, plus marks; a context manager.

    >>> with Timeline(lab) as timeline:
    ...     start = timeline.mark("fault: kill oned on vmm01")
    ...     ...
    ...     figures = failover_figures(timeline, start=start, old_leader="vmm01")
    """

    def __init__(
        self, lab, *, interval: float = DEFAULT_INTERVAL, port: int = 2633, vip: bool = True
    ):
        #: Whether a healthy zone has the VIP on its leader (False: the no-VIP mode, where
        #: nobody may hold it).
        self.expect_vip = vip
        specs = [host.spec for host in lab.frontends]
        auth = {host.name: host.tree.path(ONE_AUTH) for host in lab.frontends}
        self.vip = VipSampler(specs, interval=interval)
        self.raft = RaftSampler(specs, auth, interval=interval, port=port)
        self.marks: list[Mark] = []
        self.started_wall = time.time()
        self.started = time.monotonic()

    def __enter__(self) -> Timeline:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.started_wall = time.time()
        self.started = time.monotonic()
        try:
            self.vip.start()
            self.raft.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.raft.stop()
        self.vip.stop()

    def mark(self, label: str) -> float:
        t = time.monotonic()
        self.marks.append(Mark(t, label))
        return t

    # -- conditions tests and benchmarks wait for --------------------------------------------

    def healthy(self, within: float = 1.0) -> str | None:
        """The leader if, in the last ``within`` seconds, every front-end answered, exactly
        one is leader, the others follow in its term, and the VIP is on it only (on nobody
        when the timeline does not expect a VIP)."""
        now = time.monotonic()
        latest = self.raft.latest()
        if len(latest) < len(self.raft.specs):
            return None
        if any(s.state is None or now - s.t > within for s in latest.values()):
            return None
        leaders = [s for s in latest.values() if s.state == "leader"]
        if len(leaders) != 1:
            return None
        term = leaders[0].term
        if any(
            s.state != "follower" or s.term != term for s in latest.values() if s not in leaders
        ):
            return None
        vip = self.vip.last()
        expected = (leaders[0].host,) if self.expect_vip else ()
        if vip is None or now - vip.t > within or vip.holders != expected:
            return None
        return leaders[0].host

    def wait_healthy(self, timeout: float, *, settle: float = 0.5) -> str:
        """Wait until :meth:`healthy` holds for ``settle`` seconds; return the leader."""
        deadline = time.monotonic() + timeout
        since: tuple[str, float] | None = None
        while True:
            leader = self.healthy()
            now = time.monotonic()
            if leader is None:
                since = None
            elif since is None or since[0] != leader:
                since = (leader, now)
            elif now - since[1] >= settle:
                return leader
            if now >= deadline:
                raise TimeoutError(f"no healthy zone after {timeout:g}s: {self.describe()}")
            time.sleep(self.vip.interval)

    def leader_now(self) -> str | None:
        leaders = [s.host for s in self.raft.latest().values() if s.state == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def describe(self) -> str:
        """The latest view in one line, for error messages."""
        latest = self.raft.latest()
        raft = ", ".join(f"{host}={s.state}/{s.term}" for host, s in sorted(latest.items()))
        vip = self.vip.last()
        holders = ",".join(vip.holders) if vip else "?"
        return f"raft: {raft or 'no samples'}; VIP on: {holders or 'nobody'}"

    def to_dict(self, start: float | None = None, end: float | None = None) -> dict:
        """JSON-friendly timeline (times relative to the start of the timeline)."""
        lo = start if start is not None else float("-inf")
        hi = end if end is not None else float("inf")

        def rel(t: float) -> float:
            return round(t - self.started, 3)

        return {
            "started_wall": self.started_wall,
            "interval_s": self.vip.interval,
            "marks": [{"t": rel(m.t), "label": m.label} for m in self.marks if lo <= m.t <= hi],
            "vip": [{**asdict(s), "t": rel(s.t)} for s in self.vip.snapshot() if lo <= s.t <= hi],
            "raft": [
                {**asdict(s), "t": rel(s.t), "latency": round(s.latency, 4)}
                for s in self.raft.snapshot()
                if lo <= s.t <= hi
            ],
        }


# -- figures of one trial -------------------------------------------------------------------------


@dataclass
class FailoverFigures:
    """What one fault trial showed, times in seconds from the fault (None: never happened)."""

    old_leader: str
    new_leader: str | None = None
    #: First sample in which another server reports state leader.
    new_leader_s: float | None = None
    #: First VIP sample with the new leader as its only holder.
    vip_new_leader_only_s: float | None = None
    #: The same, measured from ``new_leader_s`` (the fence's bound applies to this).
    vip_after_election_s: float | None = None
    vip_samples: int = 0
    two_holder_samples: int = 0
    two_holder_s: float = 0.0
    no_holder_s: float = 0.0
    max_holders: int = 0
    notes: list[str] = field(default_factory=list)

    def as_row(self) -> dict:
        def r(value):
            return None if value is None else round(value, 2)

        return {
            "old_leader": self.old_leader,
            "new_leader": self.new_leader,
            "new_leader_s": r(self.new_leader_s),
            "vip_new_leader_only_s": r(self.vip_new_leader_only_s),
            "vip_after_election_s": r(self.vip_after_election_s),
            "two_holder_samples": self.two_holder_samples,
            "two_holder_s": r(self.two_holder_s),
            "no_holder_s": r(self.no_holder_s),
            "max_holders": self.max_holders,
            "vip_samples": self.vip_samples,
        }


def failover_figures(
    vip_samples: Iterable[VipSample],
    raft_samples: Iterable[RaftSample],
    *,
    start: float,
    old_leader: str,
    end: float | None = None,
) -> FailoverFigures:
    """Figures of the window ``[start, end]`` (``start`` = the moment of the fault).

    Each VIP sample stands for the time until the next one (the last one for nothing), so
    ``two_holder_s`` and ``no_holder_s`` are sums of sample intervals.
    """
    hi = end if end is not None else float("inf")
    vip = [s for s in vip_samples if start <= s.t <= hi]
    raft = sorted((s for s in raft_samples if start <= s.t <= hi), key=lambda s: s.t)
    figures = FailoverFigures(old_leader=old_leader, vip_samples=len(vip))
    for index, sample in enumerate(vip):
        span = vip[index + 1].t - sample.t if index + 1 < len(vip) else 0.0
        count = len(sample.holders)
        figures.max_holders = max(figures.max_holders, count)
        if count >= 2:
            figures.two_holder_samples += 1
            figures.two_holder_s += span
        elif count == 0:
            figures.no_holder_s += span
    elected = next((s for s in raft if s.state == "leader" and s.host != old_leader), None)
    if elected is None:
        return figures
    figures.new_leader = elected.host
    figures.new_leader_s = elected.t - start
    only = next((s for s in vip if s.holders == (elected.host,)), None)
    if only is not None:
        figures.vip_new_leader_only_s = only.t - start
        figures.vip_after_election_s = only.t - elected.t
    return figures


def figures_of(timeline: Timeline, *, start: float, old_leader: str, end: float | None = None):
    """:func:`failover_figures` over a :class:`Timeline`."""
    return failover_figures(
        timeline.vip.since(start), timeline.raft.since(start), start=start, end=end,
        old_leader=old_leader,
    )  # fmt: skip
