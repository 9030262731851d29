# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the current leader: add the joining server to the zone (guarded inside the state:
    only from a healthy zone, one change at a time; a server already added by an
    interrupted run is left as it is) and check the zone gave it its pillar id. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha with context %}
{%- from tplroot ~ "/libstep.jinja" import target, step with context %}
{%- set running = salt['service.status'](onenebula_ha.services.oned) %}

{%- if opts.test and not running %}

onenebula_ha-ha-member-onenebula_zone-server_present:
  test.configurable_test_state:
    - name: '{{ step }}: adding {{ target.name }} to the zone'
    - changes: true
    - result: true
    - comment: >-
        {{ target.name }} ({{ target.endpoint }}) would be added to zone
        {{ onenebula_ha.zone.id }} with ID {{ target.id }} once the leader runs
{%- else %}

onenebula_ha-ha-member-onenebula_zone-server_present:
  onenebula_zone.server_present:
    - name: {{ target.name }}
    - endpoint: {{ target.endpoint }}
    - zone: {{ onenebula_ha.zone.id }}

onenebula_ha-ha-member-onenebula_ha-zone_member:
  onenebula_ha.zone_member:
    - name: {{ target.name }}
    - id: {{ target.id }}
    - zone: {{ onenebula_ha.zone.id }}
    - require:
      - onenebula_zone: onenebula_ha-ha-member-onenebula_zone-server_present
{%- endif %}
