# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Reaction to salt/beacon/<minion>/onenebula_raft/role (the onenebula_raft beacon).

    A front-end that reports it became the Raft leader gets the floating IP checked:
    the onenebula_ha.orch.remediate_vip orchestration puts the VIP on it and takes it off
    every other front-end. The Raft hooks move the VIP themselves; this is the safety net.

    Settings: the master's `onenebula_ha_reactor` configuration, written from the pillar by
    the onenebula_ha.salt.master state (move_vip, frontends). Beacon events reach the
    reactor with the beacon's dict as `data` plus `id` (not under data['data']).
    Events from unknown minions or with malformed data are logged and ignored. #}
{%- set settings = salt['config.get']('onenebula_ha_reactor', {}) %}
{%- set frontends = settings.get('frontends') if settings is mapping else [] %}
{%- set frontends = frontends if frontends is sequence and frontends is not string else [] %}
{%- set reporter = data.get('id') %}
{%- set entries = frontends | selectattr('minion', 'defined')
                             | selectattr('minion', 'equalto', reporter) | list %}
{%- set prefix = 'onenebula_ha reactor: ' ~ tag ~ ': ' %}

{%- if data.get('state') != 'leader' %}
{#-   Only a new leader needs the VIP checked. #}
{%- elif not settings.get('move_vip', False) %}
{%-   do salt['log.debug'](prefix ~ 'move_vip is off, not checking the VIP') %}
{%- elif entries | length != 1 %}
{%-   do salt['log.warning'](prefix ~ 'ignored: ' ~ reporter ~ ' is not a known front-end') %}
{%- elif data.get('term') is not integer or data.get('server_id') is not integer %}
{%-   do salt['log.warning'](prefix ~ 'ignored: malformed event data (term, server_id)') %}
{%- elif data.get('server_id') != entries[0].get('id') %}
{%-   do salt['log.warning'](prefix ~ 'ignored: ' ~ reporter ~ ' reports server id '
                             ~ data.get('server_id') ~ ', the pillar says '
                             ~ entries[0].get('id')) %}
{%- else %}

onenebula_ha-reactor-remediate_vip-{{ reporter }}-term-{{ data.term }}:
  runner.state.orchestrate:
    - args:
        - mods: onenebula_ha.orch.remediate_vip
        - pillar:
            onenebula_ha_vip:
              leader: {{ reporter | json }}
              term: {{ data.term }}
{%- endif %}
