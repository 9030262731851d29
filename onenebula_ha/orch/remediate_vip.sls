# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- Safety net for the floating IP after a leader change. Started by the reactor on a
    `role` event to `leader` (reactor/onenebula_ha/role.sls), or by hand:

      salt-run state.orchestrate onenebula_ha.orch.remediate_vip \
          pillar='{"onenebula_ha_vip": {"leader": "vmm02", "term": 7}}'

    The Raft hooks move the VIP on their own; this makes sure it ended up on the leader
    and nowhere else. At render time every front-end is asked, with plain execution
    module calls (no state run that could collide with a deployment's), for its Raft
    status and whether it holds the VIP. Then:
      1. each other front-end that holds the VIP runs the VIP hook's follower action
         (it is not the leader of this term: a stale leader keeps state 3);
      2. the leader runs the hook's leader action if it lacks the VIP.
    Nothing is done when the named minion is not the leader of that term (or a later
    one) any more, or another front-end leads in a newer term: the role event of the
    newer leader covers it. The hook actions are idempotent.

    Settings: the master's `onenebula_ha_reactor` configuration written by the
    onenebula_ha.salt.master state (frontends, vip, hook, query_timeout). #}
{%- set settings = salt['config.get']('onenebula_ha_reactor', {}) %}
{%- set request = salt['pillar.get']('onenebula_ha_vip', {}) %}
{%- set leader = request.get('leader') %}
{%- set term = request.get('term') %}
{%- set frontends = (settings.get('frontends') or []) | map(attribute='minion') | list %}
{%- set vip = settings.get('vip') or {} %}
{%- set hook = settings.get('hook') or {} %}
{%- set timeout = settings.get('query_timeout', 10) %}
{%- set notes = [] %}
{%- set release = [] %}
{%- set claim = [] %}

{%- if not (vip.get('address') and vip.get('interface') and hook.get('command')) %}
{%-   do notes.append('no VIP configured (onenebula_ha_reactor:vip/hook): nothing to do') %}
{%- elif leader not in frontends or term is not integer %}
{%-   do notes.append('ignored: pillar onenebula_ha_vip needs leader (one of '
                      ~ frontends | join(', ') ~ ') and term (an integer), got '
                      ~ request | json) %}
{%- else %}
{%-   set vip_ip = vip.address.split('/')[0] %}
{%-   set statuses = salt['saltutil.cmd'](frontends, 'onenebula_zone.raft_status',
                                          tgt_type='list', timeout=timeout) %}
{%-   set addresses = salt['saltutil.cmd'](frontends, 'network.ip_addrs',
                                           kwarg={'interface': vip.interface},
                                           tgt_type='list', timeout=timeout) %}
{%-   set raft = {} %}
{%-   set holders = [] %}
{%-   for minion in frontends %}
{%-     set answer = statuses.get(minion) or {} %}
{%-     if answer.get('retcode', 1) == 0 and answer.get('ret') is mapping %}
{%-       do raft.update({minion: answer.ret}) %}
{%-     endif %}
{%-     set held = addresses.get(minion) or {} %}
{%-     if held.get('retcode', 1) == 0 and held.get('ret') is sequence
           and vip_ip in held.get('ret') %}
{%-       do holders.append(minion) %}
{%-     endif %}
{%-   endfor %}
{%-   set current = raft.get(leader) or {} %}
{%-   set current_term = current.get('term') if current.get('term') is integer else -1 %}
{%-   set newer = [] %}
{%-   for minion, status in raft | dictsort %}
{%-     if minion != leader and status.get('state_name') == 'leader'
           and status.get('term') is integer and status.get('term') > current_term %}
{%-       do newer.append(minion) %}
{%-     endif %}
{%-   endfor %}
{%-   if current.get('state_name') != 'leader' or current_term < term %}
{%-     do notes.append(leader ~ ' is not the leader of term ' ~ term ~ ' any more (now '
                        ~ current.get('state_name', 'unreachable') ~ ', term '
                        ~ current.get('term', '?') ~ '): nothing to do') %}
{%-   elif newer %}
{%-     do notes.append(newer | join(', ') ~ ' leads in a newer term than ' ~ leader
                        ~ ': nothing to do') %}
{%-   else %}
{%-     do release.extend(holders | reject('equalto', leader) | list) %}
{%-     if leader not in holders %}
{%-       do claim.append(leader) %}
{%-     endif %}
{%-     do notes.append('VIP ' ~ vip.address ~ ' held by [' ~ holders | join(', ') ~ '], leader '
                        ~ leader ~ ' (term ' ~ current_term ~ '): '
                        ~ ('release on ' ~ release | join(', ') if release else 'nothing to release')
                        ~ ', ' ~ ('claim on ' ~ leader if claim else 'leader holds it')) %}
{%-   endif %}
{%- endif %}

onenebula_ha-orch-remediate_vip-test-show_notification:
  test.show_notification:
    - text: {{ notes | join('; ') | json }}

{%- for minion in release %}

onenebula_ha-orch-remediate_vip-salt-function-release-{{ minion }}:
  salt.function:
    - name: cmd.run
    - tgt: {{ minion | json }}
    - arg:
      - {{ [hook.command, 'follower', vip.interface, vip.address] | json }}
    - kwarg:
        runas: {{ hook.get('runas') | json }}
        python_shell: false
{%- endfor %}

{%- for minion in claim %}

onenebula_ha-orch-remediate_vip-salt-function-claim-{{ minion }}:
  salt.function:
    - name: cmd.run
    - tgt: {{ minion | json }}
    - arg:
      - {{ [hook.command, 'leader', vip.interface, vip.address] | json }}
    - kwarg:
        runas: {{ hook.get('runas') | json }}
        python_shell: false
{%- endfor %}
