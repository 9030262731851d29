# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- The Salt master's side of the formula, written to <salt config dir>/master.d/onenebula_ha.conf:
      reactor: the onenebula_raft beacon's `role` event mapped to
        reactor/onenebula_ha/role.sls, its `error` and `database` events to
        reactor/onenebula_ha/error.sls (only with onenebula_ha:reactor:enabled);
      onenebula_ha_reactor: what the reactions and onenebula_ha.orch.remediate_vip need
        from the pillar (the master's reactor sees no pillar): move_vip, repair, the
        front-ends (minion, server id, name), the VIP, the hook to run and the repair
        lock's lifetime.
    No file_recv and no minionfs: DB dumps and the oneadmin secrets move between the
    front-ends over SSH and never reach the master, so no other minion can fetch them
    (salt://<minion>/...). This state also deletes the copies an earlier version of the
    formula pushed to the master (<cachedir>/minions/<front-end>/files/...), and says so
    when another configuration file of the master still turns on file_recv or minionfs.
    The master is restarted when the file changes (it reads its reactor configuration at
    start-up only); set onenebula_ha:lookup:services:salt_master to null when the master
    is not run as the `salt-master` service.
    Apply it on the master host: through its own minion (state.apply onenebula_ha.salt.master),
    or with salt-call --local given the formula and the pillar. The config directory is the
    one of the running config file (config.get conf_file), or
    onenebula_ha:lookup:paths:salt_conf_dir. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set reactor = onenebula_ha.reactor %}
{%- set vip = onenebula_ha.vip %}
{%- set conf_dir = onenebula_ha.paths.get('salt_conf_dir')
                   or salt['file.dirname'](salt['config.get']('conf_file')) %}
{%- set command = onenebula_ha.hooks.command %}
{%- set hook_command = command if command.startswith('/')
                       else onenebula_ha.paths.hooks_dir ~ '/' ~ command %}
{%- set frontends = [] %}
{%- for server in onenebula_ha.servers %}
{%-   do frontends.append({'minion': server.minion, 'id': server.id, 'name': server.name}) %}
{%- endfor %}

{%- set conf_file = conf_dir ~ '/master.d/onenebula_ha.conf' %}
{%- set config = {} %}
{#- What the master's other configuration files turn on that would let minions push files
    to the master and read other minions' pushed files. #}
{%- set exposing = [] %}
{%- set master = namespace(cachedir='/var/cache/salt/master') %}
{%- set sources = [conf_dir ~ '/master']
                  + (salt['file.find'](conf_dir ~ '/master.d', type='f', name='*.conf') | sort) %}
{%- for path in sources if path != conf_file and salt['file.file_exists'](path) %}
{%-   set loaded = salt['file.read'](path) | load_yaml %}
{%-   if loaded is mapping %}
{%-     set backends = loaded.get('fileserver_backend') or [] %}
{%-     if loaded.get('cachedir') is string and loaded.cachedir.startswith('/') %}
{%-       set master.cachedir = loaded.cachedir %}
{%-     endif %}
{%-     if loaded.get('file_recv') is sameas true %}
{%-       do exposing.append(path ~ ': file_recv') %}
{%-     endif %}
{%-     if 'minionfs' in ([backends] if backends is string else backends | list) %}
{%-       do exposing.append(path ~ ': minionfs') %}
{%-     endif %}
{%-   endif %}
{%- endfor %}
{%- if reactor.enabled %}
{%-   do config.update({
        'reactor': [
          {'salt/beacon/*/onenebula_raft/role': ['salt://reactor/onenebula_ha/role.sls']},
          {'salt/beacon/*/onenebula_raft/error': ['salt://reactor/onenebula_ha/error.sls']},
          {'salt/beacon/*/onenebula_raft/database': ['salt://reactor/onenebula_ha/error.sls']},
        ],
        'onenebula_ha_reactor': {
          'move_vip': reactor.move_vip and vip.enabled,
          'repair': reactor.repair,
          'repair_lock_ttl': reactor.repair_lock_ttl,
          'zone': onenebula_ha.zone.id,
          'frontends': frontends,
          'vip': {'address': vip.address, 'interface': vip.interface} if vip.enabled else {},
          'hook': {'command': hook_command, 'runas': onenebula_ha.user},
        },
      }) %}
{%- endif %}

{#- Copies an earlier version of the formula pushed with cp.push (minionfs served them),
    in the master's cache (its config's cachedir, else Salt's default). #}
{%- set pushed_root = master.cachedir ~ '/minions' %}
{%- for server in onenebula_ha.servers %}
{%-   for path in [onenebula_ha.deploy.backup_dir, onenebula_ha.paths.one_auth_dir] %}

onenebula_ha-salt-master-file-absent-pushed-{{ server.minion }}-{{ loop.index }}:
  file.absent:
    - name: {{ (pushed_root ~ '/' ~ server.minion ~ '/files' ~ path) | json }}
{%-   endfor %}
{%- endfor %}
{%- if exposing %}

onenebula_ha-salt-master-test-show_notification:
  test.show_notification:
    - text: >-
        {{ exposing | join(', ') }}: the formula does not need file_recv or minionfs (DB
        dumps and secrets move between the front-ends over SSH); with them on, any minion
        can push files to the master and read what other minions pushed
{%- endif %}

onenebula_ha-salt-master-file-serialize:
  file.serialize:
    - name: {{ conf_file | json }}
    - dataset: {{ config | json }}
    - serializer: yaml
    - makedirs: true
    - mode: '0644'

{%- set service = onenebula_ha.services.get('salt_master') %}
{%- if service %}

onenebula_ha-salt-master-module-run-restart:
  module.run:
    - service.restart:
      - name: {{ service | json }}
    - onchanges:
      - file: onenebula_ha-salt-master-file-serialize
{%- endif %}
