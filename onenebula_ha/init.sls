# -*- coding: utf-8 -*-
# vim: ft=sls
---
{#- A complete OpenNebula HA front-end, short of its zone membership: packages, its own
    database, oned.conf / monitord.conf, the shared oneadmin secrets, passwordless SSH,
    shared datastores, the Raft hook scripts, the services and the fencing agent. Joining
    the zone (DB restore, server-add, SERVER_ID, start) is the job of the orchestrations
    (onenebula_ha.orch.deploy / add), which call the ha/ steps one host at a time. #}
include:
  - .package
  - .database
  - .config
  - .secrets
  - .ssh
  - .sharedfs
  - .hooks
  - .service
  - .fence
