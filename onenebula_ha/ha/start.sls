# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the joining server, after its DB restore and its server-add: SERVER_ID = its zone
    ID, then oned started (restarted if it was running with another SERVER_ID). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libstep.jinja" import target %}

onenebula_ha-ha-start-onenebula_conf-server_id:
  onenebula_conf.server_id:
    - value: {{ target.id }}
    - path: {{ onenebula_ha.paths.oned_conf }}

onenebula_ha-ha-start-service-running:
  service.running:
    - name: {{ onenebula_ha.services.oned }}
    - enable: true
    - watch:
      - onenebula_conf: onenebula_ha-ha-start-onenebula_conf-server_id
