# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- The OpenNebula database, its user and grants, created as MariaDB's root over the unix
    socket. The password is read from the pillar by the state at run time, so it never
    appears in the rendered states (onenebula_ha.database_user). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set database = onenebula_ha.database %}
{#- oned, onedb and mysqldump reach a local server over the socket (localhost) or TCP
    (127.0.0.1 / ::1, with skip-name-resolve): grant all three. #}
{%- set local_names = ['localhost', '127.0.0.1', '::1'] %}
{%- set hosts = local_names if database.host in local_names else [database.host] %}
{%- set connection = {
      'connection_unix_socket': onenebula_ha.paths.mysql_socket,
      'connection_user': 'root',
      'connection_charset': 'utf8',
    } %}

include:
  - .server

{%- if database.manage_server and database.backend == 'mysql' %}

onenebula_ha-database-schema-mysql_database-present:
  mysql_database.present:
    - name: {{ database.name }}
{%-   for key, value in connection | dictsort %}
    - {{ key }}: {{ value | json }}
{%-   endfor %}
    - require:
      - sls: {{ tplroot }}.database.server

onenebula_ha-database-schema-onenebula_ha-database_user:
  onenebula_ha.database_user:
    - name: {{ database.user }}
    - hosts: {{ hosts | json }}
    - password_pillar: onenebula_ha:database:password
{%-   for key, value in connection | dictsort %}
    - {{ key }}: {{ value | json }}
{%-   endfor %}
    - require:
      - mysql_database: onenebula_ha-database-schema-mysql_database-present
{%-   for host in hosts %}

onenebula_ha-database-schema-mysql_grants-present-{{ host | replace(':', '_') | replace('.', '_') }}:
  mysql_grants.present:
    - grant: all privileges
    - database: {{ database.name }}.*
    - user: {{ database.user }}
    - host: {{ host | json }}
{%-     for key, value in connection | dictsort %}
    - {{ key }}: {{ value | json }}
{%-     endfor %}
    - require:
      - onenebula_ha: onenebula_ha-database-schema-onenebula_ha-database_user
{%-   endfor %}
{%- else %}

onenebula_ha-database-schema-test-show_notification:
  test.show_notification:
    - text: >-
        OpenNebula database not managed (backend {{ database.backend }},
        manage_server {{ database.manage_server | lower }})
{%- endif %}
