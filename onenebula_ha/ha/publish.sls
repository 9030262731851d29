# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the current leader: push the oneadmin secrets (/var/lib/one/.one) and their sha256
    manifest to the master, where the other front-ends fetch them (secrets/init.sls).
    Nothing to do with secrets.source: pillar. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import manifest_path %}

{%- if onenebula_ha.secrets.source == 'leader' %}

onenebula_ha-ha-publish-onenebula_ha-secrets_published:
  onenebula_ha.secrets_published:
    - name: {{ onenebula_ha.paths.one_auth_dir }}
    - manifest: {{ manifest_path }}
{%- else %}

onenebula_ha-ha-publish-test-show_notification:
  test.show_notification:
    - text: Secrets come from the pillar (onenebula_ha:secrets:source is pillar)
{%- endif %}
