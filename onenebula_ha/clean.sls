# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Remove from this host what the formula installed for the front-end HA, never the
    database's data:
      salt vmm05 state.apply onenebula_ha.clean [test=True]
    Run it after the server left the zone (onenebula_ha.orch.remove): on a host whose
    oned.conf still has its pillar SERVER_ID (a member) it removes nothing and fails.
    Removed: the onenebula_raft beacon; the fencing agent (its service stopped and
    disabled, then its program, configuration, PID file and systemd unit or init script);
    the Raft hooks in oned.conf (RAFT_LEADER_HOOK, RAFT_FOLLOWER_HOOK), the hook scripts
    (raft/failover.sh, raft/failover.d/) and /etc/sudoers.d/onenebula_ha; what the joins
    left in deploy.backup_dir (a leader dump not pulled yet, with its .sha256, and the
    secrets manifest).
    Kept on purpose: the OpenNebula and MariaDB packages, the database, the pre-restore-*
    dumps (the only copies of replaced DBs, in onedb's backup directory, /var/lib/one/backups
    by default), the rest of oned.conf, the formula's restore marker, oneadmin's secrets
    (/var/lib/one/.one) and SSH key (hypervisors trust it), the shared datastore mounts,
    and the agent's log.
    Nothing of this host is on the Salt master: dumps and secrets move between front-ends
    over SSH (no file_recv, no minionfs). The master's own side (master.d/onenebula_ha.conf)
    is written by onenebula_ha.salt.master on the master host; delete that file there. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import failover_dir, is_member, backup_path, manifest_path %}
{%- set oned_conf = onenebula_ha.paths.oned_conf %}
{%- set fence = onenebula_ha.fence %}
{%- set fence_unit = '/etc/systemd/system/' ~ fence.service ~ '.service' %}
{%- set fence_init_script = '/etc/init.d/' ~ fence.service %}

{%- if is_member %}

onenebula_ha-clean-test-fail_without_changes:
  test.fail_without_changes:
    - name: >-
        {{ opts.id }} is still a member of the zone (oned.conf SERVER_ID is its pillar id):
        remove it first (onenebula_ha.orch.remove), then clean
{%- else %}

onenebula_ha-clean-beacon-absent:
  beacon.absent:
    - name: onenebula_raft
    - save: true

{# Whether or not the fence was ever on here (service.dead is content with a service that
   is not installed; no onlyif: tests/unit/test_sls_run_checks.py says why). #}
onenebula_ha-clean-service-dead-fence:
  service.dead:
    - name: {{ fence.service | json }}
    - enable: false

onenebula_ha-clean-file-absent-fence:
  file.absent:
    - names: {{ [fence.program, fence.config, fence.pidfile, fence_unit, fence_init_script] | json }}
    - require:
      - service: onenebula_ha-clean-service-dead-fence
{%-   if salt['file.directory_exists']('/run/systemd/system') %}

onenebula_ha-clean-module-run-daemon_reload:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: onenebula_ha-clean-file-absent-fence
{%-   endif %}

onenebula_ha-clean-onenebula_conf-absent-leader_hook:
  onenebula_conf.absent:
    - name: RAFT_LEADER_HOOK
    - path: {{ oned_conf | json }}

onenebula_ha-clean-onenebula_conf-absent-follower_hook:
  onenebula_conf.absent:
    - name: RAFT_FOLLOWER_HOOK
    - path: {{ oned_conf | json }}

onenebula_ha-clean-file-absent-failover_d:
  file.absent:
    - name: {{ failover_dir | json }}
    - require:
      - onenebula_conf: onenebula_ha-clean-onenebula_conf-absent-leader_hook
      - onenebula_conf: onenebula_ha-clean-onenebula_conf-absent-follower_hook

onenebula_ha-clean-file-absent-failover:
  file.absent:
    - name: {{ (onenebula_ha.paths.hooks_dir ~ '/raft/failover.sh') | json }}
    - require:
      - onenebula_conf: onenebula_ha-clean-onenebula_conf-absent-leader_hook
      - onenebula_conf: onenebula_ha-clean-onenebula_conf-absent-follower_hook

onenebula_ha-clean-file-absent-sudoers:
  file.absent:
    - name: /etc/sudoers.d/onenebula_ha
    - require:
      - file: onenebula_ha-clean-file-absent-failover_d
      - file: onenebula_ha-clean-file-absent-failover

onenebula_ha-clean-file-absent-transfer:
  file.absent:
    - names: {{ [backup_path, backup_path ~ '.sha256', manifest_path] | json }}
{%- endif %}
