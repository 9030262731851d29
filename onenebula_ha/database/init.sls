# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Each front-end runs its own MariaDB/MySQL server: Raft replicates the SQL, there is no
    shared or Galera database. Then the OpenNebula database, its user and grants, made as
    MariaDB's root over the unix socket in one state (one connection). The password is read
    from the pillar by the state at run time, so it never appears in the rendered states
    (onenebula_db.database).
    Both parts in one file: every SLS file costs a
    converged run a fetch from the master and a Jinja compilation. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set database = onenebula_ha.database %}
{#- oned, onedb and mysqldump reach a local server over the socket (localhost) or TCP
    (127.0.0.1 / ::1, with skip-name-resolve): grant all three. #}
{%- set local_names = ['localhost', '127.0.0.1', '::1'] %}
{%- set hosts = local_names if database.host in local_names else [database.host] %}

{%- if database.manage_server and database.backend == 'mysql' %}
{%-   if onenebula_ha.packages.manage %}

onenebula_ha-database-pkg-installed:
  pkg.installed:
    - pkgs: {{ (onenebula_ha.pkgs.database + onenebula_ha.pkgs.python_mysql) | json }}
{%-   endif %}

onenebula_ha-database-service-running:
  service.running:
    - name: {{ onenebula_ha.services.database | json }}
    - enable: true
{%-   if onenebula_ha.packages.manage %}
    - require:
      - pkg: onenebula_ha-database-pkg-installed
{%-   endif %}

onenebula_ha-database-onenebula_db-database:
  onenebula_db.database:
    - name: {{ database.name | json }}
    - user: {{ database.user | json }}
    - hosts: {{ hosts | json }}
    - password_pillar: onenebula_ha:database:password
    - unix_socket: {{ onenebula_ha.paths.mysql_socket | json }}
    - connection_user: root
    - require:
      - service: onenebula_ha-database-service-running
{%- else %}

onenebula_ha-database-test-show_notification:
  test.show_notification:
    - text: >-
        Database server and OpenNebula database not managed (backend {{ database.backend }},
        manage_server {{ database.manage_server | lower }})
{%- endif %}
