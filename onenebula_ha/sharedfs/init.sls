# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Shared datastores (NFS, CephFS or a bind mount), mounted on every front-end and
    recorded in fstab. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import onenebula_ha %}

{%- for mount in onenebula_ha.sharedfs.mounts %}

onenebula_ha-sharedfs-mount-mounted-{{ loop.index }}:
  mount.mounted:
    - name: {{ mount.name | json }}
    - device: {{ mount.device | json }}
    - fstype: {{ mount.fstype | json }}
    - opts: {{ (mount.get('opts') or ['defaults']) | json }}
    - mkmnt: {{ mount.get('mkmnt', true) | json }}
    - persist: true
    {#- Keep the fstab entry as configured: with the default, an active bind mount's
        options replace the configured ones and the entry is rewritten on every run. #}
    - bind_mount_copy_active_opts: false
{%- else %}

onenebula_ha-sharedfs-test-show_notification:
  test.show_notification:
    - text: No shared datastore mounts configured (onenebula_ha:sharedfs:mounts)
{%- endfor %}
