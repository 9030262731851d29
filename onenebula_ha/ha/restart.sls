# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Restart oned on this server (rolling restart: the orchestration waits for a healthy
    zone between servers, followers first, the leader last). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}

onenebula_ha-ha-restart-module-run:
  module.run:
    - service.restart:
      - name: {{ onenebula_ha.services.oned }}
