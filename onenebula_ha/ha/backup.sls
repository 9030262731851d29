# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the current leader: a fresh DB dump (onedb backup, which reads the DB settings from
    oned.conf, so no password crosses Salt), with its .sha256 sidecar, both owned by the
    SSH user (mode 0600) in deploy.backup_dir (0700): the server that restores it next
    pulls them over SSH and deletes them here (ha/restore.sls). The dump never goes to the
    Salt master. An older dump must never be reused: onedb overwrites it. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import backup_path %}
{%- set ssh_user = onenebula_ha.ssh.user %}

onenebula_ha-ha-backup-file-directory:
  file.directory:
    - name: {{ onenebula_ha.deploy.backup_dir | json }}
    - user: {{ ssh_user | json }}
    - group: {{ (onenebula_ha.group if ssh_user == onenebula_ha.user else ssh_user) | json }}
    - mode: '0700'
    - makedirs: true

onenebula_ha-ha-backup-module-run:
  module.run:
    - onenebula_db.backup:
      - path: {{ backup_path | json }}
      - owner: {{ ssh_user | json }}
    - require:
      - file: onenebula_ha-ha-backup-file-directory
