"""Simulated OpenNebula command-line tools: ``onezone`` and ``onedb``.

They talk to ``oned`` only over XML-RPC and to the database only through the real
``mysqldump``/``mysql``/``sqlite3`` clients (plus PyMySQL/sqlite3 for the checks the real
``onedb`` makes through Sequel), so they behave the same against the simulator and against a
real OpenNebula front-end. Output bytes, messages and exit codes follow the Ruby CLIs of
OpenNebula 7.0 (``src/cli/onezone``, ``src/onedb/onedb``); departures are marked in comments.

Modules:

* ``one_client``  -- endpoint/credential resolution and the XML-RPC call (``OpenNebula::Client``)
* ``cmdparser``   -- the command/option parser with the Ruby ``CmdParser`` messages and help
* ``did_you_mean`` -- the "Did you mean?" hint optparse adds to an unknown option
* ``xmldoc``      -- XML tree with CDATA kept: Nokogiri-like printing, ``to_hash``, template text
* ``psych_yaml``  -- YAML printed the way Ruby's Psych prints it
* ``table``       -- fixed-width tables and headers (``CLIHelper``)
* ``zone_views``  -- the zone/zone-pool renderings (text, XML, JSON, YAML)
* ``onezone``     -- the ``onezone`` command
* ``oned_conf``   -- the ``DB`` section of ``oned.conf``
* ``onedb_backends`` -- MySQL and SQLite backup/restore/version
* ``onedb``       -- the ``onedb`` command
* ``versions``    -- the OpenNebula and schema versions the tools report
"""
