# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- oned.conf, edited in place (comments and everything else kept). Identical on every
    front-end except FEDERATION/SERVER_ID, which this SLS leaves as it is: a host gets its
    SERVER_ID from the ha/ steps only after its DB was restored from the leader and it was
    added to the zone (an HA start on an un-bootstrapped DB fails, and a stale SERVER_ID
    breaks Raft, one#1609). Changes take effect at the next oned restart
    (onenebula_ha.orch.rolling_restart); this SLS never restarts oned itself.
    monitord.conf: monitoring probes report to the VIP, i.e. to the leader's monitord (the
    only one that acts). Left alone in the no-VIP mode.
    Both parts in one file: every SLS file costs a
    converged run a fetch from the master and a Jinja compilation. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import hook_arguments, hooks_enabled, vip_ip %}
{%- set oned_conf = onenebula_ha.paths.oned_conf %}
{%- set database = onenebula_ha.database %}
{%- set raft = onenebula_ha.raft %}
{%- set values = {
      'port': ('PORT', onenebula_ha.oned.port),
      'listen_address': ('LISTEN_ADDRESS', onenebula_ha.oned.listen_address),
      'federation_mode': ('FEDERATION/MODE', 'STANDALONE'),
      'federation_zone_id': ('FEDERATION/ZONE_ID', onenebula_ha.zone.id),
    } %}

include:
  - {{ tplroot }}.package

{%- for suffix, (key, value) in values | dictsort %}

onenebula_ha-config-onenebula_conf-value-{{ suffix }}:
  onenebula_conf.value:
    - name: {{ key }}
    - value: {{ value | json }}
    - path: {{ oned_conf | json }}
    - require:
      - sls: {{ tplroot }}.package
{%- endfor %}

onenebula_ha-config-onenebula_conf-raft:
  onenebula_conf.raft:
    - name: RAFT
    - path: {{ oned_conf | json }}
{%- for key, value in raft | dictsort %}
    - {{ key }}: {{ value }}
{%- endfor %}
    - require:
      - sls: {{ tplroot }}.package

{%- if database.backend == 'mysql' %}

onenebula_ha-config-onenebula_conf-database:
  onenebula_conf.database:
    - name: DB
    - path: {{ oned_conf | json }}
    - password_pillar: onenebula_ha:database:password
    - backend: mysql
    - server: {{ database.host | json }}
    - port: {{ database.port | json }}
    - user: {{ database.user | json }}
    - db_name: {{ database.name | json }}
    - require:
      - sls: {{ tplroot }}.package
{%- else %}

onenebula_ha-config-onenebula_conf-section-db:
  onenebula_conf.section:
    - name: DB
    - path: {{ oned_conf | json }}
    - values:
        BACKEND: sqlite
        TIMEOUT: 2500
    - require:
      - sls: {{ tplroot }}.package
{%- endif %}

{%- for role in ('leader', 'follower') %}
{%-   set section = 'RAFT_' ~ role | upper ~ '_HOOK' %}
{%-   if hooks_enabled %}

onenebula_ha-config-onenebula_conf-section-{{ role }}_hook:
  onenebula_conf.section:
    - name: {{ section }}
    - path: {{ oned_conf | json }}
    - values:
        COMMAND: {{ onenebula_ha.hooks.command | json }}
        ARGUMENTS: {{ hook_arguments[role] | json }}
    - require:
      - sls: {{ tplroot }}.package
{%-   else %}

onenebula_ha-config-onenebula_conf-absent-{{ role }}_hook:
  onenebula_conf.absent:
    - name: {{ section }}
    - path: {{ oned_conf | json }}
    - require:
      - sls: {{ tplroot }}.package
{%-   endif %}
{%- endfor %}

{%- if vip_ip %}

onenebula_ha-config-onenebula_conf-value-monitor_address:
  onenebula_conf.value:
    - name: NETWORK/MONITOR_ADDRESS
    - value: {{ vip_ip | json }}
    - path: {{ onenebula_ha.paths.monitord_conf | json }}
    - require:
      - sls: {{ tplroot }}.package
{%- else %}

onenebula_ha-config-test-show_notification-monitord:
  test.show_notification:
    - text: monitord.conf MONITOR_ADDRESS left as it is (no VIP)
{%- endif %}
