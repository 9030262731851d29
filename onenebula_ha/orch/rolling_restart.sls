# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Restart oned on every member, one at a time, to apply oned.conf changes:
      salt-run state.orchestrate onenebula_ha.orch.rolling_restart
    Followers first (pillar order), the leader last (the others elect a new leader; its
    hooks move the VIP), waiting for a healthy zone after each. Starts only from a
    healthy zone (pillar force: true skips that check). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha with context %}
{%- from tplroot ~ "/orch/liborch.jinja" import servers, by_minion, view, step, zone_servers with context %}
{%- set force = salt['pillar.get']('force', false) %}

{%- if not view.leader or view.leader not in by_minion %}
{%- set message = 'onenebula_ha rolling_restart: the zone has no usable leader ('
      ~ (view.problems | join('; ') or 'bare cluster')
      ~ ')' %}
{{ raise(message) }}
{%- endif %}
{%- set unhealthy = [] %}
{%- for minion, entry in view.servers | dictsort if entry.member and not entry.healthy %}
{%-   do unhealthy.append(minion ~ ': ' ~ entry.problems | join(', ')) %}
{%- endfor %}
{%- if (unhealthy or view.problems) and not force %}
{%- set message = 'onenebula_ha rolling_restart: the zone is not healthy, not restarting anything: '
      ~ (view.problems + unhealthy) | join('; ') %}
{{ raise(message) }}
{%- endif %}
{%- set leader = by_minion[view.leader] %}
{%- set followers = [] %}
{%- for server in servers if server.minion != leader.minion and view.servers[server.minion].member %}
{%-   do followers.append(server) %}
{%- endfor %}
{%- set members = [] %}
{%- for server in zone_servers %}
{%-   do members.append({'name': server.name, 'id': server.id}) %}
{%- endfor %}
{%- set order = followers + [leader] %}
{%- set previous = namespace(id=none) %}
{%- for server in order %}
{%-   set label = 'restarting ' ~ server.name ~ ' (' ~ loop.index ~ ' of ' ~ order | length ~ (', the leader' if server is sameas leader else '') ~ ')' %}
{%-   set watcher = (followers[0].minion if followers else leader.minion) if server is sameas leader else leader.minion %}
{%-   set run = {'leader': leader.minion, 'server': server.minion, 'step': label,
                 'members': members, 'timeout': onenebula_ha.deploy.wait_timeout} %}
{{- step('onenebula_ha-orch-rolling_restart-' ~ server.minion, label, server.minion,
         tplroot ~ '.ha.restart', run, previous.id) }}
{{- step('onenebula_ha-orch-rolling_restart-' ~ server.minion ~ '-healthy',
         label ~ ': waiting for a healthy zone', watcher, tplroot ~ '.ha.healthy', run,
         'onenebula_ha-orch-rolling_restart-' ~ server.minion) }}
{%-   set previous.id = 'onenebula_ha-orch-rolling_restart-' ~ server.minion ~ '-healthy' %}
{%- endfor %}
