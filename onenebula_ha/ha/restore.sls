# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the joining (or repaired) server: stop oned only if a restore will happen, then
    restore the leader's fresh dump (fetched from the master, verified against its
    sha256; the replaced DB is kept). No change when this server is already a caught-up
    follower or this very dump was restored already. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha with context %}
{%- from tplroot ~ "/libha.jinja" import source_leader, backup_path with context %}
{%- from tplroot ~ "/libstep.jinja" import target, step with context %}
{%- set source = 'salt://' ~ source_leader ~ backup_path %}

{%- if opts.test and not salt['cp.hash_file'](source) %}

onenebula_ha-ha-restore-onenebula_db-restored_from_leader:
  test.configurable_test_state:
    - name: '{{ step }}: restoring the leader backup'
    - changes: true
    - result: true
    - comment: >-
        {{ target.name }}'s DB would be replaced by a fresh backup of {{ source_leader }}
        ({{ source }}), oned stopped first
{%-   set restore_requisite = 'test' %}
{%- else %}

onenebula_ha-ha-restore-onenebula_db-restored_from_leader:
  onenebula_db.restored_from_leader:
    - name: {{ source }}
    - server: {{ target.name }}
    - zone: {{ onenebula_ha.zone.id }}
{%-   set restore_requisite = 'onenebula_db' %}
{%- endif %}

onenebula_ha-ha-restore-service-dead:
  service.dead:
    - name: {{ onenebula_ha.services.oned }}
    - prereq:
      - {{ restore_requisite }}: onenebula_ha-ha-restore-onenebula_db-restored_from_leader
