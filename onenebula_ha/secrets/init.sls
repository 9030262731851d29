# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- The oneadmin secrets in /var/lib/one/.one (one_auth, one_key, fireedge_key, ...) must
    be identical on every front-end: Raft calls between servers authenticate with them and
    logins fail after a failover otherwise ("bad decrypt"). File contents never appear in
    the state output (show_changes: false, contents read from the pillar or the master at
    run time).

    source leader: the current leader (the bootstrap server on a bare cluster) pushes its
    files and a sha256 manifest to the master (ha/publish.sls); every other front-end
    fetches them as salt://<leader minion>/<path> (minionfs) and file.managed verifies
    each one against the manifest's checksum.
    source pillar: the files come from onenebula_ha:secrets:files. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import source_leader, keeps_own_secrets, manifest_path %}
{%- set secrets = onenebula_ha.secrets %}
{%- set secrets_dir = onenebula_ha.paths.one_auth_dir %}
{%- set owner = {'user': onenebula_ha.user, 'group': onenebula_ha.group} %}

include:
  - {{ tplroot }}.package

onenebula_ha-secrets-file-directory:
  file.directory:
    - name: {{ secrets_dir }}
    - user: {{ owner.user }}
    - group: {{ owner.group }}
    - mode: '0700'
    - makedirs: true
    - require:
      - sls: {{ tplroot }}.package

{%- if secrets.source == 'pillar' %}
{%-   for file in secrets.files | sort %}

onenebula_ha-secrets-file-managed-{{ file }}:
  file.managed:
    - name: {{ secrets_dir }}/{{ file }}
    - contents_pillar: onenebula_ha:secrets:files:{{ file }}
    - show_changes: false
    - user: {{ owner.user }}
    - group: {{ owner.group }}
    - mode: '0600'
    - require:
      - file: onenebula_ha-secrets-file-directory
{%-   endfor %}

{%- elif keeps_own_secrets %}
{#-   This host is the source: keep its own files, only their ownership and mode. #}
{%-   set local_files = salt['file.find'](secrets_dir, type='f', maxdepth=1)
                        if salt['file.directory_exists'](secrets_dir) else [] %}
{%-   for path in local_files | sort %}

onenebula_ha-secrets-file-managed-{{ salt['file.basename'](path) }}:
  file.managed:
    - name: {{ path }}
    - replace: false
    - show_changes: false
    - user: {{ owner.user }}
    - group: {{ owner.group }}
    - mode: '0600'
    - require:
      - file: onenebula_ha-secrets-file-directory
{%-   endfor %}

{%- else %}
{%-   set source_root = 'salt://' ~ source_leader %}
{%-   set published = salt['cp.hash_file'](source_root ~ manifest_path) %}
{%-   set manifest = (salt['cp.get_file_str'](source_root ~ manifest_path) if published else '') or '' %}
{%-   set entries = [] %}
{%-   for line in manifest.splitlines() if line.split() | length == 2 %}
{%-     do entries.append(line.split()) %}
{%-   endfor %}
{%-   for digest, file in entries %}

onenebula_ha-secrets-file-managed-{{ file }}:
  file.managed:
    - name: {{ secrets_dir }}/{{ file }}
    - source: {{ source_root }}{{ secrets_dir }}/{{ file }}
    - source_hash: sha256={{ digest }}
    - show_changes: false
    - user: {{ owner.user }}
    - group: {{ owner.group }}
    - mode: '0600'
    - require:
      - file: onenebula_ha-secrets-file-directory
{%-   else %}

onenebula_ha-secrets-test-show_notification:
  test.show_notification:
    - text: >-
        {{ source_leader }} has not published its {{ secrets_dir }} files yet
        (salt://{{ source_leader }}{{ manifest_path }} is missing); the deploy
        orchestration publishes them before this host joins
{%-   endfor %}
{%- endif %}
