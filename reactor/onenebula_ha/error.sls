# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Reaction to salt/beacon/<minion>/onenebula_raft/error (sent by the zone leader's
    onenebula_raft beacon for a server that stayed in error).

    Starts the repair orchestration for that server's minion:
        runner.state.orchestrate onenebula_ha.orch.repair pillar={target: <minion>}

    The decision is the runner's onenebula_ha.repair_claim: one repair at a time, by a
    lock in the master's datastore (`data` module, key onenebula_ha_repair_lock: target,
    server_id, name, started, reporter). While the locked server is still in error (the
    event's `in_error` list) and the lock is younger than repair_lock_ttl seconds, no
    other repair starts; the lock passes on once the locked server has recovered or the
    lock has expired. Reactions are rendered one after the other by the master's single
    reactor process, and the runner is called while this file renders, so the
    check-and-take is not racy. Release it by hand with:
        salt-run salt.cmd data.pop onenebula_ha_repair_lock

    Settings: the master's `onenebula_ha_reactor` configuration (repair, frontends,
    repair_lock_ttl), written by the onenebula_ha.salt.master state. Events from unknown
    minions, about unknown servers or with malformed data are logged and ignored. #}
{%- for reaction in salt['saltutil.runner']('onenebula_ha.repair_claim', tag=tag, event=data) if reaction is mapping %}

{{ reaction.id }}:
  runner.state.orchestrate:
    - args:
        - mods: {{ reaction.mods }}
        - pillar: {{ reaction.pillar | json }}
{%- endfor %}
