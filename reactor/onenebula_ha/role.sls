# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Reaction to salt/beacon/<minion>/onenebula_raft/role (the onenebula_raft beacon).

    A front-end that reports it became the Raft leader gets the floating IP checked:
    the onenebula_ha.orch.remediate_vip orchestration puts the VIP on it and takes it off
    every other front-end. The Raft hooks move the VIP themselves; this is the safety net.

    The decision is the runner's onenebula_ha.role_reaction (it logs why it ignores an
    event: unknown minion, malformed data, a server id the pillar does not give that
    minion); this file starts what it returns. Settings: the master's
    `onenebula_ha_reactor` configuration, written from the pillar by the
    onenebula_ha.salt.master state (move_vip, frontends). Beacon events reach the reactor
    with the beacon's dict as `data` plus `id` (not under data['data']). #}
{%- for reaction in salt['saltutil.runner']('onenebula_ha.role_reaction', tag=tag, event=data) if reaction is mapping %}

{{ reaction.id }}:
  runner.state.orchestrate:
    - args:
        - mods: {{ reaction.mods }}
        - pillar: {{ reaction.pillar | json }}
{%- endfor %}
