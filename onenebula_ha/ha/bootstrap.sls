# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Bootstrap the first server of a bare cluster (OpenNebula's documented procedure):
    start oned solo (this bootstraps its DB), add itself to the zone, set SERVER_ID to
    the ID the zone gave it and restart into HA. It leads after the 15 s warm-up and one
    election timeout (its leader hook or the fencing agent brings up the VIP): the deploy
    waits for that before the first join (ha.healthy, in the state run of its backup),
    so the other front-ends get their base state meanwhile. Every step is a
    no-op once done, so a run interrupted at any point is finished by the next one. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import conf_server_id %}
{%- from tplroot ~ "/libstep.jinja" import target %}
{%- set oned = onenebula_ha.services.oned %}
{%- set oned_conf = onenebula_ha.paths.oned_conf %}
{%- set running = salt['service.status'](oned) %}

{%- if conf_server_id != target.id %}

onenebula_ha-ha-bootstrap-service-running-solo:
  service.running:
    - name: {{ oned }}
    - enable: true

onenebula_ha-ha-bootstrap-onenebula_zone-server_present:
  onenebula_zone.server_present:
    - name: {{ target.name }}
    - endpoint: {{ target.endpoint }}
    - zone: {{ onenebula_ha.zone.id }}
    - require:
      - service: onenebula_ha-ha-bootstrap-service-running-solo

onenebula_ha-ha-bootstrap-onenebula_zone-member:
  onenebula_zone.member:
    - name: {{ target.name }}
    - id: {{ target.id }}
    - zone: {{ onenebula_ha.zone.id }}
    - require:
      - onenebula_zone: onenebula_ha-ha-bootstrap-onenebula_zone-server_present
    - require_in:
      - onenebula_conf: onenebula_ha-ha-bootstrap-onenebula_conf-server_id

onenebula_ha-ha-bootstrap-onenebula_conf-server_id:
  onenebula_conf.server_id:
    - value: {{ target.id }}
    - path: {{ oned_conf }}
    - require:
      - onenebula_zone: onenebula_ha-ha-bootstrap-onenebula_zone-server_present

onenebula_ha-ha-bootstrap-service-running-ha:
  service.running:
    - name: {{ oned }}
    - enable: true
    - watch:
      - onenebula_conf: onenebula_ha-ha-bootstrap-onenebula_conf-server_id
{%- else %}
{#-   SERVER_ID is already set: start oned if stopped, and restart it if it still runs
      solo (a run interrupted between the SERVER_ID edit and the restart). #}
{%-   set seen = salt['onenebula_zone.health'](onenebula_ha.zone.id).servers if running else [] %}
{%-   set solo = seen | selectattr('name', 'equalto', target.name) | selectattr('state', 'equalto', 'solo') | list %}
{%-   if solo %}

onenebula_ha-ha-bootstrap-module-run:
  module.run:
    - service.restart:
      - name: {{ oned }}
{%-   else %}

onenebula_ha-ha-bootstrap-service-running-ha:
  service.running:
    - name: {{ oned }}
    - enable: true
{%-   endif %}
{%- endif %}
