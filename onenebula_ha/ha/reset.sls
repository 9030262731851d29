# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the current leader, after a follower's DB was restored from a fresh backup:
    onezone server-reset, so replication resumes from the end of the leader's log, and
    wait for the follower to catch up. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libstep.jinja" import target, timeout %}

onenebula_ha-ha-reset-onenebula_zone-follower_reset:
  onenebula_zone.follower_reset:
    - name: {{ target.name }}
    - zone: {{ onenebula_ha.zone.id }}
    - force: true
    - timeout: {{ timeout }}
