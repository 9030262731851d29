# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the joining (or repaired) server: stop oned only if a restore will happen, then
    restore the leader's fresh dump, creating the database first if it was dropped. The
    dump is pulled from the leader over SSH as the SSH user into deploy.backup_dir here
    (never through the Salt master), verified against its sha256, deleted on the leader
    once sent and here after the restore; the replaced DB is kept.
    No change when this server is already a caught-up follower or this very dump was
    restored already. In a test run, before the fresh dump exists, the state predicts the
    restore (result None). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import source_leader, ssh_hosts, backup_path %}
{%- from tplroot ~ "/libstep.jinja" import target, step %}
{%- set ssh_user = onenebula_ha.ssh.user %}
{%- set database = onenebula_ha.database %}
{%- set create_db = database.manage_server and database.backend == 'mysql' %}

onenebula_ha-ha-restore-file-directory:
  file.directory:
    - name: {{ onenebula_ha.deploy.backup_dir | json }}
    - user: {{ ssh_user | json }}
    - group: {{ (onenebula_ha.group if ssh_user == onenebula_ha.user else ssh_user) | json }}
    - mode: '0700'
    - makedirs: true

{%- if create_db %}
{#-   The restore connects to the database it restores into: a follower whose database
      was dropped needs it created first (as MariaDB's root over the socket, like
      database/init.sls; the grants on <db>.* survive a DROP DATABASE). #}

onenebula_ha-ha-restore-mysql_database-present:
  mysql_database.present:
    - name: {{ database.name }}
    - connection_unix_socket: {{ onenebula_ha.paths.mysql_socket | json }}
    - connection_user: root
    - connection_charset: utf8
{%- endif %}

onenebula_ha-ha-restore-onenebula_db-restored_from_leader:
  onenebula_db.restored_from_leader:
    - name: {{ backup_path | json }}
    - source: {{ ssh_hosts[source_leader] | json }}
    - user: {{ ssh_user | json }}
    - server: {{ target.name | json }}
    - zone: {{ onenebula_ha.zone.id }}
    - require:
      - file: onenebula_ha-ha-restore-file-directory
{%- if create_db %}
      - mysql_database: onenebula_ha-ha-restore-mysql_database-present
{%- endif %}

onenebula_ha-ha-restore-service-dead:
  service.dead:
    - name: {{ onenebula_ha.services.oned }}
    - prereq:
      - onenebula_db: onenebula_ha-ha-restore-onenebula_db-restored_from_leader
