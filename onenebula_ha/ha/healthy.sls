# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Wait until the zone is healthy (one leader, all others caught-up followers) and holds
    the expected members with their pillar ids: run.wait_members when the orchestration
    gives them (the deploy waits for the members joined so far in the state run of the
    next join's server-add), else run.members. Never reports changes. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import run %}
{%- from tplroot ~ "/libstep.jinja" import step, members, timeout %}

onenebula_ha-ha-healthy-onenebula_zone-healthy:
  onenebula_zone.healthy:
    - name: '{{ step }}: waiting for a healthy zone'
    - zone: {{ onenebula_ha.zone.id }}
    - members: {{ (run.get('wait_members') or members) | json }}
    - ignore: {{ (run.get('ignore') or []) | json }}
    - timeout: {{ timeout }}
