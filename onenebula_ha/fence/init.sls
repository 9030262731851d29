# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- The fencing agent (onenebula-ha-fence, docs/fence.md): on every front-end, a service of
    its own, independent of salt-minion, that holds the floating IP and the leader-only
    services only under a lease confirmed by a majority of the zone, and serves
    /leader /follower /health /metrics for load balancers and monitoring.

      <fence:program>         the agent, one file for the host's python3 (stdlib only)
      <fence:config>          its JSON configuration, from onenebula_ha:fence, servers,
                              vip, leader_services and raft (no secret in it: the
                              agent reads the oneadmin credentials from one_auth itself)
      service                 a systemd unit where systemd is the running init, an LSB
                              init script otherwise; restarted when any of the above
                              changes (a restart drops the VIP until the next confirming
                              round, about one poll_interval)

    The unit and the init script are templates found the TOFS way (libtofs.jinja:
    fence/files/<minion id>/, then <os_family>/, then the shipped one).
    With onenebula_ha:fence:enabled false the service is stopped and disabled (the Raft
    hooks then move the VIP alone; stopping the agent drops the VIP, which the leader hook
    only puts back at the next leader change: run the leader action once by hand, or
    onenebula_ha.orch.remediate_vip). Runs as root: `ip address add|del` needs
    CAP_NET_ADMIN, arping CAP_NET_RAW, the credentials file is oneadmin's, and the
    leader-only services are started and stopped through the init system. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import this_server %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch %}
{%- set fence = onenebula_ha.fence %}
{%- set paths = onenebula_ha.paths %}
{%- set service = fence.service %}
{%- set systemd = salt['file.directory_exists']('/run/systemd/system') %}

include:
  {#- The hooks follow the fence flag (with it on, the leader hook claims nothing): applying
      this SLS alone must never leave a hook that claims the VIP beside the agent. #}
  - {{ tplroot }}.hooks

{%- if fence.enabled and this_server is not none %}
{%-   set config = {
        'server_id': this_server.id,
        'servers': [],
        'vip': {'address': onenebula_ha.vip.address, 'interface': onenebula_ha.vip.interface}
               if onenebula_ha.vip.enabled else none,
        'leader_services': onenebula_ha.leader_services,
        'bind': fence.bind,
        'port': fence.port,
        'poll_interval': fence.poll_interval,
        'lease_fraction': fence.lease_fraction,
        'timeout': fence.timeout,
        'margin_ms': fence.margin_ms,
        'max_lag': fence.max_lag,
        'oned_conf': paths.oned_conf,
        'one_auth': paths.one_auth_dir ~ '/one_auth',
        'election_timeout_ms': onenebula_ha.raft.election_timeout_ms,
        'broadcast_timeout_ms': onenebula_ha.raft.broadcast_timeout_ms,
        'log_level': fence.log_level,
      } %}
{%-   for server in onenebula_ha.servers %}
{%-     do config.servers.append({'id': server.id, 'name': server.name,
                                  'endpoint': server.endpoint}) %}
{%-   endfor %}

onenebula_ha-fence-file-managed-agent:
  file.managed:
    - name: {{ fence.program }}
    - source: salt://{{ tplroot }}/fence/files/onenebula_ha_fence.py
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: true

onenebula_ha-fence-file-serialize-config:
  file.serialize:
    - name: {{ fence.config }}
    - dataset: {{ config | json }}
    - serializer: json
    - user: root
    - group: root
    - mode: '0640'
    - makedirs: true

onenebula_ha-fence-cmd-run-check:
  cmd.run:
    - name: {{ (fence.python3 | quote ~ ' ' ~ fence.program | quote ~ ' --config '
                ~ fence.config | quote ~ ' --check') | json }}
    - onchanges:
      - file: onenebula_ha-fence-file-managed-agent
      - file: onenebula_ha-fence-file-serialize-config

{%-   if systemd %}

onenebula_ha-fence-file-managed-unit:
  file.managed:
    - name: /etc/systemd/system/{{ service }}.service
    - source: {{ files_switch(tplroot ~ '/fence/files', 'onenebula-ha-fence.service.jinja') }}
    - template: jinja
    - context:
        python3: {{ fence.python3 | json }}
        agent: {{ fence.program | json }}
        config: {{ fence.config | json }}
    - user: root
    - group: root
    - mode: '0644'

onenebula_ha-fence-module-run-daemon_reload:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: onenebula_ha-fence-file-managed-unit
{%-     set unit_state = 'file: onenebula_ha-fence-file-managed-unit' %}
{%-   else %}

onenebula_ha-fence-file-managed-init_script:
  file.managed:
    - name: /etc/init.d/{{ service }}
    - source: {{ files_switch(tplroot ~ '/fence/files', 'onenebula-ha-fence.init.jinja') }}
    - template: jinja
    - context:
        name: {{ service | json }}
        python3: {{ fence.python3 | json }}
        agent: {{ fence.program | json }}
        config: {{ fence.config | json }}
        pidfile: {{ fence.pidfile | json }}
        logfile: {{ fence.log | json }}
    - user: root
    - group: root
    - mode: '0755'
{%-     set unit_state = 'file: onenebula_ha-fence-file-managed-init_script' %}
{%-   endif %}

onenebula_ha-fence-service-running:
  service.running:
    - name: {{ service }}
    - enable: true
    - require:
      - cmd: onenebula_ha-fence-cmd-run-check
      - sls: {{ tplroot }}.hooks
    - watch:
      - file: onenebula_ha-fence-file-managed-agent
      - file: onenebula_ha-fence-file-serialize-config
      - {{ unit_state }}
{%- elif fence.enabled %}

onenebula_ha-fence-test-show_notification:
  test.show_notification:
    - text: {{ ('no fencing agent: ' ~ opts.id ~ ' is not one of onenebula_ha:servers') | json }}
{%- else %}

onenebula_ha-fence-service-dead:
  service.dead:
    - name: {{ service }}
    - enable: false
    - onlyif:
      - {{ ('test -e ' ~ ('/etc/init.d/' ~ service) | quote ~ ' -o -e '
            ~ ('/etc/systemd/system/' ~ service ~ '.service') | quote) | json }}
{%- endif %}
