# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- On the current leader: remove the (already stopped) server from the zone. The state
    refuses to remove the leader, the last member, a server whose oned still answers, or
    from a zone unhealthy apart from that server. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import this_server %}
{%- from tplroot ~ "/libstep.jinja" import target %}
{#- The orchestration targets every remaining member (after a leader was stopped, who
    leads now is only known at run time): only the leader acts. #}
{%- set report = salt['onenebula_zone.health'](onenebula_ha.zone.id, ignore=[target.name])
                 if 'onenebula_zone.health' in salt else {} %}
{%- set leader_name = (report.get('leader') or {}).get('name') %}

{%- if this_server and leader_name == this_server.name %}

onenebula_ha-ha-absent-onenebula_zone-server_absent:
  onenebula_zone.server_absent:
    - name: {{ target.name }}
    - zone: {{ onenebula_ha.zone.id }}
{%- else %}

onenebula_ha-ha-absent-test-show_notification:
  test.show_notification:
    - text: >-
        {{ opts.id }} is not the leader (the leader is {{ leader_name or 'unknown' }}):
        the leader removes {{ target.name }}
{%- endif %}
