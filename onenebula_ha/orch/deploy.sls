# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Deploy the zone from bare hosts, or finish an interrupted deploy:
      salt-run state.orchestrate onenebula_ha.orch.deploy [test=True]
    1. every front-end generates its SSH key (published in the mine);
    2. the current leader (the first server on a bare cluster) gets the base state;
    3. bare cluster: the first server is bootstrapped (solo, server-add itself,
       SERVER_ID, restart into HA: it leads after OpenNebula's warm-up and election);
    4. the leader publishes the oneadmin secrets and, when servers are to join, takes
       the DB backup the first of them restores, in the state run (failhard) of step 3
       on a bare cluster, else of step 2;
    5. beside the orchestration (parallel steps, started at once): all other front-ends
       get the base state (DB, config, secrets, SSH, mounts, hooks, web UI), then the
       first server to join restores that backup (the replaced DB is kept); on a bare
       cluster this runs during OpenNebula's warm-up and election;
    6. each server that is not yet a healthy member joins, strictly one at a time and
       only from a healthy zone: on the leader, in one state run (failhard), wait until
       the members joined so far are healthy (the first time: the bootstrap server
       leads), server-add, then a fresh backup for the next server to join; SERVER_ID and
       start on the server, beside which the next server restores that backup;
    7. the zone must be healthy with every server at its pillar id (this also waits
       for the last join's follower to catch up), as the leader sees it.
    The leader and the members are discovered when this file renders (runner
    onenebula_ha.view), so a re-run on a converged cluster changes nothing and a re-run
    after an interruption resumes where it stopped.
    The decisions (who leads, what to do next, what to refuse) are the runner's planner
    onenebula_ha.plan (deploy); this file runs the steps it returns, each requiring the one
    before it (the parallel ones aside). #}
{%- from tpldir.split('/')[0] ~ "/map.jinja" import onenebula_ha as settings %}
{%- set plan = salt['saltutil.runner']('onenebula_ha.plan', action='deploy', target=pillar.get('target'), force=pillar.get('force', False),
      servers=settings.servers, zone=settings.zone.id, wait=settings.deploy.wait_timeout, platform=salt['onenebula_platform.requirement'](settings)) %}
{{- raise((plan.error if plan is mapping else none) or 'onenebula_ha deploy: runner onenebula_ha.plan failed (synced?): ' ~ plan)
      if plan is not mapping or plan.error }}

onenebula_ha-orch-deploy-test-show_notification:
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
    - failhard: {{ step.failhard | json }}
    - parallel: {{ step.parallel | json }}
    - require: {{ step.require | json }}
{%- endfor %}
