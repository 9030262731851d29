"""bench._forks counts the processes watched processes start, from the kernel's process
events, and leaves out threads and unwatched processes."""

import os
import subprocess
import threading

import pytest

from bench._forks import ForkCounter, new_processes
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


def test_a_datagram_yields_processes_only():
    from bench import _forks

    def fork(parent, child_pid, child_tgid):
        event = _forks.EVENT_HEADER.pack(_forks.PROC_EVENT_FORK, 0, 0) + _forks.FORK.pack(
            parent, parent, child_pid, child_tgid
        )
        body = _forks.CN_MSG.pack(1, 1, 0, 0, len(event), 0) + event
        return _forks.NLMSGHDR.pack(_forks.NLMSGHDR.size + len(body), 3, 0, 0, 0) + body

    data = fork(10, 11, 11) + fork(10, 12, 10) + fork(20, 21, 21)
    assert list(new_processes(data)) == [(10, 11), (20, 21)]
