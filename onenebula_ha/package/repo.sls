# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- OpenNebula's package repository for onenebula_ha:version/edition on this OS, as
    onenebula_platform.repo_plan decides (an unsupported OS or version stops the render
    here, before any change): third-party prerequisites, the signing key, enterprise
    credentials (a 0600 file rendered on the minion, never shown) and the repository.
    onenebula_ha:packages:repo (pkgrepo.managed arguments) replaces the official one. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set plan = salt['onenebula_platform.repo_plan'](onenebula_ha) %}

{%- if not plan.manage %}
onenebula_ha-package-repo-test-show_notification:
  test.show_notification:
    - text: >-
        OpenNebula repository not managed (onenebula_ha:packages:manage is false)
{%- elif plan.custom %}
onenebula_ha-package-repo-pkgrepo-managed:
  pkgrepo.managed:
{%-   for key, value in plan.custom | dictsort %}
    - {{ key }}: {{ value | json }}
{%-   endfor %}
{%- else %}
{%-   set requires = [] %}
{%-   if plan.prerequisites.pkgs %}

onenebula_ha-package-repo-pkg-installed-prerequisites:
  pkg.installed:
    - pkgs: {{ plan.prerequisites.pkgs | json }}
{%-     do requires.append({'pkg': 'onenebula_ha-package-repo-pkg-installed-prerequisites'}) %}
{%-   endif %}
{%-   for name in plan.prerequisites.enable_repos %}

onenebula_ha-package-repo-pkgrepo-managed-{{ name }}:
  pkgrepo.managed:
    - name: {{ name }}
    - enabled: true
{%-     do requires.append({'pkgrepo': 'onenebula_ha-package-repo-pkgrepo-managed-' ~ name}) %}
{%-   endfor %}
{%-   if plan.key %}

onenebula_ha-package-repo-file-managed-key:
  file.managed:
    - name: {{ plan.key.name }}
    - source: {{ plan.key.source }}
{%-     if plan.key.source_hash %}
    - source_hash: {{ plan.key.source_hash }}
{%-     else %}
    - skip_verify: true
{%-     endif %}
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
{%-     do requires.append({'file': 'onenebula_ha-package-repo-file-managed-key'}) %}
{%-   endif %}
{%-   if plan.credentials %}

onenebula_ha-package-repo-file-managed-credentials:
  file.managed:
    - name: {{ plan.credentials.name }}
    - source: salt://{{ tplroot }}/package/files/{{ plan.credentials.template }}
    - template: jinja
    - context: {{ plan.credentials.context | json }}
    - user: root
    - group: root
    - mode: '0600'
    - makedirs: true
    - show_changes: false
{%-     do requires.append({'file': 'onenebula_ha-package-repo-file-managed-credentials'}) %}
{%-   endif %}
{%-   if plan.pkgrepo %}

onenebula_ha-package-repo-pkgrepo-managed:
  pkgrepo.managed:
{%-     for key, value in plan.pkgrepo | dictsort %}
    - {{ key }}: {{ value | json }}
{%-     endfor %}
{%-     if requires %}
    - require: {{ requires | json }}
{%-     endif %}
{%-   endif %}
{%- endif %}
