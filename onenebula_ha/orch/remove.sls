# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Remove one server from the zone (scale down one step; 5 -> 3 is two runs and keeps
    the quorum throughout):
      salt-run state.orchestrate onenebula_ha.orch.remove pillar='{"target": "vmm05"}'
    The target is a minion id or a zone server name (it may already be gone from
    onenebula_ha:servers). OpenNebula's rule: stop it first (SERVER_ID set back to -1,
    no start at boot), wait until the rest of the zone has a leader, then server-del on
    the leader. With pillar force: true an unreachable target minion is skipped (only
    when you know its oned is down).
    The decisions (who leads, what to do next, what to refuse) are the runner's planner
    onenebula_ha.plan (remove); this file runs the steps it returns, each requiring the one
    before it. #}
{%- from tpldir.split('/')[0] ~ "/map.jinja" import onenebula_ha %}
{%- set plan = salt['saltutil.runner']('onenebula_ha.plan', action='remove', target=pillar.get('target'),
      force=pillar.get('force', False), servers=onenebula_ha.servers, zone=onenebula_ha.zone.id, wait=onenebula_ha.deploy.wait_timeout) %}
{{- raise((plan.error if plan is mapping else none) or 'onenebula_ha remove: runner onenebula_ha.plan failed (synced?): ' ~ plan)
      if plan is not mapping or plan.error }}

onenebula_ha-orch-remove-test-show_notification:
  test.show_notification:
    - text: {{ plan.notes | join('; ') | json }}
{%- for step in plan.steps %}

{{ step.id }}:
  salt.state:
    - name: {{ step.label | json }}
    - tgt: {{ step.tgt | join(',') | json }}
    - tgt_type: list
    - sls: {{ step.sls | json }}
    - expect_minions: true
    - pillar:
        onenebula_ha_run: {{ step.run | json }}
    - require: {{ step.require | json }}
{%- endfor %}
