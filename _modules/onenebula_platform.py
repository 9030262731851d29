"""
Which OpenNebula repository, front-end packages and services a minion gets.

The data (OpenNebula versions, the distributions each version ships front-end packages for,
repository layout) is ``onenebula_ha/platforms.yaml``; this module makes the decisions from
it and the minion's grains, as plain functions:

* :func:`layer` — the platform values for ``onenebula_ha:version``/``edition`` and the OS,
  merged by ``map.jinja`` between ``osfamilymap.yaml`` and the pillar's ``lookup`` (so every
  value stays overridable);
* :func:`repo_plan` — from the merged settings, what ``onenebula_ha.package.repo`` manages:
  the signing key, the repository definition, enterprise credentials (a 0600 file rendered
  on the minion, never state data or output) and the third-party prerequisites. It refuses
  an unsupported OS or version with a message naming the key, at render time, so nothing
  has changed yet.

Community repositories follow OpenNebula's "OpenNebula Repositories" page:
``https://downloads.opennebula.io/repo/<version>/<Distribution>/<release>`` for apt,
``.../<version>/<Distribution>/$releasever/$basearch`` for yum, signed by ``repo2.key``.
"""

from urllib.parse import urlsplit

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_platform"

EDITIONS = ("community", "enterprise")


def __virtual__():
    # Pure Python: always loadable (map.jinja also renders on the master).
    return __virtualname__


def _shown(value):
    """A pillar value for a message: quoted, one line, short."""
    text = str(value).encode("unicode_escape").decode("ascii")
    return f"'{text[:40]}...'" if len(text) > 40 else f"'{text}'"


def _grain(grains, name):
    value = grains.get(name)
    return "" if value is None else str(value)


def _release(platforms, grains):
    os_name = _grain(grains, "os")
    distro = (platforms.get("distributions") or {}).get(os_name) or {}
    return os_name, _grain(grains, distro.get("release_grain", "osmajorrelease")), distro


def _supported_list(platforms_of_version):
    return ", ".join(
        f"{name} {', '.join(releases)}" for name, releases in platforms_of_version.items()
    )


def find_error(platforms, version, edition, grains):
    """
    Why this version/edition cannot be installed from OpenNebula's repositories on an OS
    with these grains, as a message naming the key; ``None`` when it can.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_platform.find_error "$(cat onenebula_ha/platforms.yaml)" 7.0 community '{"os": "Ubuntu", "osrelease": "20.04"}'
    """
    if isinstance(platforms, str):
        platforms = salt.utils.yaml.safe_load(platforms)
    versions = platforms.get("versions") or {}
    if edition not in EDITIONS:
        return f"onenebula_ha:edition: {_shown(edition)} must be community or enterprise"
    if not isinstance(version, str) or version not in versions:
        known = ", ".join(sorted(versions, key=lambda v: [int(p) for p in v.split(".")]))
        return (
            f"onenebula_ha:version: {_shown(version)} is not an OpenNebula version this formula "
            f'knows the repositories of ({known}); quote it in YAML ("7.0", not 7.0)'
        )
    os_name, release, _ = _release(platforms, grains)
    releases = (versions[version].get("platforms") or {}).get(os_name) or []
    if release not in releases:
        return (
            f"onenebula_ha:version: OpenNebula {version} has no front-end packages for "
            f"{os_name or 'this OS'} {release} (grains os/osrelease); its repositories cover "
            f"{_supported_list(versions[version].get('platforms') or {})}. Set "
            "onenebula_ha:packages:repo (pkgrepo.managed arguments) and onenebula_ha:lookup:pkgs "
            "for another source, or onenebula_ha:packages:manage: false"
        )
    return None


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
    os_name, release, distro = _release(platforms, grains)
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


def _host(url):
    return urlsplit(url).hostname or ""


def repo_plan(settings):
    """
    What ``onenebula_ha.package.repo`` manages, from the merged settings (map.jinja):

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
    if not plan["manage"]:
        return plan
    if packages.get("repo"):
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
