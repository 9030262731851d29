# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Deploy the zone from bare hosts, or finish an interrupted deploy:
      salt-run state.orchestrate onenebula_ha.orch.deploy [test=True]
    1. every front-end generates its SSH key (published in the mine);
    2. the current leader (the first server on a bare cluster) gets the base state;
    3. bare cluster: the first server is bootstrapped (solo, server-add itself,
       SERVER_ID, restart, leader with the VIP);
    4. the leader publishes the oneadmin secrets; all other front-ends get the base
       state (DB, config, secrets, SSH, mounts, hooks, web UI);
    5. each server that is not yet a healthy member joins, strictly one at a time:
       fresh backup on the leader, restore on it, server-add on the leader, SERVER_ID
       and start on it, wait until it is a caught-up follower;
    6. the zone must be healthy with every server at its pillar id.
    The leader and the members are discovered when this file renders (runner
    onenebula_ha.view), so a re-run on a converged cluster changes nothing and a re-run
    after an interruption resumes where it stopped. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha with context %}
{%- from tplroot ~ "/orch/liborch.jinja" import servers, by_minion, position, view, step, join with context %}

{%- if view.bare %}
{%-   set leader = servers[0] %}
{%- elif view.leader in by_minion %}
{%-   set leader = by_minion[view.leader] %}
{%- else %}
{%- set message = 'onenebula_ha deploy: cannot continue, no usable leader: '
      ~ (view.problems | join('; ') or ('leader '
      ~ view.leader
      ~ ' is not in onenebula_ha:servers')) %}
{{ raise(message) }}
{%- endif %}
{%- set minions = servers | map(attribute='minion') | list %}
{%- set others = minions | reject('equalto', leader.minion) | list %}
{%- set base_run = {'leader': leader.minion} %}

{{- step('onenebula_ha-orch-deploy-ssh-keys', 'SSH keys of all front-ends', minions,
         tplroot ~ '.ssh.keys', base_run) }}
{{- step('onenebula_ha-orch-deploy-base-leader',
         'base state on the ' ~ ('bootstrap server ' if view.bare else 'leader ') ~ leader.name,
         leader.minion, tplroot, base_run, 'onenebula_ha-orch-deploy-ssh-keys') }}
{%- set previous = namespace(id='onenebula_ha-orch-deploy-base-leader') %}

{%- if view.bare %}
{%-   set label = 'bootstrapping ' ~ leader.name ~ ' (' ~ position[leader.minion] ~ ')' %}
{{- step('onenebula_ha-orch-deploy-bootstrap', label, leader.minion, tplroot ~ '.ha.bootstrap',
         {'leader': leader.minion, 'server': leader.minion, 'step': label,
          'timeout': onenebula_ha.deploy.wait_timeout}, previous.id) }}
{%-   set previous.id = 'onenebula_ha-orch-deploy-bootstrap' %}
{%- endif %}

{{- step('onenebula_ha-orch-deploy-publish', 'publishing the secrets of ' ~ leader.name,
         leader.minion, tplroot ~ '.ha.publish', base_run, previous.id) }}
{%- set previous.id = 'onenebula_ha-orch-deploy-publish' %}
{%- if others %}
{{- step('onenebula_ha-orch-deploy-base-others', 'base state on ' ~ others | join(', '),
         others, tplroot, base_run, previous.id) }}
{%-   set previous.id = 'onenebula_ha-orch-deploy-base-others' %}
{%- endif %}

{%- set members = [{'name': leader.name, 'id': leader.id}] %}
{%- for server in servers if server.minion != leader.minion %}
{%-   do members.append({'name': server.name, 'id': server.id}) %}
{%-   if not view.servers[server.minion].healthy %}
{%-     set prefix = 'onenebula_ha-orch-deploy-join-' ~ server.minion %}
{{- join(prefix, server, leader, members, previous.id) }}
{%-     set previous.id = prefix ~ '-healthy' %}
{%-   endif %}
{%- endfor %}

{{- step('onenebula_ha-orch-deploy-healthy',
         'deployed: ' ~ servers | length ~ ' front-ends, waiting for a healthy zone',
         leader.minion, tplroot ~ '.ha.healthy',
         {'leader': leader.minion, 'server': leader.minion, 'step': 'deploy',
          'members': members, 'timeout': onenebula_ha.deploy.wait_timeout}, previous.id) }}
