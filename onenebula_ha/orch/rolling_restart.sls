# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Restart oned on every member, one at a time, to apply oned.conf changes:
      salt-run state.orchestrate onenebula_ha.orch.rolling_restart
    Followers first (pillar order), the leader last (the others elect a new leader; its
    hooks move the VIP), waiting for a healthy zone after each. Starts only from a
    healthy zone (pillar force: true skips that check).
    The decisions (who leads, what to do next, what to refuse) are the runner's planner
    onenebula_ha.plan (rolling_restart); this file runs the steps it returns, each requiring the one
    before it. #}
{%- from tpldir.split('/')[0] ~ "/map.jinja" import onenebula_ha %}
{%- set plan = salt['saltutil.runner']('onenebula_ha.plan', action='rolling_restart', target=pillar.get('target'),
      force=pillar.get('force', False), servers=onenebula_ha.servers, zone=onenebula_ha.zone.id, wait=onenebula_ha.deploy.wait_timeout) %}
{{- raise((plan.error if plan is mapping else none) or 'onenebula_ha rolling_restart: runner onenebula_ha.plan failed (synced?): ' ~ plan)
      if plan is not mapping or plan.error }}

onenebula_ha-orch-rolling_restart-test-show_notification:
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
