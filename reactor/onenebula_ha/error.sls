# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Reaction to salt/beacon/<minion>/onenebula_raft/error (sent by the zone leader's
    onenebula_raft beacon for a server that stayed in error, or a follower stuck behind
    the leader's log) and salt/beacon/<minion>/onenebula_raft/database (a follower whose
    own database is missing or lacks a table).

    The event is a trigger, not evidence: the runner's onenebula_ha.error_reaction only
    checks that it comes from and names known front-ends and that the repair lock (stored
    on the master, never taken or released by an event) is free and the server is not
    backing off after a failed repair; then it starts
        runner.state.orchestrate onenebula_ha.orch.repair pillar={target: <minion>}
    which asks every front-end itself before it changes anything (onenebula_ha.plan).

    Settings: the master's `onenebula_ha_reactor` configuration (repair, frontends,
    repair_lock_ttl), written by the onenebula_ha.salt.master state. Events from unknown
    minions, about unknown servers or with malformed data are logged and ignored. #}
{%- for reaction in salt['saltutil.runner']('onenebula_ha.error_reaction', tag=tag, event=data) if reaction is mapping %}

{{ reaction.id }}:
  runner.state.orchestrate:
    - args:
        - mods: {{ reaction.mods }}
        - pillar: {{ reaction.pillar | json }}
{%- endfor %}
