# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- monitord.conf: monitoring probes report to the VIP, i.e. to the leader's monitord
    (the only one that acts). Left alone in the no-VIP mode. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import vip_ip %}

include:
  - {{ tplroot }}.package

{%- if vip_ip %}

onenebula_ha-config-monitord-onenebula_conf-value:
  onenebula_conf.value:
    - name: NETWORK/MONITOR_ADDRESS
    - value: {{ vip_ip | json }}
    - path: {{ onenebula_ha.paths.monitord_conf }}
    - require:
      - sls: {{ tplroot }}.package
{%- else %}

onenebula_ha-config-monitord-test-show_notification:
  test.show_notification:
    - text: monitord.conf MONITOR_ADDRESS left as it is (no VIP)
{%- endif %}
