# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Reaction to salt/beacon/<minion>/onenebula_raft/error (sent by the zone leader's
    onenebula_raft beacon for a server that stayed in error).

    Starts the repair orchestration for that server's minion:
        runner.state.orchestrate onenebula_ha.orch.repair pillar={target: <minion>}

    One repair at a time: a lock in the master's datastore (`data` module, key
    onenebula_ha_repair_lock: target, server_id, name, started). While the locked server
    is still in error (the event's `in_error` list) and the lock is younger than
    repair_lock_ttl seconds, no other repair starts; the lock passes on once the locked
    server has recovered or the lock has expired. Reactions are rendered one after the
    other by the master's single reactor process, so the check-and-take is not racy.
    Release it by hand with: salt-run salt.cmd data.pop onenebula_ha_repair_lock

    Settings: the master's `onenebula_ha_reactor` configuration (repair, frontends,
    repair_lock_ttl), written by the onenebula_ha.salt.master state. Events from unknown
    minions, about unknown servers or with malformed data are logged and ignored. #}
{%- set settings = salt['config.get']('onenebula_ha_reactor', {}) %}
{%- set frontends = settings.get('frontends') if settings is mapping else [] %}
{%- set frontends = frontends if frontends is sequence and frontends is not string else [] %}
{%- set lock_key = 'onenebula_ha_repair_lock' %}
{%- set ttl = settings.get('repair_lock_ttl', 3600) %}
{%- set reporter = data.get('id') %}
{%- set server_id = data.get('server_id') %}
{%- set name = data.get('name') %}
{%- set in_error = data.get('in_error') %}
{%- set reporters = frontends | selectattr('minion', 'defined')
                              | selectattr('minion', 'equalto', reporter) | list %}
{%- set targets = frontends | selectattr('id', 'defined') | selectattr('name', 'defined')
                            | selectattr('id', 'equalto', server_id)
                            | selectattr('name', 'equalto', name) | list %}
{%- set prefix = 'onenebula_ha reactor: ' ~ tag ~ ': ' %}
{%- set target = none %}

{%- if not settings.get('repair', False) %}
{%-   do salt['log.debug'](prefix ~ 'repair is off, not repairing ' ~ name) %}
{%- elif reporters | length != 1 %}
{%-   do salt['log.warning'](prefix ~ 'ignored: ' ~ reporter ~ ' is not a known front-end') %}
{%- elif server_id is not integer or name is not string
         or in_error is not sequence or in_error is string or server_id not in in_error %}
{%-   do salt['log.warning'](prefix ~ 'ignored: malformed event data (server_id, name, in_error)') %}
{%- elif targets | length != 1 %}
{%-   do salt['log.warning'](prefix ~ 'ignored: no front-end is server ' ~ server_id
                             ~ ' named ' ~ name) %}
{%- elif targets[0].minion == reporter %}
{%-   do salt['log.warning'](prefix ~ 'ignored: the leader ' ~ reporter ~ ' reports itself in error') %}
{%- else %}
{%-   set now = salt['status.time']('%s') | int %}
{%-   set lock = salt['data.get'](lock_key) %}
{%-   if lock is mapping and lock.get('started') is number
         and now - lock.started < ttl
         and (lock.get('server_id') == server_id or lock.get('server_id') in in_error) %}
{%-     do salt['log.info'](prefix ~ 'not repairing ' ~ targets[0].minion ~ ' now: the repair of '
                            ~ lock.get('target') ~ ' started ' ~ (now - lock.started)
                            ~ ' s ago holds the lock until that server recovers or '
                            ~ ttl ~ ' s have passed') %}
{%-   else %}
{%-     set target = targets[0].minion %}
{%-     do salt['data.update'](lock_key, {'target': target, 'server_id': server_id,
                                          'name': name, 'started': now, 'reporter': reporter}) %}
{%-     do salt['log.warning'](prefix ~ 'server ' ~ server_id ~ ' (' ~ name ~ ') in error since '
                               ~ data.get('since') ~ ': starting onenebula_ha.orch.repair for '
                               ~ target) %}
{%-   endif %}
{%- endif %}

{%- if target %}

onenebula_ha-reactor-repair-{{ target }}:
  runner.state.orchestrate:
    - args:
        - mods: onenebula_ha.orch.repair
        - pillar:
            target: {{ target | json }}
{%- endif %}
