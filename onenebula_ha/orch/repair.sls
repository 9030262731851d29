# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Repair a follower that is in error or has fallen out of the leader's log window
    (OpenNebula's recovery procedure):
      salt-run state.orchestrate onenebula_ha.orch.repair pillar='{"target": "vmm03"}'
    Also started by the reactor on a beacon `error` event, which only names the server.
    The runner's planner onenebula_ha.plan (repair) asks every front-end itself and
    repairs only when a majority agrees on one leader in one term, and that leader sees
    the target in error (or stuck behind its log): otherwise nothing is done and the
    reason is shown and logged. It takes the one repair lock (not in test mode).
    Steps: fresh backup on that leader, a fresh check, stop + restore on the target (its
    old DB is kept), start, a fresh check, onezone server-reset on the leader, wait for a
    healthy zone; then the lock is released, also when a step failed (that target then
    backs off: 30 s, doubling, at most 10 min). The reset and the health check wait up to
    deploy:wait_timeout on the leader: the master waits that long plus a margin for their
    return (salt.state timeout; null, Salt's default, for the other steps). When it stops before the restore pulled
    the dump, the dump is deleted on the leader (ha.discard). Besides a server in error or
    stuck, a follower whose database the master finds missing or lacking a table (the
    beacon's `database` event) is repaired. pillar force: true repairs a caught-up
    follower anyway. #}
{%- from tpldir.split('/')[0] ~ "/map.jinja" import onenebula_ha %}
{%- set plan = salt['saltutil.runner']('onenebula_ha.plan', action='repair', target=pillar.get('target'),
      force=pillar.get('force', False), servers=onenebula_ha.servers, zone=onenebula_ha.zone.id, wait=onenebula_ha.deploy.wait_timeout, claim=not opts.test) %}
{{- raise((plan.error if plan is mapping else none) or 'onenebula_ha repair: runner onenebula_ha.plan failed (synced?): ' ~ plan)
      if plan is not mapping or plan.error }}

onenebula_ha-orch-repair-test-show_notification:
  test.show_notification:
    - text: {{ plan.notes | join('; ') | json }}
{%- for step in plan.steps if step.get('kind') != 'runner' %}

{{ step.id }}:
  salt.state:
    - name: {{ step.label | json }}
    - tgt: {{ step.tgt | join(',') | json }}
    - tgt_type: list
    - sls: {{ step.sls | json }}
    - expect_minions: true
    - timeout: {{ step.get('job_timeout') | json }}
    - pillar:
        onenebula_ha_run: {{ step.run | json }}
    - require: {{ step.require | json }}
    - onfail: {{ step.get('onfail', []) | json }}
{%- endfor %}
{%- for step in plan.steps if step.get('kind') == 'runner' %}

{{ step.id }}:
  salt.runner:
    - name: {{ step.fun }}
    - kwarg: {{ step.kwarg | json }}
    - require: {{ step.require | json }}
    - onfail: {{ step.onfail | json }}
{%- endfor %}
