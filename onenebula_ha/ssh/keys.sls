# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Each front-end gets its own SSH key pair for oneadmin (generated on the host, the
    private key never leaves it) and publishes the public key and its SSH host keys
    through the Salt mine:
      onenebula_ha_ssh_pubkey    file.read of ~oneadmin/.ssh/id_ed25519.pub
      onenebula_ha_ssh_hostkeys  ssh.host_keys (public host keys of this host)
    The two mine functions are written to the minion's own config directory
    (minion.d/onenebula_ha-mine.conf) so mine.update keeps them after a minion restart,
    and sent right away with mine.send whenever the mine does not hold this host's key. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set ssh = onenebula_ha.ssh %}

{%- if ssh.manage %}
{%-   set home = salt['user.info'](ssh.user).get('home') or onenebula_ha.paths.one_home %}
{%-   set key = home ~ '/.ssh/id_ed25519' %}
{%-   set minion_conf_dir = salt['file.dirname'](salt['config.get']('conf_file')) ~ '/minion.d' %}
{%-   set mine_functions = {
        'onenebula_ha_ssh_pubkey': [{'mine_function': 'file.read'}, key ~ '.pub'],
        'onenebula_ha_ssh_hostkeys': [
          {'mine_function': 'ssh.host_keys'}, {'private': false}, {'certs': false}],
      } %}
{%-   set local_pubkey = salt['file.read'](key ~ '.pub') if salt['file.file_exists'](key ~ '.pub') else '' %}
{#-   Both mine functions in one request to the master (function -> minion -> value). #}
{%-   set mined = salt['mine.get'](opts.id, mine_functions | list | sort, tgt_type='list') %}
{%-   set mined_pubkey = (mined.get('onenebula_ha_ssh_pubkey') or {}).get(opts.id, '') %}
{%-   set local_hostkeys = salt['ssh.host_keys'](private=false, certs=false) %}
{%-   set mined_hostkeys = (mined.get('onenebula_ha_ssh_hostkeys') or {}).get(opts.id, {}) %}

include:
  - {{ tplroot }}.package

onenebula_ha-ssh-keys-file-directory:
  file.directory:
    - name: {{ home }}/.ssh
    - user: {{ ssh.user }}
    - group: {{ onenebula_ha.group if ssh.user == onenebula_ha.user else ssh.user }}
    - mode: '0700'
    - require:
      - sls: {{ tplroot }}.package

{#-   The key is generated only where it does not exist yet, decided here rather than with
      cmd.run's creates: Salt (3008) answers unless/onlyif/creates by looking up a
      mod_run_check that no state module has, and that miss loads every state module and
      through their __virtual__ every execution module, seconds of CPU in each state run
      (tests/unit/test_sls_run_checks.py). #}
{%-   if not salt['file.file_exists'](key) %}

onenebula_ha-ssh-keys-cmd-run:
  cmd.run:
    {#- each value one shell word (quoted), the whole line one YAML string #}
    - name: {{ ("ssh-keygen -q -t ed25519 -N '' -C " ~ (ssh.user ~ '@' ~ opts.id) | quote
                ~ ' -f ' ~ key | quote) | json }}
    - require:
      - file: onenebula_ha-ssh-keys-file-directory
    - require_in:
      - file: onenebula_ha-ssh-keys-file-managed-private
      - file: onenebula_ha-ssh-keys-file-managed-public
{%-   endif %}

{%-   for suffix, path, mode in (('private', key, '0600'), ('public', key ~ '.pub', '0644')) %}

onenebula_ha-ssh-keys-file-managed-{{ suffix }}:
  file.managed:
    - name: {{ path }}
    - replace: false
    - show_changes: false
    - user: {{ ssh.user }}
    - group: {{ onenebula_ha.group if ssh.user == onenebula_ha.user else ssh.user }}
    - mode: '{{ mode }}'
    - require:
      - file: onenebula_ha-ssh-keys-file-directory
{%-   endfor %}

onenebula_ha-ssh-keys-file-serialize:
  file.serialize:
    - name: {{ minion_conf_dir }}/onenebula_ha-mine.conf
    - dataset:
        mine_functions: {{ mine_functions | json }}
    - serializer: yaml
    - makedirs: true
    - mode: '0644'

{%-   if not local_pubkey or local_pubkey | trim != mined_pubkey | trim %}

onenebula_ha-ssh-keys-module-run:
  module.run:
    - mine.send:
      - onenebula_ha_ssh_pubkey
      - mine_function: file.read
      - path: {{ key }}.pub
    - require:
      - file: onenebula_ha-ssh-keys-file-managed-public
{%-   endif %}
{%-   if local_hostkeys != mined_hostkeys %}

onenebula_ha-ssh-keys-module-run-hostkeys:
  module.run:
    - mine.send:
      - onenebula_ha_ssh_hostkeys
      - mine_function: ssh.host_keys
      - private: false
      - certs: false
{%-   endif %}
{%- else %}

onenebula_ha-ssh-keys-test-show_notification:
  test.show_notification:
    - text: SSH between front-ends not managed (onenebula_ha:ssh:manage is false)
{%- endif %}
