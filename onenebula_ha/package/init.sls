# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- OpenNebula's package repository for onenebula_ha:version/edition on this OS, as
    onenebula_platform.repo_plan decides (an unsupported OS or version stops the render
    here, before any change): third-party prerequisites, the signing key, enterprise
    credentials (a 0600 file rendered on the minion, never shown) and the repository.
    onenebula_ha:packages:repo (pkgrepo.managed arguments) replaces the official one.
    Then the OpenNebula front-end packages for onenebula_ha:version (onenebula_ha.pkgs.opennebula,
    from onenebula_platform.layer; overridable through onenebula_ha:lookup:pkgs), once the
    repository is in place.
    Both parts in one file: every SLS file costs a
    converged run a fetch from the master and a Jinja compilation. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}
{%- set plan = salt['onenebula_platform.repo_plan'](onenebula_ha) %}

{%- set repo_states = [] %}
{%- if not plan.manage %}
onenebula_ha-package-test-show_notification-repo:
  test.show_notification:
    - text: >-
        OpenNebula repository not managed (onenebula_ha:packages:manage is false)
{%- elif plan.custom %}
onenebula_ha-package-pkgrepo-managed:
  pkgrepo.managed:
{%-   for key, value in plan.custom | dictsort %}
    - {{ key }}: {{ value | json }}
{%-   endfor %}
{%-   do repo_states.append({'pkgrepo': 'onenebula_ha-package-pkgrepo-managed'}) %}
{%- else %}
{%-   set requires = [] %}
{%-   if plan.prerequisites.pkgs %}

onenebula_ha-package-pkg-installed-prerequisites:
  pkg.installed:
    - pkgs: {{ plan.prerequisites.pkgs | json }}
{%-     do requires.append({'pkg': 'onenebula_ha-package-pkg-installed-prerequisites'}) %}
{%-   endif %}
{%-   for name in plan.prerequisites.enable_repos %}

onenebula_ha-package-pkgrepo-managed-{{ name }}:
  pkgrepo.managed:
    - name: {{ name | json }}
    - enabled: true
{%-     do requires.append({'pkgrepo': 'onenebula_ha-package-pkgrepo-managed-' ~ name}) %}
{%-   endfor %}
{%-   if plan.key %}

onenebula_ha-package-file-managed-key:
  file.managed:
    - name: {{ plan.key.name | json }}
    - source: {{ plan.key.source | json }}
{%-     if plan.key.source_hash %}
    - source_hash: {{ plan.key.source_hash | json }}
{%-     else %}
    - skip_verify: true
{%-     endif %}
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
{%-     do requires.append({'file': 'onenebula_ha-package-file-managed-key'}) %}
{%-   endif %}
{%-   if plan.credentials %}

onenebula_ha-package-file-managed-credentials:
  file.managed:
    - name: {{ plan.credentials.name | json }}
    - source: salt://{{ tplroot }}/package/files/{{ plan.credentials.template }}
    - template: jinja
    - context: {{ plan.credentials.context | json }}
    - user: root
    - group: root
    - mode: '0600'
    - makedirs: true
    - show_changes: false
{%-     do requires.append({'file': 'onenebula_ha-package-file-managed-credentials'}) %}
{%-   endif %}
{%-   if plan.pkgrepo %}

onenebula_ha-package-pkgrepo-managed:
  pkgrepo.managed:
{%-     for key, value in plan.pkgrepo | dictsort %}
    - {{ key }}: {{ value | json }}
{%-     endfor %}
{%-     if requires %}
    - require: {{ requires | json }}
{%-     endif %}
{%-     do requires.append({'pkgrepo': 'onenebula_ha-package-pkgrepo-managed'}) %}
{%-   endif %}
{%-   do repo_states.extend(requires) %}
{%- endif %}

{%- if onenebula_ha.packages.manage %}

onenebula_ha-package-pkg-installed:
  pkg.installed:
    - pkgs: {{ onenebula_ha.pkgs.opennebula | json }}
{%-   if repo_states %}
    - require: {{ repo_states | json }}
{%-   endif %}
{%- else %}

onenebula_ha-package-test-show_notification-install:
  test.show_notification:
    - text: >-
        OpenNebula packages not managed (onenebula_ha:packages:manage is false):
        they must already be installed
{%- endif %}
