# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- The front-ends' side of the reactor: the onenebula_raft beacon (_beacons/onenebula_raft.py),
    configured in the running minion and saved to its minion.d/beacons.conf (beacon.present
    with save, so no minion restart is needed), after syncing the formula's utils (which the
    modules use), execution modules and beacon. Settings: onenebula_ha:beacon (enabled, interval, report_errors_every,
    error_after) and the zone id.
    Only the front-ends listed in onenebula_ha:servers get the beacon; with
    beacon:enabled false it is removed. Needs a running minion (beacon.present talks to it).
    The oneadmin SSH key is published to the mine by onenebula_ha.ssh, not here. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set beacon = onenebula_ha.beacon %}
{%- set is_frontend = onenebula_ha.servers | selectattr('minion', 'equalto', opts.id) | list %}

{%- if is_frontend and beacon.enabled %}

{#- One module refresh, after both syncs: a refresh reloads the utils with the modules, and
    each refresh (grains included) queues ahead of beacon.present's beacons.list in the
    minion, whose answer Salt 3006/3007 wait for 60 s at most. #}
onenebula_ha-salt-minion-saltutil-sync_utils:
  saltutil.sync_utils:
    - refresh: false

onenebula_ha-salt-minion-saltutil-sync_modules:
  saltutil.sync_modules:
    - refresh: true
    - require:
      - saltutil: onenebula_ha-salt-minion-saltutil-sync_utils

onenebula_ha-salt-minion-saltutil-sync_beacons:
  saltutil.sync_beacons:
    - refresh: true
    - require:
      - saltutil: onenebula_ha-salt-minion-saltutil-sync_modules

onenebula_ha-salt-minion-beacon-present:
  beacon.present:
    - name: onenebula_raft
    - save: true
    - interval: {{ beacon.interval }}
    - zone: {{ onenebula_ha.zone.id }}
    - report_errors_every: {{ beacon.report_errors_every }}
    - error_after: {{ beacon.error_after }}
    - require:
      - saltutil: onenebula_ha-salt-minion-saltutil-sync_beacons
{%- else %}

onenebula_ha-salt-minion-beacon-absent:
  beacon.absent:
    - name: onenebula_raft
    - save: true
{%- endif %}
