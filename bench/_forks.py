"""Processes (not threads) that watched processes start, from the kernel's process events.

A PID namespace's ``ns_last_pid`` counts every task the kernel hands a PID to, threads
included, so a host whose oned starts a thread per XML-RPC connection looks as if its
pollers spawned processes. The process events connector (netlink ``NETLINK_CONNECTOR``,
``CN_IDX_PROC``; ``linux/cn_proc.h``) reports each fork with the parent's and the child's
thread-group ids: a new process is a fork whose child is its own thread-group leader. It
needs ``CAP_NET_ADMIN`` (the lab runs as root) and reports PIDs of the initial namespace,
the ones ``/proc`` shows outside the lab's hosts.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
NLMSG_DONE = 3

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
EVENT_HEADER = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
FORK = struct.Struct("=IIII")  # parent pid, parent tgid, child pid, child tgid
EXEC = struct.Struct("=II")  # pid, tgid


def process_events(data: bytes):
    """The events of one netlink datagram that matter here: ``("fork", parent_tgid,
    child_tgid)`` for each fork that made a process (forks that made a thread, child pid !=
    child tgid, are left out) and ``("exec", tgid)`` for each program a process started."""
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length = NLMSGHDR.unpack_from(data, offset)[0]
        if length < NLMSGHDR.size:
            return
        event = offset + NLMSGHDR.size + CN_MSG.size
        body = event + EVENT_HEADER.size
        if body <= offset + length:
            what = EVENT_HEADER.unpack_from(data, event)[0]
            if what == PROC_EVENT_FORK and body + FORK.size <= offset + length:
                _, parent_tgid, child_pid, child_tgid = FORK.unpack_from(data, body)
                if child_pid == child_tgid:
                    yield "fork", parent_tgid, child_tgid
            elif what == PROC_EVENT_EXEC and body + EXEC.size <= offset + length:
                yield "exec", EXEC.unpack_from(data, body)[1]
        offset += (length + 3) & ~3  # NLMSG_ALIGN


def program_name(tgid: int) -> str:
    """The name of the program ``tgid`` runs (``/proc/<pid>/comm``); ``?`` once it is gone."""
    try:
        with open(f"/proc/{tgid}/comm", encoding="utf-8", errors="replace") as comm:
            return comm.read().strip() or "?"
    except OSError:
        return "?"


def _control(operation: int) -> bytes:
    payload = struct.pack("=I", operation)
    message = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return NLMSGHDR.pack(NLMSGHDR.size + len(message), NLMSG_DONE, 0, 0, os.getpid()) + message


class ForkCounter:
    """Count, per group, the processes started by the group's processes or by processes
    they started (a shell's command counts too) while the counter runs.

    ``groups`` maps a group name to the PIDs (thread-group ids) watched at the start::

        with ForkCounter({"agent": {412}, "minion": {388, 390}}) as counter:
            ...
        counter.counts    # {"agent": 0, "minion": 3}
        counter.programs  # {"agent": {}, "minion": {"ss": 2}}  (what they ran)
    """

    def __init__(self, groups: dict[str, set[int]]):
        self._owner = {pid: group for group, pids in groups.items() for pid in pids}
        self.counts = {group: 0 for group in groups}
        # Per group, how many times each program was started (exec) by a watched process.
        self.programs: dict[str, dict[str, int]] = {group: {} for group in groups}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ForkCounter:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((0, CN_IDX_PROC))
        sock.send(_control(PROC_CN_MCAST_LISTEN))
        self._sock = sock
        self._thread = threading.Thread(target=self._read, name="fork-counter", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self._sock.send(_control(PROC_CN_MCAST_IGNORE))
        finally:
            self._sock.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._sock], [], [], 0.2)
            if not ready:
                continue
            data = self._sock.recv(65536)
            with self._lock:
                for kind, *pids in process_events(data):
                    if kind == "fork":
                        parent, child = pids
                        group = self._owner.get(parent)
                        if group is not None:
                            self.counts[group] += 1
                            self._owner[child] = group
                    elif (group := self._owner.get(pids[0])) is not None:
                        programs = self.programs[group]
                        name = program_name(pids[0])
                        programs[name] = programs.get(name, 0) + 1
