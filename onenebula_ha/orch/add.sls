# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Join one new server of the pillar to a running zone (scale up one step):
      salt-run state.orchestrate onenebula_ha.orch.add [pillar='{"target": "vmm04"}']
    Without a target, the first pillar server (in pillar order, normally the last one
    listed) that is not a healthy member joins. Its SSH key is authorised on the other
    front-ends, it gets the base state and the leader's secrets, the members' fencing
    agents are given the grown server list (before it can vote), then it joins like in the
    deploy: fresh backup, restore, server-add on the leader, SERVER_ID and start, wait.
    The decisions (who leads, what to do next, what to refuse) are the runner's planner
    onenebula_ha.plan (add); this file runs the steps it returns, each requiring the one
    before it. #}
{%- from tpldir.split('/')[0] ~ "/map.jinja" import onenebula_ha as settings %}
{%- set plan = salt['saltutil.runner']('onenebula_ha.plan', action='add', target=pillar.get('target'), force=pillar.get('force', False),
      servers=settings.servers, zone=settings.zone.id, wait=settings.deploy.wait_timeout, platform=salt['onenebula_platform.requirement'](settings)) %}
{{- raise((plan.error if plan is mapping else none) or 'onenebula_ha add: runner onenebula_ha.plan failed (synced?): ' ~ plan)
      if plan is not mapping or plan.error }}

onenebula_ha-orch-add-test-show_notification:
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
