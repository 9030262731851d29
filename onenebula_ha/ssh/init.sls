# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Passwordless SSH between the front-ends for the oneadmin user: every front-end's
    public key (from the mine, see ssh/keys.sls) in authorized_keys, and every front-end's
    host key in known_hosts under its address and its name. Hosts that have not published
    a key yet are skipped (the deploy orchestration generates all keys first). Hosts
    without SSH host keys (no sshd) get no known_hosts entry.
    The keys themselves come from ssh/keys.sls (an orchestration also applies it alone);
    the rest is here rather than in a file of its own: every SLS file costs a converged
    run a fetch from the master and a Jinja compilation. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set ssh = onenebula_ha.ssh %}

{%- if ssh.manage %}
{%-   set minions = onenebula_ha.servers | map(attribute='minion') | list %}
{#-   Both mine functions in one request to the master (function -> minion -> value). #}
{%-   set mined = salt['mine.get'](minions | join(','),
        ['onenebula_ha_ssh_hostkeys', 'onenebula_ha_ssh_pubkey'], tgt_type='list') %}
{%-   set pubkeys = mined.get('onenebula_ha_ssh_pubkey') or {} %}
{%-   set hostkeys = mined.get('onenebula_ha_ssh_hostkeys') or {} %}

include:
  - .keys

{#-   authorized_keys: a state only for the keys not already there as ssh_auth.present
      writes them (onenebula_ssh.authorized reads the file in Python). #}
{%-   set wanted = pubkeys.values() | map('trim') | select | list %}
{%-   set authorized = salt['onenebula_ssh.authorized'](ssh.user, wanted) %}
{%-   for server in onenebula_ha.servers %}
{%-     set pubkey = (pubkeys.get(server.minion) or '') | trim %}
{%-     if pubkey and pubkey not in authorized %}

onenebula_ha-ssh-ssh_auth-present-{{ server.minion }}:
  ssh_auth.present:
    - name: {{ pubkey | json }}
    - user: {{ ssh.user | json }}
    - require:
      - sls: {{ tplroot }}.ssh.keys
{%-     endif %}
{%-   endfor %}

{#-   known_hosts: each front-end's preferred host key under its address and its name. A
      state only for the entries not already there (onenebula_ssh.present reads the file in
      Python; ssh_known_hosts.present runs ssh-keygen -F for each entry it checks). #}
{%-   set known_entries = [] %}
{%-   for server in onenebula_ha.servers %}
{%-     set keys = hostkeys.get(server.minion) or {} %}
{%-     set preferred = (['ed25519.pub', 'ecdsa.pub', 'rsa.pub'] | select('in', keys) | list + [none]) | first %}
{%-     if preferred %}
{%-       set enc, key = (keys[preferred] | trim).split()[:2] %}
{%-       for alias in [server.get('address'), server.name] | unique if alias %}
{%-         do known_entries.append({'id': server.minion ~ '-' ~ loop.index, 'name': alias, 'enc': enc, 'key': key}) %}
{%-       endfor %}
{%-     endif %}
{%-   endfor %}
{%-   set known = salt['onenebula_ssh.present'](ssh.user, known_entries) %}
{%-   for entry in known_entries if entry not in known %}

onenebula_ha-ssh-ssh_known_hosts-present-{{ entry.id }}:
  ssh_known_hosts.present:
    - name: {{ entry.name | json }}
    - user: {{ ssh.user | json }}
    - enc: {{ entry.enc | json }}
    - key: {{ entry.key | json }}
    - hash_known_hosts: false
    - require:
      - sls: {{ tplroot }}.ssh.keys
{%-   endfor %}

onenebula_ha-ssh-test-show_notification:
  test.show_notification:
    - text: >-
        oneadmin keys published: {{ pubkeys | length }} of {{ minions | length }} front-ends
        ({{ authorized | length }} already authorized);
        host keys: {{ hostkeys.values() | select | list | length }} of {{ minions | length }};
        known_hosts entries already present: {{ known | length }} of {{ known_entries | length }}
{%- else %}

onenebula_ha-ssh-test-show_notification:
  test.show_notification:
    - text: SSH between front-ends not managed (onenebula_ha:ssh:manage is false)
{%- endif %}
