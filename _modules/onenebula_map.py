"""
The formula's settings as ``onenebula_ha/map.jinja`` exports them, computed once per run.

The merge is template-formula's (later wins)::

    defaults.yaml
    < osfamilymap.yaml[grains.os_family]
    < platforms.yaml's layer for onenebula_ha:version/edition on this OS (onenebula_platform.layer)
    < pillar onenebula_ha:lookup
    < pillar onenebula_ha

then measured and validated (``onenebula_pillar.settings``). The three YAML files stay in the
state tree for operators to read and override (a file root before the formula's wins, as
with ``import_yaml``).

Why in Python: Salt renders every SLS file in a fresh Jinja environment, so a
``map.jinja`` that imports three YAML files has them fetched from the master (one round trip
each) and compiled as Jinja templates again in every SLS file of a run: 13 SLS files of
``onenebula_ha`` made 52 of its 80 compilations. Here the files are read once, and the result
is kept in ``__context__`` (which a state run copies for itself: it lives as long as the
run) under a fingerprint of everything it depends on, the raw ``onenebula_ha`` pillar, the
grains, the state tree root and the saltenv. So a pillar passed on the command line or by an
orchestration, or another minion's grains, never meets another run's settings.
"""

import copy
import hashlib
import json

import salt.utils.dictupdate
import salt.utils.yaml
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_map"

ROOT = "onenebula_ha"
FILES = ("defaults.yaml", "osfamilymap.yaml", "platforms.yaml")
CONTEXT_KEY = "onenebula_map.settings"


def __virtual__():
    # Pure Python: always loadable (map.jinja also renders on the master for orchestrations).
    return __virtualname__


def _raw_pillar():
    # Salt 3008 masks pillar values outside a render unless asked not to; inside one (where
    # map.jinja calls this) both give the plain values.
    try:
        return __salt__["pillar.get"](ROOT, {}, unmask=True)
    except TypeError:  # Salt before 3008: no masking, no unmask argument
        return __salt__["pillar.get"](ROOT, {})


def _read_yaml(tplroot, name, saltenv):
    source = f"salt://{tplroot}/{name}"
    text = __salt__["cp.get_file_str"](source, saltenv=saltenv)
    if text is False or text is None:
        raise CommandExecutionError(f"onenebula_ha: {source} not found (saltenv {saltenv})")
    return salt.utils.yaml.safe_load(text) or {}


def _fingerprint(*parts):
    """A digest of ``parts`` (JSON), or None when they cannot be serialised (then nothing
    is cached). Called only on a pillar that passed the size limits."""
    try:
        text = json.dumps(parts, default=repr)
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _computed(tplroot, saltenv, pillar, grains):
    """The settings afresh: the three YAML files read, merged, validated."""
    defaults, osfamilymap, platforms = (_read_yaml(tplroot, name, saltenv) for name in FILES)
    default_settings = defaults.get(ROOT) or {}
    # Two single keys read before the pillar is measured, as map.jinja always did: the
    # layer checks their types itself, and a pillar that is not a mapping keeps the defaults.
    section = pillar if isinstance(pillar, dict) else {}
    platform = __salt__["grains.filter_by"](osfamilymap, grain="os_family") or {}
    one_platform = __salt__["onenebula_platform.layer"](
        platforms,
        section.get("version", default_settings.get("version")),
        section.get("edition", default_settings.get("edition")),
        grains,
    )
    platform = salt.utils.dictupdate.merge(
        platform, one_platform, strategy="recurse", merge_lists=False
    )
    return __salt__["onenebula_pillar.settings"](default_settings, platform, pillar)


def settings(tplroot=ROOT, saltenv="base"):
    """
    The formula's settings for this minion (what ``map.jinja`` exports as ``onenebula_ha``):
    the YAML files read, merged
    and validated once per state run, and then answered from ``__context__``
    while the raw pillar, the grains, ``tplroot`` and ``saltenv`` are the same. Each call
    returns its own copy (an SLS file may change what it got without touching the next
    file's). A pillar that fails validation is never cached: every render that asks fails
    with the same message.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_map.settings
        salt vmm01 onenebula_map.settings tplroot=onenebula_ha saltenv=base
    """
    pillar = _raw_pillar()
    grains = {name: __grains__[name] for name in __grains__}
    key = None
    # The size limits first: a pillar is fingerprinted (walked) only once it passed them;
    # one that fails goes to the validation, which reports it.
    if __salt__["onenebula_pillar.problem"](pillar) is None:
        key = _fingerprint(tplroot, saltenv, pillar, grains)
    cached = __context__.get(CONTEXT_KEY)
    if key is not None and cached and cached[0] == key:
        return copy.deepcopy(cached[1])
    result = _computed(tplroot, saltenv, pillar, grains)
    if key is not None:
        __context__[CONTEXT_KEY] = (key, copy.deepcopy(result))
    return result
