# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Services.
      web UI (onenebula_ha:web_ui:services)   running on every front-end, restarted when
                                              the shared secrets change (fireedge_key)
      leader-only services                    enabled at boot (so OpenNebula's vip.sh
                                              manages them) but never started here: the
                                              Raft hooks start them on the leader only
      opennebula (oned)                       kept running on a host that is a zone member
                                              already; a new host is started by the ha/
                                              steps of the orchestrations, at the right
                                              moment of its join #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- from tplroot ~ "/libha.jinja" import is_member %}

include:
  - {{ tplroot }}.package
  - {{ tplroot }}.config
  - {{ tplroot }}.secrets

{%- for service in onenebula_ha.web_ui.services %}

onenebula_ha-service-service-running-{{ service }}:
  service.running:
    - name: {{ service }}
    - enable: true
    - require:
      - sls: {{ tplroot }}.package
      - sls: {{ tplroot }}.config
    - watch:
      - sls: {{ tplroot }}.secrets
{%- endfor %}

{%- for service in onenebula_ha.leader_services %}

onenebula_ha-service-service-enabled-{{ service }}:
  service.enabled:
    - name: {{ service }}
    - require:
      - sls: {{ tplroot }}.package
{%- endfor %}

{%- if is_member %}

onenebula_ha-service-service-running-oned:
  service.running:
    - name: {{ onenebula_ha.services.oned }}
    - enable: true
    - require:
      - sls: {{ tplroot }}.config
      - sls: {{ tplroot }}.secrets
{%- else %}

onenebula_ha-service-test-show_notification:
  test.show_notification:
    - text: >-
        {{ onenebula_ha.services.oned }} is not managed here yet: this host is not a zone
        member (oned.conf SERVER_ID differs from its pillar id); the deploy or add
        orchestration starts it when it joins
{%- endif %}
