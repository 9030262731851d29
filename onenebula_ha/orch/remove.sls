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
    when you know its oned is down). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha with context %}
{%- from tplroot ~ "/orch/liborch.jinja" import servers, by_minion, view, step, target, target_arg, zone_servers with context %}
{%- set force = salt['pillar.get']('force', false) %}

{%- if not target_arg %}
{%- set message = 'onenebula_ha remove: name the server: pillar=\'{"target": "<minion or server name>"}\'' %}
{{ raise(message) }}
{%- elif target is none %}
{%- set message = 'onenebula_ha remove: unknown server '
      ~ target_arg
      ~ ': neither a minion or name in onenebula_ha:servers nor a server of the zone' %}
{{ raise(message) }}
{%- endif %}
{%- if view.bare or not view.leader %}
{%- set message = 'onenebula_ha remove: no zone leader to remove '
      ~ target.name
      ~ ' with ('
      ~ (view.problems | join('; ') or 'bare cluster')
      ~ '); retry once the zone has a leader' %}
{{ raise(message) }}
{%- endif %}
{%- set in_zone = zone_servers | selectattr('name', 'equalto', target.name) | list %}
{%- set remaining = zone_servers | rejectattr('name', 'equalto', target.name) | list %}
{%- set remaining_minions = [] %}
{%- for server in servers if server.name in remaining | map(attribute='name') | list %}
{%-   do remaining_minions.append(server.minion) %}
{%- endfor %}

{%- if zone_servers and not in_zone %}

onenebula_ha-orch-remove-test-show_notification:
  test.show_notification:
    - text: {{ target.name }} is not a member of the zone (leader {{ view.leader }}): nothing to remove
{%- else %}
{%-   if not remaining_minions %}
{%- set message = 'onenebula_ha remove: refusing to remove '
      ~ target.name
      ~ ': no other member of the zone is a minion of onenebula_ha:servers' %}
{{ raise(message) }}
{%-   endif %}
{%-   set label = 'removing ' ~ target.name %}
{%-   set run = {'leader': view.leader, 'server': target.minion, 'name': target.name,
                 'id': target.id, 'step': label,
                 'members': [],
                 'timeout': onenebula_ha.deploy.wait_timeout} %}
{%-   set members = [] %}
{%-   for server in remaining %}
{%-     do members.append({'name': server.name, 'id': server.id}) %}
{%-   endfor %}
{%-   do run.update({'members': members, 'ignore': [target.name]}) %}
{%-   set previous = namespace(id=none) %}
{%-   if target.minion and not (force and not view.servers.get(target.minion, {}).get('answered')) %}
{{- step('onenebula_ha-orch-remove-stop', label ~ ': stopping OpenNebula on it', target.minion,
         tplroot ~ '.ha.stop', run) }}
{%-     set previous.id = 'onenebula_ha-orch-remove-stop' %}
{%-   elif not force %}
{%- set message = 'onenebula_ha remove: '
      ~ target.name
      ~ ' has no minion in onenebula_ha:servers to stop it with; stop OpenNebula on it yourself and re-run with pillar force: true' %}
{{ raise(message) }}
{%-   endif %}
{{- step('onenebula_ha-orch-remove-leader', label ~ ': waiting for a leader among the others',
         remaining_minions[0], tplroot ~ '.ha.healthy', run, previous.id) }}
{{- step('onenebula_ha-orch-remove-absent', label ~ ': server-del on the leader',
         remaining_minions, tplroot ~ '.ha.absent', run, 'onenebula_ha-orch-remove-leader') }}
{%-   do run.update({'ignore': []}) %}
{{- step('onenebula_ha-orch-remove-healthy', label ~ ': waiting for a healthy zone',
         remaining_minions[0], tplroot ~ '.ha.healthy', run, 'onenebula_ha-orch-remove-absent') }}
{%- endif %}
