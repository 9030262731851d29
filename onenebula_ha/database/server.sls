# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Each front-end runs its own MariaDB/MySQL server: Raft replicates the SQL, there is no
    shared or Galera database. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set database = onenebula_ha.database %}

{%- if database.manage_server and database.backend == 'mysql' %}
{%-   if onenebula_ha.packages.manage %}

onenebula_ha-database-server-pkg-installed:
  pkg.installed:
    - pkgs: {{ (onenebula_ha.pkgs.database + onenebula_ha.pkgs.python_mysql) | json }}
{%-   endif %}

onenebula_ha-database-server-service-running:
  service.running:
    - name: {{ onenebula_ha.services.database }}
    - enable: true
{%-   if onenebula_ha.packages.manage %}
    - require:
      - pkg: onenebula_ha-database-server-pkg-installed
{%-   endif %}
{%- else %}

onenebula_ha-database-server-test-show_notification:
  test.show_notification:
    - text: >-
        Database server not managed (backend {{ database.backend }},
        manage_server {{ database.manage_server | lower }})
{%- endif %}
