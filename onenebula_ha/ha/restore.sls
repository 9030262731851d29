# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the joining (or repaired) server: stop oned only if a restore will happen, then
    restore the leader's fresh dump (fetched from the master, verified against its
    sha256; the replaced DB is kept), creating the database first if it was dropped.
    No change when this server is already a caught-up follower or this very dump was
    restored already. In a test run, before the fresh dump exists, the state predicts the
    restore (result None). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import source_leader, backup_path %}
{%- from tplroot ~ "/libstep.jinja" import target, step %}
{%- set source = 'salt://' ~ source_leader ~ backup_path %}
{%- set database = onenebula_ha.database %}
{%- set create_db = database.manage_server and database.backend == 'mysql' %}

{%- if create_db %}
{#-   onedb restore connects to the database it restores into: a follower whose database
      was dropped needs it created first (as MariaDB's root over the socket, like
      database/schema.sls; the grants on <db>.* survive a DROP DATABASE). #}

onenebula_ha-ha-restore-mysql_database-present:
  mysql_database.present:
    - name: {{ database.name }}
    - connection_unix_socket: {{ onenebula_ha.paths.mysql_socket | json }}
    - connection_user: root
    - connection_charset: utf8
{%- endif %}

onenebula_ha-ha-restore-onenebula_db-restored_from_leader:
  onenebula_db.restored_from_leader:
    - name: {{ source }}
    - server: {{ target.name }}
    - zone: {{ onenebula_ha.zone.id }}
{%- if create_db %}
    - require:
      - mysql_database: onenebula_ha-ha-restore-mysql_database-present
{%- endif %}

onenebula_ha-ha-restore-service-dead:
  service.dead:
    - name: {{ onenebula_ha.services.oned }}
    - prereq:
      - onenebula_db: onenebula_ha-ha-restore-onenebula_db-restored_from_leader
