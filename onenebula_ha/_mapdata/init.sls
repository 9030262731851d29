# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Dumps the merged, validated settings (secrets redacted) to
    /tmp/salt_mapdata_dump.yaml, as template-formula's _mapdata does. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set redacted = salt['defaults.deepcopy'](onenebula_ha) %}
{%- do redacted.database.update({'password': '<redacted>'}) %}
{%- if redacted.packages.enterprise_token %}
{%-   do redacted.packages.update({'enterprise_token': '<redacted>'}) %}
{%- endif %}
{%- do redacted.secrets.update({'files': redacted.secrets.files | list}) %}

onenebula_ha-_mapdata-file-serialize:
  file.serialize:
    - name: /tmp/salt_mapdata_dump.yaml
    - dataset: {{ redacted | json }}
    - serializer: yaml
    - mode: '0600'
