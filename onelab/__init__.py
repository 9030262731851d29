"""onelab: a lab of 3 or 5 OpenNebula front-ends, a Salt master and a client on one machine.

Test and demo component only (the formula never imports it). Hosts are Linux namespaces:

* every host has a network namespace ``oneha-<host>`` whose ``eth0`` sits on the bridge
  ``oneha0`` (10.213.0.1/24); front-ends ``vmm01``…``vmm05`` are 10.213.0.10…50, the master
  ``salt`` 10.213.0.2, the client ``client`` 10.213.0.200, the VIP 10.213.0.100/24;
* a front-end also has its own PID, mount, UTS and IPC namespaces, held by
  :mod:`onelab.hostinit` (its PID 1), and a private view of ``/etc``, ``/usr`` (overlay),
  ``/root`` (overlay), ``/var/lib/one``, ``/var/log/one``, ``/var/lock/one``, MariaDB's
  directories, ``/tmp`` … (:mod:`onelab.rootfs`); it runs its own MariaDB (installed and
  enabled as Debian's package does), the simulated OpenNebula's files (``onesim.layout``, not
  started: that is the formula's job) and a Salt minion that manages SysV services for real.

Entry points: :class:`onelab.lab.Lab` (Python API, used by tests through
``tests/e2e/conftest.py``) and the ``onelab`` command (:mod:`onelab.cli`). Salt daemons come
from :class:`onelab.salt_plain.PlainSalt` (CLI) or :class:`onelab.salt_factories.FactoriesSalt`
(tests), both configured by :mod:`onelab.saltconfig`.
"""
