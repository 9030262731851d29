"""Masterless ``salt-call --local`` against the repository's state tree, for tests.

Each instance has its own minion config and pillar tree in a directory of its own, so pillars
can be varied freely without touching the machine's Salt configuration.
"""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from onelab.saltconfig import build_state_tree

SALT_CALL = str(Path(sys.executable).with_name("salt-call"))


class LocalSalt:
    def __init__(self, root: Path, repo_root: Path, minion_id: str = "vmm01"):
        self.root = root
        self.conf_dir = root / "conf"
        self.pillar_dir = root / "pillar"
        self.conf_dir.mkdir(parents=True)
        self.pillar_dir.mkdir()
        config = {
            "id": minion_id,
            "file_client": "local",
            "root_dir": str(root / "root"),
            # Links to the formula's trees, not the checkout: a file server walking the
            # venvs (.venv, .venv-compat) takes seconds per listing on a loaded machine.
            "file_roots": {"base": [str(build_state_tree(repo_root, root / "tree"))]},
            "pillar_roots": {"base": [str(self.pillar_dir)]},
            "log_level_logfile": "quiet",
            # As the lab's minions (onelab.saltconfig): a lookup of a function no module
            # has loads only the modules whose file name holds the name, not every module
            # (seconds per salt-call with a service state on a host without systemd).
            "lazy_loader_strict_matching": True,
        }
        (self.conf_dir / "minion").write_text(yaml.safe_dump(config))
        (self.pillar_dir / "top.sls").write_text("base:\n  '*':\n    - onenebula_ha\n")

    def set_pillar(self, pillar: dict):
        (self.pillar_dir / "onenebula_ha.sls").write_text(yaml.safe_dump(pillar))

    def call(self, *args):
        proc = subprocess.run(
            [SALT_CALL, "--local", "-l", "quiet", "-c", str(self.conf_dir), "--out=json", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        try:
            data = json.loads(proc.stdout)["local"]
        except (json.JSONDecodeError, KeyError):
            data = None
        return proc.returncode, data, proc.stdout + proc.stderr

    __call__ = call
