# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Join one new server of the pillar to a running zone (scale up one step):
      salt-run state.orchestrate onenebula_ha.orch.add [pillar='{"target": "vmm04"}']
    Without a target, the first pillar server (in pillar order, normally the last one
    listed) that is not a healthy member joins. Its SSH key is authorised on the other
    front-ends, it gets the base state and the leader's secrets, then joins like in the
    deploy: fresh backup, restore, server-add on the leader, SERVER_ID and start, wait. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha with context %}
{%- from tplroot ~ "/orch/liborch.jinja" import servers, by_minion, position, view, step, join, target, target_arg with context %}

{%- if view.bare or view.leader not in by_minion %}
{%- set message = 'onenebula_ha add: there is no running zone with a leader to join ('
      ~ (view.problems | join('; ') or 'bare cluster')
      ~ '): use onenebula_ha.orch.deploy' %}
{{ raise(message) }}
{%- endif %}
{%- set leader = by_minion[view.leader] %}
{%- set candidates = servers | rejectattr('minion', 'equalto', leader.minion) | list %}
{%- set pending = [] %}
{%- for server in candidates if not view.servers[server.minion].healthy %}
{%-   do pending.append(server) %}
{%- endfor %}
{%- if target_arg %}
{%-   if target is none or target.minion not in by_minion %}
{%- set message = 'onenebula_ha add: '
      ~ target_arg
      ~ ' is not a server of onenebula_ha:servers (minion id or name)' %}
{{ raise(message) }}
{%-   endif %}
{%-   set new = target %}
{%- elif pending %}
{%-   set new = pending[0] %}
{%- else %}
{%-   set new = none %}
{%- endif %}

{%- if new is none or view.servers[new.minion].healthy %}

onenebula_ha-orch-add-test-show_notification:
  test.show_notification:
    - text: >-
        Nothing to add: {{ (new.name ~ ' is') if new else 'all servers of onenebula_ha:servers are' }}
        already a healthy member of the zone (leader {{ leader.name }})
{%- else %}
{%-   set others = servers | map(attribute='minion') | reject('equalto', new.minion) | list %}
{%-   set base_run = {'leader': leader.minion} %}
{%-   set label = 'adding ' ~ new.name ~ ' (' ~ position[new.minion] ~ ')' %}
{%-   set members = [] %}
{%-   for server in servers if view.servers[server.minion].healthy or server.minion == new.minion %}
{%-     do members.append({'name': server.name, 'id': server.id}) %}
{%-   endfor %}
{{- step('onenebula_ha-orch-add-ssh-keys', label ~ ': SSH key', new.minion,
         tplroot ~ '.ssh.keys', base_run) }}
{{- step('onenebula_ha-orch-add-ssh-others', label ~ ': authorising its SSH key', others,
         tplroot ~ '.ssh', base_run, 'onenebula_ha-orch-add-ssh-keys') }}
{{- step('onenebula_ha-orch-add-publish', label ~ ': publishing the secrets of ' ~ leader.name,
         leader.minion, tplroot ~ '.ha.publish', base_run, 'onenebula_ha-orch-add-ssh-others') }}
{{- step('onenebula_ha-orch-add-base', label ~ ': base state', new.minion, tplroot,
         base_run, 'onenebula_ha-orch-add-publish') }}
{{- join('onenebula_ha-orch-add-join', new, leader, members, 'onenebula_ha-orch-add-base') }}
{%- endif %}
