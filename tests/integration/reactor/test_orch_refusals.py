"""``salt-run state.orchestrate onenebula_ha.orch.deploy`` on the real master: the runner's
planner reads every front-end's grains through the master before the first step and refuses
the whole deploy when one cannot run the front-end, so no minion gets a state run."""

import time

from onelab.proc import wait_until


def test_deploy_with_a_front_end_of_unknown_platform_changes_no_minion(
    event_listener, master, minion
):
    # The pillar's front-ends: ohr-fe1 has a minion (this host's OS); ohr-fe2 and ohr-fe3
    # have none, so their grains cannot be read. pillar.example installs from OpenNebula's
    # repositories, so every front-end's platform matters.
    started = time.time()
    ret = master.salt_run_cli(timeout=180).run("state.orchestrate", "onenebula_ha.orch.deploy")
    assert ret.returncode != 0, ret
    output = ret.stdout + ret.stderr
    assert "onenebula_ha deploy: unsupported platform, nothing changed: " in output, output
    assert "ohr-fe2, ohr-fe3 has unreadable grains (Minion did not return" in output, output
    assert "so its platform is unknown" in output, output

    def jobs():
        return [
            (event.data.get("fun"), event.data.get("minions"))
            for event in event_listener.get_events([(master.id, "salt/job/*/new")], started)
        ]

    # The master asked the minion for its grains just now (the planner's last query; the
    # event bus keeps the order, so every job published before it has arrived too) ...
    published = wait_until(
        lambda: (found := jobs()) and ("grains.items", ["ohr-fe1"]) in found and found,
        timeout=30,
        what="the grains.items job's event",
    )
    # ... and ran no state anywhere.
    assert not [job for job in published if str(job[0]).startswith("state.")], published
