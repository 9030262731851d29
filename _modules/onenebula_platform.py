"""
Which OpenNebula repository, front-end packages and services a minion gets.

The data (OpenNebula versions, the distributions each version ships front-end packages for,
repository layout) is ``onenebula_ha/platforms.yaml``; this module makes the decisions from
it and the minion's grains, as plain functions:

* :func:`layer` — the platform values for ``onenebula_ha:version``/``edition`` and the OS,
  merged by ``map.jinja`` between ``osfamilymap.yaml`` and the pillar's ``lookup`` (so every
  value stays overridable);
* :func:`repo_plan` — from the merged settings, what ``onenebula_ha.package`` manages:
  the signing key, the repository definition, enterprise credentials (a 0600 file rendered
  on the minion, never state data or output) and the third-party prerequisites. It refuses
  an unsupported OS or version with a message naming the key, at render time, so nothing
  has changed yet on that minion;
* :func:`requirement` — what every front-end's platform must offer, handed by the deploy
  and add orchestrations to the runner's planner, which refuses the whole plan before its
  first step when one front-end cannot have it (so no front-end changes either).

Whether a platform is supported is decided once, by the formula's utils
(``onenebula_ha.platform_error``), for the render and the planner alike.

Community repositories follow OpenNebula's "OpenNebula Repositories" page:
``https://downloads.opennebula.io/repo/<version>/<Distribution>/<release>`` for apt,
``.../<version>/<Distribution>/$releasever/$basearch`` for yum, signed by ``repo2.key``.
"""

from urllib.parse import urlsplit

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_platform"


def __virtual__():
    # Pure Python: always loadable (map.jinja also renders on the master).
    return __virtualname__


def find_error(platforms, version, edition, grains):
    """
    Why this version/edition cannot be installed from OpenNebula's repositories on an OS
    with these grains, as a message naming the key; ``None`` when it can. The decision is
    the formula's utils' (``onenebula_ha.platform_error``), which the runner's deploy/add
    planner also asks about every front-end before the first step.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_platform.find_error "$(cat onenebula_ha/platforms.yaml)" 7.0 community '{"os": "Ubuntu", "osrelease": "20.04"}'
    """
    if isinstance(platforms, str):
        platforms = salt.utils.yaml.safe_load(platforms)
    return __utils__["onenebula_ha.platform_error"](platforms, version, edition, grains)


def layer(platforms, version, edition="community", grains=None):
    """
    The platform values for an OpenNebula ``version`` and ``edition`` on this minion's OS:
    ``repo`` (where the packages come from), ``pkgs.opennebula`` (the front-end packages),
    ``services.oned``, ``web_ui.services`` and ``leader_services`` (unit names) and ``platform`` (what was chosen, and ``error`` when the
    OS or version is not supported: reported by :func:`repo_plan` only when packages are
    managed, so a master on another OS still renders orchestrations).

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_platform.layer "$(cat onenebula_ha/platforms.yaml)" 7.0
    """
    if isinstance(platforms, str):
        platforms = salt.utils.yaml.safe_load(platforms)
    grains = __grains__ if grains is None else grains
    error = find_error(platforms, version, edition, grains)
    os_name, release, distro = __utils__["onenebula_ha.platform_release"](platforms, grains)
    result = {
        "platform": {
            "os": os_name,
            "release": release,
            "version": version,
            "edition": edition,
            "error": error,
        }
    }
    if error:
        return result
    spec = platforms["versions"][version]
    repository = platforms["repository"]
    fmt = distro["format"]
    base = repository["editions"][edition]["url"]
    repo = {
        "format": fmt,
        "name": repository["name"],
        "humanname": repository["editions"][edition]["humanname"],
        "key_url": repository["key_url"],
        "file": repository[fmt]["file"],
    }
    if fmt == "apt":
        repo.update(
            url=f"{base}/{version}/{os_name}/{release}",
            key_file=repository["apt"]["key_file"],
            suite=repository["apt"]["suite"],
            component=repository["apt"]["component"],
            auth_file=repository["apt"]["auth_file"],
        )
    else:
        repo["url"] = f"{base}/{version}/{os_name}/{repository['yum']['path']}"
    prerequisites = (distro.get("prerequisites") or {}).get(release) or {}
    repo["prerequisites"] = {
        "pkgs": list(prerequisites.get("pkgs") or []),
        "enable_repos": list(prerequisites.get("enable_repos") or []),
    }
    result["repo"] = repo
    result["pkgs"] = {"opennebula": list(spec["frontend_pkgs"])}
    result["services"] = dict(spec["services"])
    result["web_ui"] = {"services": list(spec["web_ui_services"])}
    result["leader_services"] = list(spec["leader_services"])
    return result


def _from_official_repository(settings):
    """Whether these merged settings install the packages from OpenNebula's repositories
    (managed, and no ``packages.repo`` of the user's own)."""
    packages = settings.get("packages") or {}
    return bool(packages.get("manage")) and not packages.get("repo")


def requirement(settings, tplroot="onenebula_ha", saltenv=None):
    """
    What every front-end's platform must offer for these merged settings (map.jinja), for
    the runner's deploy/add planner to check before the first step: ``{"version",
    "edition", "platforms"}`` (``platforms``: ``<tplroot>/platforms.yaml``, the table the
    render decides with) when the packages come from OpenNebula's repositories, ``None``
    when they do not (``packages.manage`` false or ``packages.repo`` set: no platform is
    refused then, as :func:`repo_plan` refuses none).

    CLI Example:

    .. code-block:: bash

        salt-call onenebula_platform.requirement '{"version": "7.0", "edition": "community", "packages": {"manage": true}}'
    """
    if not _from_official_repository(settings):
        return None
    saltenv = saltenv or __opts__.get("saltenv") or "base"
    source = f"salt://{tplroot}/platforms.yaml"
    text = __salt__["cp.get_file_str"](source, saltenv=saltenv)
    if not text:
        raise CommandExecutionError(f"onenebula_ha: {source} not found (saltenv {saltenv})")
    return {
        "version": settings.get("version"),
        "edition": settings.get("edition"),
        "platforms": salt.utils.yaml.safe_load(text),
    }


def _host(url):
    return urlsplit(url).hostname or ""


def repo_plan(settings):
    """
    What ``onenebula_ha.package`` manages, from the merged settings (map.jinja):

    ``{"manage": bool, "custom": {pkgrepo.managed args} | None, "format": "apt"|"yum",
    "key": {"name", "source"} | None, "pkgrepo": {pkgrepo.managed args} | None,
    "credentials": {"name", "template", "context"} | None, "prerequisites": {...}}``

    ``packages.repo`` given by the user replaces the official repository. Enterprise
    credentials never appear in the returned data: the ``credentials`` file is rendered
    on the minion from the pillar. Raises ``CommandExecutionError`` naming the key for an
    unsupported OS or version when packages are managed from the official repository.

    CLI Example:

    .. code-block:: bash

        # Salt 3008 masks pillar.get's values unless unmask=True (3006/3007: leave it out)
        salt vmm01 onenebula_platform.repo_plan "$(salt vmm01 pillar.get onenebula_ha unmask=True --out=json)"
    """
    packages = settings.get("packages") or {}
    plan = {
        "manage": bool(packages.get("manage")),
        "custom": None,
        "format": None,
        "key": None,
        "pkgrepo": None,
        "credentials": None,
        "prerequisites": {"pkgs": [], "enable_repos": []},
    }
    if not _from_official_repository(settings):
        if plan["manage"]:
            plan["custom"] = dict(packages["repo"])
        return plan
    error = (settings.get("platform") or {}).get("error")
    repo = settings.get("repo") or {}
    if error or not repo.get("url"):
        raise CommandExecutionError(
            "Unsupported platform for onenebula_ha:\n  - "
            + (error or "onenebula_ha:lookup:repo:url: no repository for this OS")
        )
    enterprise = settings.get("edition") == "enterprise"
    plan["format"] = repo["format"]
    plan["prerequisites"] = {
        "pkgs": list((repo.get("prerequisites") or {}).get("pkgs") or []),
        "enable_repos": list((repo.get("prerequisites") or {}).get("enable_repos") or []),
    }
    if repo["format"] == "apt":
        # The key is a file of its own (signed-by), so no release's apt-key handling matters.
        # key_hash (lookup) pins the key; without it the key is fetched over HTTPS as the
        # repository page does (wget | gpg --dearmor).
        plan["key"] = {
            "name": repo["key_file"],
            "source": repo["key_url"],
            "source_hash": repo.get("key_hash") or None,
        }
        plan["pkgrepo"] = {
            "name": (
                f"deb [signed-by={repo['key_file']}] {repo['url']} "
                f"{repo['suite']} {repo['component']}"
            ),
            "file": repo["file"],
            "clean_file": True,
        }
        if enterprise:
            plan["credentials"] = {
                "name": repo["auth_file"],
                "template": "apt-auth.conf.jinja",
                "context": {"machine": _host(repo["url"])},
            }
        return plan
    options = {
        "name": repo["name"],
        "humanname": repo["humanname"],
        "baseurl": repo["url"],
        "gpgkey": repo["key_url"],
        "gpgcheck": 1,
        "repo_gpgcheck": 1,
        "enabled": 1,
        "file": repo["file"],
    }
    if enterprise:
        # yum/dnf take the customer's login as username/password options; the whole .repo
        # file is then rendered on the minion (mode 0600) instead of by pkgrepo.managed,
        # whose return would show them.
        plan["credentials"] = {
            "name": repo["file"],
            "template": "yum-enterprise.repo.jinja",
            "context": {k: v for k, v in options.items() if k != "file"},
        }
    else:
        plan["pkgrepo"] = options
    return plan
