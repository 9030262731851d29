"""No SLS of the formula hands Salt an ``unless``, ``onlyif`` or ``creates``.

Salt (3008) answers these by looking up ``<state>.mod_run_check``, which no state module
defines; the miss makes the loader import every state module, and their ``__virtual__``
functions every execution module: seconds of CPU in each state run that has one (the
ssh-keygen's ``creates`` cost 3.6 s on an idle core, 8 s in a loaded lab). The formula
decides such conditions in Jinja instead (e.g. ``file.file_exists``), before the state is
rendered. The one exception: the fencing agent's ``service.dead`` when the agent is off.
"""

import re

RUN_CHECK = re.compile(r"^\s*-\s*(unless|onlyif|creates)\s*:", re.MULTILINE)
ALLOWED = {("fence/init.sls", "onlyif")}


def test_no_state_uses_a_run_check(repo_root):
    found = sorted(
        (str(path.relative_to(repo_root / "onenebula_ha")), match.group(1))
        for path in (repo_root / "onenebula_ha").rglob("*.sls")
        for match in RUN_CHECK.finditer(path.read_text())
    )
    assert set(found) <= ALLOWED, found
    # The guard sees what it looks for (the one allowed use is there).
    assert ("fence/init.sls", "onlyif") in found
