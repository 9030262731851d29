# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- The oneadmin secrets in /var/lib/one/.one (one_auth, one_key, fireedge_key, ...) must
    be identical on every front-end: Raft calls between servers authenticate with them and
    logins fail after a failover otherwise ("bad decrypt"). File contents never appear in
    the state output (only file names do) and never pass through the Salt master.

    source leader: the current leader keeps its own files and writes their sha256
    manifest (here, and in ha/publish.sls for the orchestrations); every other front-end pulls the files that differ from
    the leader over SSH as the SSH user (onenebula_secrets.pulled: scp, only the host
    keys of known_hosts, so after the ssh states) and verifies each against the manifest.
    A converged run makes no SSH connection: the leader also sends a random generation of
    its manifest (not derived from the secrets) to the mine, and a front-end whose files
    are as its last pull left them, under the same generation, has nothing to check.
    The leader is the one the orchestration names; outside an orchestration, the leader
    the local zone reports when it is a server of the pillar, else the first server.
    source pillar: the files come from onenebula_ha:secrets:files. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import this_server, run, ssh_hosts, manifest_path %}
{%- set secrets = onenebula_ha.secrets %}
{%- set secrets_dir = onenebula_ha.paths.one_auth_dir %}
{%- set owner = {'user': onenebula_ha.user, 'group': onenebula_ha.group} %}

{%- set source = namespace(minion=run.get('leader') or onenebula_ha.servers[0].minion) %}
{%- if secrets.source != 'pillar' and not run.get('leader') and this_server is not none
       and 'onenebula_zone.health' in salt %}
{#-   Read in this process over XML-RPC (as `onezone show` reads it), not by starting the
      onezone CLI: a converged run pays no process for it. #}
{%-   set zone_leader = salt['onenebula_zone.health'](onenebula_ha.zone.id, live=True).leader %}
{%-   for server in onenebula_ha.servers if zone_leader and server.name == zone_leader.name %}
{%-     set source.minion = server.minion %}
{%-   endfor %}
{%- endif %}

include:
  - {{ tplroot }}.package
{%- if secrets.source != 'pillar' and source.minion != opts.id %}
  - {{ tplroot }}.ssh
{%- endif %}

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

{%- elif source.minion == opts.id %}
{#-   This host is the source: keep its own files, only their ownership and mode, and
      publish their manifest for the others to pull (as ha/publish.sls does). #}
{%-   set local_files = salt['file.find'](secrets_dir, type='f', maxdepth=1)
                        if salt['file.directory_exists'](secrets_dir) else [] %}
{%-   set ssh_user = onenebula_ha.ssh.user %}
{%-   if local_files %}

onenebula_ha-secrets-file-directory-transfer:
  file.directory:
    - name: {{ onenebula_ha.deploy.backup_dir | json }}
    - user: {{ ssh_user | json }}
    - group: {{ (onenebula_ha.group if ssh_user == onenebula_ha.user else ssh_user) | json }}
    - mode: '0700'
    - makedirs: true

onenebula_ha-secrets-onenebula_secrets-published:
  onenebula_secrets.published:
    - name: {{ secrets_dir | json }}
    - manifest: {{ manifest_path | json }}
    - user: {{ ssh_user | json }}
    - require:
      - file: onenebula_ha-secrets-file-directory-transfer
{%-     for path in local_files | sort %}
      - file: onenebula_ha-secrets-file-managed-{{ salt['file.basename'](path) }}
{%-     endfor %}
{%-   endif %}
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

onenebula_ha-secrets-onenebula_secrets-pulled:
  onenebula_secrets.pulled:
    - name: {{ secrets_dir }}
    - source: {{ ssh_hosts[source.minion] | json }}
    - source_minion: {{ source.minion | json }}
    - manifest: {{ manifest_path | json }}
    - user: {{ onenebula_ha.ssh.user | json }}
    - owner: {{ owner.user | json }}
    - group: {{ owner.group | json }}
    - require:
      - file: onenebula_ha-secrets-file-directory
      - sls: {{ tplroot }}.ssh
{%- endif %}
