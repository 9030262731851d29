# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the current leader: a fresh DB dump (onedb backup, which reads the DB settings from
    oned.conf, so no password crosses Salt), with its .sha256 sidecar, pushed to the
    master for the server that restores it next. An older dump must never be reused. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import backup_path %}

onenebula_ha-ha-backup-file-directory:
  file.directory:
    - name: {{ onenebula_ha.deploy.backup_dir }}
    - user: root
    - mode: '0700'
    - makedirs: true

onenebula_ha-ha-backup-module-run:
  module.run:
    - onenebula_db.backup:
      - path: {{ backup_path }}
      - push: true
    - require:
      - file: onenebula_ha-ha-backup-file-directory
