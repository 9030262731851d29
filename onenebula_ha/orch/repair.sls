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
    while one is running, and the membership states take a host lock. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha with context %}
{%- from tplroot ~ "/orch/liborch.jinja" import servers, by_minion, view, step, target, target_arg, zone_servers with context %}
{%- set force = salt['pillar.get']('force', false) %}

{%- if not target_arg %}
{%- set message = 'onenebula_ha repair: name the server: pillar=\'{"target": "<minion or server name>"}\'' %}
{{ raise(message) }}
{%- elif target is none or target.minion not in by_minion %}
{%- set message = 'onenebula_ha repair: unknown server '
      ~ target_arg
      ~ ': not a minion or name of onenebula_ha:servers' %}
{{ raise(message) }}
{%- elif not view.leader or view.leader not in by_minion %}
{%- set message = 'onenebula_ha repair: the zone has no usable leader to repair '
      ~ target.name
      ~ ' from ('
      ~ (view.problems | join('; ') or 'bare cluster')
      ~ ')' %}
{{ raise(message) }}
{%- elif view.leader == target.minion %}
{%- set message = 'onenebula_ha repair: '
      ~ target.name
      ~ ' is the current leader; only followers are repaired (restart it with onenebula_ha.orch.rolling_restart so another server takes over)' %}
{{ raise(message) }}
{%- elif not (zone_servers | selectattr('name', 'equalto', target.name) | list) %}
{%- set message = 'onenebula_ha repair: '
      ~ target.name
      ~ ' is not a member of the zone; add it with onenebula_ha.orch.add' %}
{{ raise(message) }}
{%- endif %}
{%- set leader = by_minion[view.leader] %}

{%- if view.servers[target.minion].healthy and not force %}

onenebula_ha-orch-repair-test-show_notification:
  test.show_notification:
    - text: >-
        {{ target.name }} is a caught-up follower of {{ leader.name }}: nothing to repair
        (pillar force: true repairs it anyway)
{%- else %}
{%-   set label = 'repairing ' ~ target.name %}
{%-   set members = [] %}
{%-   for server in zone_servers %}
{%-     do members.append({'name': server.name, 'id': server.id}) %}
{%-   endfor %}
{%-   set run = {'leader': leader.minion, 'server': target.minion, 'step': label,
                 'members': members, 'timeout': onenebula_ha.deploy.wait_timeout} %}
{{- step('onenebula_ha-orch-repair-backup', label ~ ': fresh DB backup on the leader ' ~ leader.name,
         leader.minion, tplroot ~ '.ha.backup', run) }}
{{- step('onenebula_ha-orch-repair-restore', label ~ ': stopping it and restoring the backup',
         target.minion, tplroot ~ '.ha.restore', run, 'onenebula_ha-orch-repair-backup') }}
{{- step('onenebula_ha-orch-repair-start', label ~ ': starting OpenNebula',
         target.minion, tplroot ~ '.ha.start', run, 'onenebula_ha-orch-repair-restore') }}
{{- step('onenebula_ha-orch-repair-reset', label ~ ': server-reset on the leader ' ~ leader.name,
         leader.minion, tplroot ~ '.ha.reset', run, 'onenebula_ha-orch-repair-start') }}
{{- step('onenebula_ha-orch-repair-healthy', label ~ ': waiting for a healthy zone',
         leader.minion, tplroot ~ '.ha.healthy', run, 'onenebula_ha-orch-repair-reset') }}
{%- endif %}
