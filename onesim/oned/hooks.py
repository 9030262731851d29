"""RAFT_LEADER_HOOK / RAFT_FOLLOWER_HOOK: how the command is resolved and run.

Like oned's ExecuteHook: a relative COMMAND becomes ``<remotes>/hooks/<COMMAND>`` by plain
concatenation (hence the ``//`` seen in real logs), ARGUMENTS are split on whitespace without
any quoting (at most 49), argv[0] is the COMMAND as written, stdin is /dev/null, the hook runs
in a detached thread and its exit status is only logged.
"""

from __future__ import annotations

import os
import subprocess
import threading

from onesim.config import HookConfig
from onesim.oned.log import OnedLog

__all__ = ["HookRunner", "hook_argv", "resolve_command"]

MAX_ARGUMENTS = 49
#: Exit status reported when the hook cannot be executed at all (the child's ``exit(-1)``).
EXEC_FAILURE_STATUS = 255


def resolve_command(command: str, remotes: str) -> str:
    """The path oned executes for ``command``."""
    if command.startswith("/"):
        return command
    return f"{remotes}/hooks/{command}"


def hook_argv(hook: HookConfig) -> list[str]:
    return [hook.command, *hook.arguments.split()[:MAX_ARGUMENTS]]


class HookRunner:
    """Runs the configured hooks asynchronously and logs their results under ``[HKM]``."""

    def __init__(
        self,
        leader: HookConfig | None,
        follower: HookConfig | None,
        remotes: str,
        log: OnedLog,
        env: dict[str, str] | None = None,
    ):
        self._hooks = {"leader": leader, "follower": follower}
        self._remotes = remotes
        self._log = log
        self._env = env
        self._threads: list[threading.Thread] = []

    def configured(self, which: str) -> bool:
        return self._hooks[which] is not None

    def run(self, which: str) -> None:
        """Start hook ``which`` ("leader" or "follower") in a detached thread."""
        hook = self._hooks[which]
        if hook is None:
            return
        thread = threading.Thread(target=self._execute, args=(hook,), daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def spawn_detached(self, which: str) -> None:
        """Start the hook so that it outlives oned (used while shutting down)."""
        hook = self._hooks[which]
        if hook is None:
            return
        try:
            subprocess.Popen(
                hook_argv(hook),
                executable=resolve_command(hook.command, self._remotes),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=self._env,
            )
        except OSError as exc:
            self._log.info("HKM", f"Hook: {hook.name}, execution error ({EXEC_FAILURE_STATUS}).")
            self._log.info("HKM", f"Hook stderr: {exc}")

    def wait(self, timeout: float) -> None:
        """Wait for running hooks (tests and shutdown use it; oned itself never waits)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _execute(self, hook: HookConfig) -> None:
        path = resolve_command(hook.command, self._remotes)
        try:
            result = subprocess.run(
                hook_argv(hook),
                executable=path,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=self._env,
                check=False,
            )
            status, out, err = result.returncode, result.stdout, result.stderr
        except OSError as exc:
            status, out, err = EXEC_FAILURE_STATUS, "", f"{path}: {os.strerror(exc.errno or 0)}"
        if status == 0:
            self._log.info("HKM", f"Hook: {hook.name}, successfully executed.")
        else:
            self._log.info("HKM", f"Hook: {hook.name}, execution error ({status}).")
        if out.strip():
            self._log.info("HKM", f"Hook stdout: {out.strip()}")
        if err.strip():
            self._log.info("HKM", f"Hook stderr: {err.strip()}")
