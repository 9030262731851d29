# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On a server being removed: stop oned (its follower hook drops the VIP and the
    leader-only services), keep it from starting at boot, and set SERVER_ID back to -1
    so a later start cannot disturb the zone with elections or a stale ID (one#1609). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}

onenebula_ha-ha-stop-service-dead:
  service.dead:
    - name: {{ onenebula_ha.services.oned }}
    - enable: false

onenebula_ha-ha-stop-onenebula_conf-server_id:
  onenebula_conf.server_id:
    - value: -1
    - path: {{ onenebula_ha.paths.oned_conf }}
    - require:
      - service: onenebula_ha-ha-stop-service-dead
