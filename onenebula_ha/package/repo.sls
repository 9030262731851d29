# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- The OpenNebula package repository, from onenebula_ha:packages:repo (pkgrepo.managed
    arguments). Nothing is managed when packages.manage is false or no repo is given. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha with context %}
{%- set repo = onenebula_ha.packages.repo %}

{%- if onenebula_ha.packages.manage and repo %}
onenebula_ha-package-repo-pkgrepo-managed:
  pkgrepo.managed:
{%-   for key, value in repo | dictsort %}
    - {{ key }}: {{ value | json }}
{%-   endfor %}
{%- else %}
onenebula_ha-package-repo-test-show_notification:
  test.show_notification:
    - text: >-
        OpenNebula repository not managed (onenebula_ha:packages:manage is
        {{ onenebula_ha.packages.manage | lower }}, repo {{ 'set' if repo else 'empty' }})
{%- endif %}
