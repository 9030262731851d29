# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the leader, when a repair stopped before its restore pulled the fresh DB dump (a
    check refused, the restore failed early): delete the dump and its sidecar. A dump is
    never reused (each join or repair takes a fresh one) and is not left lying around. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import backup_path %}

onenebula_ha-ha-discard-file-absent-dump:
  file.absent:
    - name: {{ backup_path | json }}

onenebula_ha-ha-discard-file-absent-sidecar:
  file.absent:
    - name: {{ (backup_path ~ '.sha256') | json }}
