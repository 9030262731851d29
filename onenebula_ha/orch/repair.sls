# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Repair a follower that is in error or has fallen out of the leader's log window
    (OpenNebula's recovery procedure):
      salt-run state.orchestrate onenebula_ha.orch.repair pillar='{"target": "vmm03"}'
    Fresh backup on the leader, stop + restore on the target (its old DB is kept), start,
    onezone server-reset on the leader, wait for a healthy zone. A target that is already
    a caught-up follower is left alone (pillar force: true repairs it anyway). Two
    repairs of one server cannot overlap: Salt refuses a second state run on a minion
    while one is running, and the membership states take a host lock.
    The decisions (who leads, what to do next, what to refuse) are the runner's planner
    onenebula_ha.plan (repair); this file runs the steps it returns, each requiring the one
    before it. #}
{%- from tpldir.split('/')[0] ~ "/map.jinja" import onenebula_ha %}
{%- set plan = salt['saltutil.runner']('onenebula_ha.plan', action='repair', target=pillar.get('target'),
      force=pillar.get('force', False), servers=onenebula_ha.servers, zone=onenebula_ha.zone.id, wait=onenebula_ha.deploy.wait_timeout) %}
{{- raise(plan.error or 'onenebula_ha repair: runner onenebula_ha.plan failed (synced?): ' ~ plan)
      if plan is not mapping or plan.error }}

onenebula_ha-orch-repair-test-show_notification:
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
