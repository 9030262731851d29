"""PID 1 of a lab host: builds the host's private file-system view, then reaps orphans.

The lab starts this script (standard library only, run with ``python3 -I``) as the first
process of a new PID, mount, UTS and IPC namespace inside the host's network namespace::

    ip netns exec oneha-vmm01 unshare --mount --uts --ipc --pid --fork --mount-proc \
        --propagation private python3 -I hostinit.py /run/onelab/hosts/vmm01/init.json

Being PID 1 of its own PID namespace gives each host what a VM has and a plain network
namespace lacks: daemons started by init scripts are reparented to this process and reaped at
once (no zombie oned that still "answers" ``kill -0``), ``killall``/``pgrep`` in one host never
touch another host, and killing this process kills everything in the host at once (the kernel
does it), which is how the lab models a power cut.

The JSON file names the host name, the mounts to make (in order) and a ``ready`` file this
process writes when the view is complete (``ok``) or when building it failed
(``error: <reason>``).
"""

import json
import os
import signal
import socket
import subprocess
import sys

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def _mount_argv(spec: dict) -> list[str]:
    kind = spec["kind"]
    if kind == "bind":
        return ["mount", "--bind", spec["source"], spec["target"]]
    if kind == "overlay":
        options = "lowerdir={lower},upperdir={upper},workdir={work}".format(**spec)
        return ["mount", "-t", "overlay", "overlay", "-o", options, spec["target"]]
    if kind == "tmpfs":
        return [
            "mount",
            "-t",
            "tmpfs",
            "-o",
            spec.get("options", "mode=755"),
            "tmpfs",
            spec["target"],
        ]
    raise ValueError(f"unknown mount kind {kind!r}")


def build_view(config: dict) -> None:
    """Make every mount of the host's private view and set its host name."""
    for spec in config["mounts"]:
        if spec.get("create"):
            # A mount point inside a private directory the previous mounts just made.
            os.makedirs(spec["target"], exist_ok=True)
        argv = _mount_argv(spec)
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    _detach_other_netns_handles()
    socket.sethostname(config["hostname"])


def _detach_other_netns_handles() -> None:
    """Drop the copies of /run/netns/* mounts this mount namespace inherited.

    Each copy pins another host's network namespace: without this, deleting a namespace
    while other hosts run would keep it (and its veth) alive behind the lab's back.
    """
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        targets = [line.split()[1] for line in handle]
    for target in reversed(targets):
        if target.startswith("/run/netns/"):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def _write_ready(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    os.replace(tmp, path)


def _reap_all() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _ignore(_signum, _frame) -> None:
    """Placeholder handler: the signals are consumed by ``sigtimedwait``."""


def reap_forever() -> None:
    """Reap every orphan of the host until asked to stop (then the whole host dies with us)."""
    watched = _STOP_SIGNALS | {signal.SIGCHLD}
    # A PID-namespace init drops default-action signals sent from inside its namespace: give
    # them a handler so ``kill -TERM 1`` in the host is honoured too.
    for signum in watched:
        signal.signal(signum, _ignore)
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    while True:
        _reap_all()
        info = signal.sigtimedwait(watched, 5.0)
        if info is not None and info.si_signo in _STOP_SIGNALS:
            return


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    try:
        build_view(config)
    except Exception as exc:  # report any failure to the lab, which is waiting on the file
        _write_ready(config["ready_file"], f"error: {exc}")
        return 1
    _write_ready(config["ready_file"], "ok")
    reap_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
