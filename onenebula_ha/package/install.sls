# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- The OpenNebula front-end packages for onenebula_ha:version (onenebula_ha.pkgs.opennebula,
    from onenebula_platform.layer; overridable through onenebula_ha:lookup:pkgs). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}

include:
  - .repo

{%- if onenebula_ha.packages.manage %}

onenebula_ha-package-install-pkg-installed:
  pkg.installed:
    - pkgs: {{ onenebula_ha.pkgs.opennebula | json }}
    - require:
      - sls: {{ tplroot }}.package.repo
{%- else %}

onenebula_ha-package-install-test-show_notification:
  test.show_notification:
    - text: >-
        OpenNebula packages not managed (onenebula_ha:packages:manage is false):
        they must already be installed
{%- endif %}
