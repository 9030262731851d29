"""bench._forks counts the processes watched processes start, from the kernel's process
events, and leaves out threads and unwatched processes."""

import os
import subprocess
import threading

import pytest

from bench._forks import ForkCounter, process_events
from onelab.proc import wait_until

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the process events connector needs root")


@needs_root
def test_a_started_command_counts_and_a_thread_does_not():
    with ForkCounter({"me": {os.getpid()}}) as counter:
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        subprocess.run(["true"], check=True)
        wait_until(lambda: counter.counts["me"] >= 1, timeout=10, what="the fork event")
        # Events arrive in order: a second command counted means the thread's was read too.
        subprocess.run(["true"], check=True)
        wait_until(lambda: counter.counts["me"] >= 2, timeout=10, what="the second fork event")
    assert counter.counts == {"me": 2}


@needs_root
def test_a_shell_commands_count_for_the_group_that_started_the_shell():
    with ForkCounter({"me": {os.getpid()}, "other": {1}}) as counter:
        subprocess.run(["sh", "-c", "true & wait; true & wait"], check=True)
        wait_until(lambda: counter.counts["me"] >= 3, timeout=10, what="the shell's children")
    assert counter.counts["me"] == 3  # the shell and its two background commands


def test_a_datagram_yields_new_processes_and_programs_started():
    from bench import _forks

    def datagram(what, payload):
        event = _forks.EVENT_HEADER.pack(what, 0, 0) + payload
        body = _forks.CN_MSG.pack(1, 1, 0, 0, len(event), 0) + event
        return _forks.NLMSGHDR.pack(_forks.NLMSGHDR.size + len(body), 3, 0, 0, 0) + body

    def fork(parent, child_pid, child_tgid):
        return datagram(
            _forks.PROC_EVENT_FORK, _forks.FORK.pack(parent, parent, child_pid, child_tgid)
        )

    data = (
        fork(10, 11, 11)
        + fork(10, 12, 10)
        + datagram(_forks.PROC_EVENT_EXEC, _forks.EXEC.pack(11, 11))
        + fork(20, 21, 21)
    )
    assert list(process_events(data)) == [("fork", 10, 11), ("exec", 11), ("fork", 20, 21)]


@needs_root
def test_the_programs_a_group_runs_are_named():
    # A program that lives until its name was read (a gone one would count as "?").
    with (
        ForkCounter({"me": {os.getpid()}}) as counter,
        subprocess.Popen(["sleep", "30"]) as sleeper,
    ):
        try:
            wait_until(lambda: counter.programs["me"], timeout=10, what="the sleep's exec event")
        finally:
            sleeper.kill()
    assert counter.programs["me"] == {"sleep": 1}
