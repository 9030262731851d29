# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Safety net for the floating IP after a leader change. Started by the reactor on a
    `role` event to `leader` (reactor/onenebula_ha/role.sls), or by hand:

      salt-run state.orchestrate onenebula_ha.orch.remediate_vip \
          pillar='{"onenebula_ha_vip": {"leader": "vmm02", "term": 7}}'

    The Raft hooks move the VIP on their own; this makes sure it ended up on the leader
    and nowhere else. The runner's planner onenebula_ha.vip_plan asks every front-end,
    with plain execution module calls (no state run that could collide with a
    deployment's), for its Raft status and whether it holds the VIP, and decides:
      1. each other front-end that holds the VIP runs the VIP hook's follower action
         (it is not the leader of this term: a stale leader keeps state 3);
      2. the leader runs the hook's leader action if it lacks the VIP.
    Nothing is done when the named minion is not the leader of that term (or a later
    one) any more, or another front-end leads in a newer term: the role event of the
    newer leader covers it. The hook actions are idempotent; each step runs one through
    onenebula_vip.hook on its minion, which first asks that host's own oned again and
    acts only if the fresh answer still fits the plan (the answers behind it may be
    seconds old), as the hook's user (runuser, as oned would).

    Settings: the master's `onenebula_ha_reactor` configuration written by the
    onenebula_ha.salt.master state (frontends, vip, hook, query_timeout). #}
{%- set plan = salt['saltutil.runner']('onenebula_ha.vip_plan', request=salt['pillar.get']('onenebula_ha_vip', {})) %}
{{- raise('onenebula_ha remediate_vip: runner onenebula_ha.vip_plan failed (synced?): ' ~ plan) if plan is not mapping }}

onenebula_ha-orch-remediate_vip-test-show_notification:
  test.show_notification:
    - text: {{ plan.notes | join('; ') | json }}
{%- for action in plan.actions %}

onenebula_ha-orch-remediate_vip-salt-function-{{ action.action }}-{{ action.minion }}:
  salt.function:
    - name: onenebula_vip.hook
    - tgt: {{ action.minion | json }}
    - tgt_type: list
    - kwarg: {{ action.hook | json }}
{%- endfor %}
