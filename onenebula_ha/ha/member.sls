# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the current leader: add the joining server to the zone (guarded inside the state:
    only from a healthy zone, one change at a time; a server already added by an
    interrupted run is left as it is) and check the zone gave it its pillar id. In a test
    run with the zone not readable yet, both states predict (result None). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libstep.jinja" import target, step %}

onenebula_ha-ha-member-onenebula_zone-server_present:
  onenebula_zone.server_present:
    - name: {{ target.name }}
    - endpoint: {{ target.endpoint }}
    - zone: {{ onenebula_ha.zone.id }}

onenebula_ha-ha-member-onenebula_zone-member:
  onenebula_zone.member:
    - name: {{ target.name }}
    - id: {{ target.id }}
    - zone: {{ onenebula_ha.zone.id }}
    - require:
      - onenebula_zone: onenebula_ha-ha-member-onenebula_zone-server_present
