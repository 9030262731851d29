# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the current leader: the sha256 manifest of the oneadmin secrets (/var/lib/one/.one)
    in deploy.backup_dir, readable by the SSH user only; the other front-ends pull the
    files over SSH and verify them against it (secrets/init.sls). Nothing goes to the
    Salt master. Nothing to do with secrets.source: pillar. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import manifest_path %}

{%- if onenebula_ha.secrets.source == 'leader' %}
{%-   set ssh_user = onenebula_ha.ssh.user %}

onenebula_ha-ha-publish-file-directory:
  file.directory:
    - name: {{ onenebula_ha.deploy.backup_dir | json }}
    - user: {{ ssh_user | json }}
    - group: {{ (onenebula_ha.group if ssh_user == onenebula_ha.user else ssh_user) | json }}
    - mode: '0700'
    - makedirs: true

onenebula_ha-ha-publish-onenebula_secrets-published:
  onenebula_secrets.published:
    - name: {{ onenebula_ha.paths.one_auth_dir | json }}
    - manifest: {{ manifest_path | json }}
    - user: {{ ssh_user | json }}
    - require:
      - file: onenebula_ha-ha-publish-file-directory
{%- else %}

onenebula_ha-ha-publish-test-show_notification:
  test.show_notification:
    - text: Secrets come from the pillar (onenebula_ha:secrets:source is pillar)
{%- endif %}
