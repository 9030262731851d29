# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- The Raft hook scripts (run by oned as its own user on each Raft transition):
      raft/failover.sh    runs the VIP script (OpenNebula's raft/vip.sh) when a VIP is
                          given, then every executable failover.d/NN-* in name order,
                          all with the hook's arguments (leader|follower <iface> <vip>)
      raft/failover.d/    managed entirely from the pillar (unmanaged files removed):
                          onenebula_ha:hooks:failover_scripts, plus the formula's
                          50-onenebula_ha-leader-services which starts the leader-only
                          services (onenebula_ha:leader_services) on the leader and
                          stops them on followers.
      /etc/sudoers.d/onenebula_ha
                          what those scripts run through `sudo -n` when oned runs them
                          as its own user (not root): the VIP's `ip address add|del`
                          and `arping`, start/stop of the leader-only services.
    With the fencing agent (onenebula_ha:fence:enabled) the leader action claims nothing:
    the agent adds the VIP and starts the leader-only services once a majority confirmed
    the leadership (docs/fence.md); the follower action (VIP removed, services stopped)
    stays, and the hooks' sudoers rules keep only what it needs.
    The three templates follow TOFS (libtofs.jinja): a file at
    salt://onenebula_ha/hooks/files/<minion id or os_family>/<name> replaces the shipped one. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import failover_dir %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch %}
{%- set raft_dir = onenebula_ha.paths.hooks_dir ~ '/raft' %}
{%- set owner = {'user': onenebula_ha.user, 'group': onenebula_ha.group} %}
{%- set scripts = {} %}
{%- do scripts.update(onenebula_ha.hooks.failover_scripts) %}
{%- set leader_services_script = '50-onenebula_ha-leader-services' %}
{%- from tplroot ~ "/libha.jinja" import vip_ip %}
{%- set visudo = salt['cmd.which']('visudo') %}

include:
  - {{ tplroot }}.package

onenebula_ha-hooks-file-directory:
  file.directory:
    - name: {{ raft_dir }}
    - user: {{ owner.user }}
    - group: {{ owner.group }}
    - mode: '0755'
    - makedirs: true
    - require:
      - sls: {{ tplroot }}.package

onenebula_ha-hooks-file-managed-failover:
  file.managed:
    - name: {{ raft_dir }}/failover.sh
    - source: {{ files_switch(tplroot ~ '/hooks/files', 'failover.sh.jinja') }}
    - template: jinja
    - context:
        vip_script: {{ (onenebula_ha.paths.hooks_dir ~ '/' ~ onenebula_ha.hooks.vip_script) | json }}
        failover_dir: {{ failover_dir | json }}
        fence: {{ onenebula_ha.fence.enabled | json }}
    - user: {{ owner.user }}
    - group: {{ owner.group }}
    - mode: '0755'
    - require:
      - file: onenebula_ha-hooks-file-directory

onenebula_ha-hooks-file-directory-failover_d:
  file.directory:
    - name: {{ failover_dir }}
    - user: {{ owner.user }}
    - group: {{ owner.group }}
    - mode: '0755'
    - clean: true
    - require:
      - file: onenebula_ha-hooks-file-directory

{%- if onenebula_ha.leader_services %}

onenebula_ha-hooks-file-managed-leader_services:
  file.managed:
    - name: {{ failover_dir }}/{{ leader_services_script }}
    - source: {{ files_switch(tplroot ~ '/hooks/files', 'leader-services.sh.jinja') }}
    - template: jinja
    - context:
        services: {{ onenebula_ha.leader_services | json }}
        fence: {{ onenebula_ha.fence.enabled | json }}
    - user: {{ owner.user }}
    - group: {{ owner.group }}
    - mode: '0755'
    - makedirs: true
    - require:
      - file: onenebula_ha-hooks-file-directory
    - require_in:
      - file: onenebula_ha-hooks-file-directory-failover_d
{%- endif %}

{%- for name, contents in scripts | dictsort %}

onenebula_ha-hooks-file-managed-{{ name }}:
  file.managed:
    - name: {{ failover_dir }}/{{ name }}
    - contents: {{ contents | json }}
    - user: {{ owner.user }}
    - group: {{ owner.group }}
    - mode: '0755'
    - makedirs: true
    - require:
      - file: onenebula_ha-hooks-file-directory
    - require_in:
      - file: onenebula_ha-hooks-file-directory-failover_d
{%- endfor %}

{%- if visudo %}

onenebula_ha-hooks-file-managed-sudoers:
  file.managed:
    - name: /etc/sudoers.d/onenebula_ha
    - source: {{ files_switch(tplroot ~ '/hooks/files', 'sudoers.jinja') }}
    - template: jinja
    - context:
        user: {{ onenebula_ha.user | json }}
        vip: {{ (onenebula_ha.vip.address if vip_ip else '') | json }}
        vip_ip: {{ vip_ip | json }}
        interface: {{ (onenebula_ha.vip.interface if vip_ip else '') | json }}
        services: {{ onenebula_ha.leader_services | json }}
        fence: {{ onenebula_ha.fence.enabled | json }}
        commands:
{%-   for command in ('ip', 'arping', 'service', 'systemctl') %}
          {{ command }}: {{ (salt['cmd.which'](command) or '') | json }}
{%-   endfor %}
    - user: root
    - group: root
    - mode: '0440'
    - check_cmd: {{ visudo }} -c -f
{%- else %}

onenebula_ha-hooks-test-show_notification:
  test.show_notification:
    - text: sudo is not installed; the Raft hook scripts must run as root
{%- endif %}
