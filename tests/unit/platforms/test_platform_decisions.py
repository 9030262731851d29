"""Which repository, packages and services each platform gets (onenebula_platform, plain
functions over onenebula_ha/platforms.yaml), against OpenNebula's documentation.

Expected values are written out literally from these pages:
  [REPO70]  docs.opennebula.io/7.0 "OpenNebula Repositories", Community Edition
            (software/installation_process/manual_installation/opennebula_repository_configuration)
  [FE70]    docs.opennebula.io/7.0 "Front-end Installation" (…/manual_installation/
            front_end_installation): Step 2 third-party repos, Step 4 install command,
            Step 5 systemctl enable
  [REPO610] docs.opennebula.io/6.10 "OpenNebula Repositories" (installation_and_configuration/
            frontend_installation/opennebula_repository_configuration)
  [FE610]   docs.opennebula.io/6.10 "Front-end Installation" (…/frontend_installation/install)
  [DB]      one-deploy roles/database: mariadb-server / service mariadb on Debian and RedHat
"""

import json

import pytest
from salt.exceptions import CommandExecutionError
from support.platform_grains import GRAINS

# [REPO70] "wget -q -O- https://downloads.opennebula.io/repo/repo2.key | gpg --dearmor ..."
# and "gpgkey=https://downloads.opennebula.io/repo/repo2.key"
KEY_URL = "https://downloads.opennebula.io/repo/repo2.key"

# [REPO70] the deb line per platform, and the AlmaLinux baseurl
EXPECTED_70 = {
    "debian-12": ("apt", "https://downloads.opennebula.io/repo/7.0/Debian/12"),
    "ubuntu-22.04": ("apt", "https://downloads.opennebula.io/repo/7.0/Ubuntu/22.04"),
    "ubuntu-24.04": ("apt", "https://downloads.opennebula.io/repo/7.0/Ubuntu/24.04"),
    "almalinux-8": (
        "yum",
        "https://downloads.opennebula.io/repo/7.0/AlmaLinux/$releasever/$basearch",
    ),
    "almalinux-9": (
        "yum",
        "https://downloads.opennebula.io/repo/7.0/AlmaLinux/$releasever/$basearch",
    ),
}
# [FE70] "apt-get -y install opennebula opennebula-fireedge opennebula-gate opennebula-flow"
# (same list for yum), plus opennebula-tools ("Command Line Interface" in the package table).
PKGS_70 = [
    "opennebula",
    "opennebula-fireedge",
    "opennebula-gate",
    "opennebula-flow",
    "opennebula-tools",
]
# [FE610] "... opennebula-gate opennebula-flow opennebula-provision", plus opennebula-tools.
PKGS_610 = [
    "opennebula",
    "opennebula-fireedge",
    "opennebula-gate",
    "opennebula-flow",
    "opennebula-provision",
    "opennebula-tools",
]
# [FE70]/[FE610] Step 5: "systemctl enable opennebula opennebula-fireedge opennebula-gate
# opennebula-flow"
SERVICES = {
    "services": {"oned": "opennebula"},
    "web_ui": {"services": ["opennebula-fireedge"]},
    "leader_services": ["opennebula-flow", "opennebula-gate"],
}
# [FE70] Step 2 "AlmaLinux 8,9: yum -y install epel-release"; [REPO70] "In AlmaLinux9 ...
# enable" the crb repository.
PREREQUISITES = {
    "almalinux-8": {"pkgs": ["epel-release"], "enable_repos": []},
    "almalinux-9": {"pkgs": ["epel-release"], "enable_repos": ["crb"]},
}


def settings_for(module, data, platform, version="7.0", edition="community", **packages):
    """The merged settings map.jinja would produce for these parts."""
    layer = module.layer(data, version, edition, GRAINS[platform])
    return dict(
        layer,
        version=version,
        edition=edition,
        packages={"manage": True, "repo": {}, "enterprise_token": None, **packages},
    )


@pytest.mark.parametrize("platform", sorted(EXPECTED_70))
def test_70_community_repository_packages_and_services(platform_module, platforms_data, platform):
    layer = platform_module.layer(platforms_data, "7.0", "community", GRAINS[platform])
    fmt, url = EXPECTED_70[platform]
    assert layer["platform"]["error"] is None
    assert layer["repo"]["format"] == fmt
    assert layer["repo"]["url"] == url
    assert layer["repo"]["key_url"] == KEY_URL
    assert layer["pkgs"]["opennebula"] == PKGS_70
    assert {key: layer[key] for key in SERVICES} == SERVICES
    assert layer["repo"]["prerequisites"] == PREREQUISITES.get(
        platform, {"pkgs": [], "enable_repos": []}
    )


@pytest.mark.parametrize("platform", ["debian-12", "ubuntu-22.04", "ubuntu-24.04"])
def test_apt_plan_is_the_documented_deb_line(platform_module, platforms_data, platform):
    plan = platform_module.repo_plan(settings_for(platform_module, platforms_data, platform))
    # [REPO70] 'echo "deb [signed-by=/etc/apt/keyrings/opennebula.gpg] <url> stable opennebula"
    # > /etc/apt/sources.list.d/opennebula.list'; the formula keeps the key armoured (.asc).
    assert plan["pkgrepo"] == {
        "name": f"deb [signed-by=/etc/apt/keyrings/opennebula.asc] {EXPECTED_70[platform][1]}"
        " stable opennebula",
        "file": "/etc/apt/sources.list.d/opennebula.list",
        "clean_file": True,
    }
    assert plan["key"] == {
        "name": "/etc/apt/keyrings/opennebula.asc",
        "source": KEY_URL,
        "source_hash": None,
    }
    assert plan["credentials"] is None


@pytest.mark.parametrize("platform", ["almalinux-8", "almalinux-9"])
def test_yum_plan_is_the_documented_repo_file(platform_module, platforms_data, platform):
    plan = platform_module.repo_plan(settings_for(platform_module, platforms_data, platform))
    # [REPO70] "AlmaLinux 8, 9": the [opennebula] section of /etc/yum.repos.d/opennebula.repo
    assert plan["pkgrepo"] == {
        "name": "opennebula",
        "humanname": "OpenNebula Community Edition",
        "baseurl": "https://downloads.opennebula.io/repo/7.0/AlmaLinux/$releasever/$basearch",
        "enabled": 1,
        "gpgkey": KEY_URL,
        "gpgcheck": 1,
        "repo_gpgcheck": 1,
        "file": "/etc/yum.repos.d/opennebula.repo",
    }
    assert plan["key"] is None
    assert plan["prerequisites"] == PREREQUISITES[platform]


@pytest.mark.parametrize(
    ("platform", "url"),
    [
        # [REPO610] "Debian 12" and "AlmaLinux 8, 9"
        ("debian-12", "https://downloads.opennebula.io/repo/6.10/Debian/12"),
        ("ubuntu-24.04", "https://downloads.opennebula.io/repo/6.10/Ubuntu/24.04"),
        (
            "almalinux-9",
            "https://downloads.opennebula.io/repo/6.10/AlmaLinux/$releasever/$basearch",
        ),
    ],
)
def test_610_repository_and_packages(platform_module, platforms_data, platform, url):
    layer = platform_module.layer(platforms_data, "6.10", "community", GRAINS[platform])
    assert layer["repo"]["url"] == url
    assert layer["pkgs"]["opennebula"] == PKGS_610
    assert {key: layer[key] for key in SERVICES} == SERVICES


@pytest.mark.parametrize(
    ("platform", "version", "words"),
    [
        ("ubuntu-20.04", "7.0", ["OpenNebula 7.0 has no front-end packages for Ubuntu 20.04"]),
        ("rocky-9", "7.0", ["for Rocky 9", "AlmaLinux 8, 9"]),
        ("debian-12", "7.4", ["'7.4' is not an OpenNebula version", "(6.10, 7.0)"]),
        ("debian-12", 7.0, ["'7.0' is not an OpenNebula version", "quote it"]),
    ],
    ids=["old-ubuntu", "unknown-distribution", "unknown-version", "float-version"],
)
def test_unsupported_platform_is_refused_naming_the_key(
    platform_module, platforms_data, platform, version, words
):
    settings = settings_for(platform_module, platforms_data, platform, version=version)
    error = settings["platform"]["error"]
    assert error.startswith("onenebula_ha:version: ")
    for word in words:
        assert word in error
    assert "repo" not in settings and "pkgs" not in settings
    with pytest.raises(CommandExecutionError) as raised:
        platform_module.repo_plan(settings)
    assert "onenebula_ha:version: " in str(raised.value)


def test_unsupported_platform_is_fine_when_packages_are_not_managed_or_user_given(
    platform_module, platforms_data
):
    unmanaged = settings_for(platform_module, platforms_data, "ubuntu-20.04", manage=False)
    assert platform_module.repo_plan(unmanaged)["manage"] is False
    own = {"name": "deb https://mirror.example.org/one/7.0 stable opennebula", "file": "/x"}
    custom = settings_for(platform_module, platforms_data, "ubuntu-20.04", repo=own)
    plan = platform_module.repo_plan(custom)
    assert plan["custom"] == own
    assert plan["pkgrepo"] is None and plan["key"] is None


def test_bad_edition_is_an_error(platform_module, platforms_data):
    layer = platform_module.layer(platforms_data, "7.0", "pro", GRAINS["debian-12"])
    assert layer["platform"]["error"] == (
        "onenebula_ha:edition: 'pro' must be community or enterprise"
    )


TOKEN = "customer-login:s3cr3t-Passw0rd"


@pytest.mark.parametrize("platform", ["debian-12", "ubuntu-24.04"])
def test_enterprise_apt_keeps_the_token_in_a_credentials_file(
    platform_module, platforms_data, platform
):
    settings = settings_for(
        platform_module, platforms_data, platform, edition="enterprise", enterprise_token=TOKEN
    )
    plan = platform_module.repo_plan(settings)
    # [REPO70] Enterprise Edition: enterprise.opennebula.io/repo/7.0/<Distribution>/<release>,
    # credentials in /etc/apt/auth.conf.d/opennebula.conf ("machine enterprise.opennebula.io").
    url = EXPECTED_70[platform][1].replace("downloads.", "enterprise.")
    assert plan["pkgrepo"]["name"] == (
        f"deb [signed-by=/etc/apt/keyrings/opennebula.asc] {url} stable opennebula"
    )
    assert plan["credentials"] == {
        "name": "/etc/apt/auth.conf.d/opennebula.conf",
        "template": "apt-auth.conf.jinja",
        "context": {"machine": "enterprise.opennebula.io"},
    }
    assert "s3cr3t" not in json.dumps(plan)
    assert "customer-login" not in json.dumps(plan)


def test_enterprise_yum_writes_the_repo_file_itself(platform_module, platforms_data):
    settings = settings_for(
        platform_module, platforms_data, "almalinux-9", edition="enterprise", enterprise_token=TOKEN
    )
    plan = platform_module.repo_plan(settings)
    assert plan["pkgrepo"] is None  # its return would show username/password
    assert plan["credentials"]["name"] == "/etc/yum.repos.d/opennebula.repo"
    assert plan["credentials"]["template"] == "yum-enterprise.repo.jinja"
    assert plan["credentials"]["context"]["baseurl"] == (
        "https://enterprise.opennebula.io/repo/7.0/AlmaLinux/$releasever/$basearch"
    )
    assert plan["credentials"]["context"]["humanname"] == "OpenNebula Enterprise Edition"
    assert "s3cr3t" not in json.dumps(plan)


def test_lookup_override_wins_over_the_layer(platform_module, platforms_data):
    """What map.jinja does: the layer, then lookup merged over it (recurse)."""
    from salt.utils.dictupdate import merge

    settings = settings_for(platform_module, platforms_data, "debian-12")
    mirror = "https://mirror.example.org/opennebula/7.0/Debian/12"
    settings = merge(settings, {"repo": {"url": mirror, "key_hash": "sha256=" + "0" * 64}})
    plan = platform_module.repo_plan(settings)
    assert plan["pkgrepo"]["name"].split()[2] == mirror
    assert plan["key"]["source_hash"] == "sha256=" + "0" * 64
