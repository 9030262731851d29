"""What onenebula_ha.package and onenebula_ha.database render on each platform:
masterless salt-call with the platform's grains set in the minion config, pillar.example
(OpenNebula "7.0", community), compared with OpenNebula's documentation:

  [REPO70] docs.opennebula.io/7.0 "OpenNebula Repositories" (software/installation_process/
           manual_installation/opennebula_repository_configuration): the deb lines, the
           AlmaLinux [opennebula] .repo section, repo2.key, the enterprise auth.conf.d file
  [FE70]   docs.opennebula.io/7.0 "Front-end Installation" (…/front_end_installation):
           Step 2 "AlmaLinux 8,9: yum -y install epel-release", Step 4 "install opennebula
           opennebula-fireedge opennebula-gate opennebula-flow" (+ opennebula-tools, the CLI
           of the package table)
  [DB]     one-deploy roles/database: mariadb-server, service mariadb (Debian and RedHat)
"""

import copy
import shutil

import pytest
import yaml
from support.local_salt import LocalSalt
from support.platform_grains import GRAINS

KEY_URL = "https://downloads.opennebula.io/repo/repo2.key"  # [REPO70]
PKGS_70 = [  # [FE70] Step 4
    "opennebula",
    "opennebula-fireedge",
    "opennebula-gate",
    "opennebula-flow",
    "opennebula-tools",
]
# [REPO70] one deb line per release
DEB_LINES = {
    "debian-12": "deb [signed-by=/etc/apt/keyrings/opennebula.asc] "
    "https://downloads.opennebula.io/repo/7.0/Debian/12 stable opennebula",
    "ubuntu-22.04": "deb [signed-by=/etc/apt/keyrings/opennebula.asc] "
    "https://downloads.opennebula.io/repo/7.0/Ubuntu/22.04 stable opennebula",
    "ubuntu-24.04": "deb [signed-by=/etc/apt/keyrings/opennebula.asc] "
    "https://downloads.opennebula.io/repo/7.0/Ubuntu/24.04 stable opennebula",
}
# [REPO70] "AlmaLinux 8, 9"
ALMA_BASEURL = "https://downloads.opennebula.io/repo/7.0/AlmaLinux/$releasever/$basearch"
# [DB] + the distributions' PyMySQL package names
DATABASE_PKGS = {
    "Debian": ["mariadb-server", "mariadb-client", "python3-pymysql"],
    "RedHat": ["mariadb-server", "python3-PyMySQL"],
}
TOKEN = "customer-login:s3cr3t-Passw0rd"


@pytest.fixture(scope="module")
def local_salt(tmp_path_factory, repo_root):
    root = tmp_path_factory.mktemp("platform-salt")
    salt = LocalSalt(root, repo_root)
    rc, _, output = salt.call("saltutil.sync_all")
    assert rc == 0, output
    yield salt
    shutil.rmtree(root / "root", ignore_errors=True)


@pytest.fixture(scope="module")
def example(repo_root):
    return yaml.safe_load((repo_root / "pillar.example").read_text())


def as_platform(salt, platform, pillar):
    conf = salt.conf_dir / "minion"
    config = yaml.safe_load(conf.read_text())
    config["grains"] = GRAINS[platform]
    conf.write_text(yaml.safe_dump(config))
    salt.set_pillar(pillar)


def state_args(data, state_id):
    """``{"fun": "pkgrepo.managed", "name": ..., ...}`` of one state of state.show_sls."""
    assert state_id in data, sorted(data)
    ((module, body),) = [(k, v) for k, v in data[state_id].items() if not k.startswith("__")]
    args = {"fun": module + "." + next(item for item in body if isinstance(item, str))}
    for item in body:
        if isinstance(item, dict):
            args.update(item)
    return args


def show(salt, *sls):
    rc, data, output = salt.call("state.show_sls", ",".join(sls))
    assert rc == 0 and isinstance(data, dict), output
    return data, output


@pytest.mark.parametrize("platform", sorted(DEB_LINES))
def test_debian_family_gets_the_documented_repository(local_salt, example, platform):
    as_platform(local_salt, platform, example)
    data, _ = show(local_salt, "onenebula_ha.package", "onenebula_ha.database")
    key = state_args(data, "onenebula_ha-package-file-managed-key")
    assert (key["fun"], key["name"], key["source"]) == (
        "file.managed",
        "/etc/apt/keyrings/opennebula.asc",
        KEY_URL,
    )
    repo = state_args(data, "onenebula_ha-package-pkgrepo-managed")
    assert repo["name"] == DEB_LINES[platform]
    assert repo["file"] == "/etc/apt/sources.list.d/opennebula.list"
    assert repo["require"] == [{"file": "onenebula_ha-package-file-managed-key"}]
    assert "onenebula_ha-package-pkg-installed-prerequisites" not in data
    assert state_args(data, "onenebula_ha-package-pkg-installed")["pkgs"] == PKGS_70
    db_pkgs = state_args(data, "onenebula_ha-database-pkg-installed")["pkgs"]
    assert db_pkgs == DATABASE_PKGS["Debian"]
    db_service = state_args(data, "onenebula_ha-database-service-running")
    assert db_service["name"] == "mariadb"


@pytest.mark.parametrize(
    ("platform", "enable_repos"),
    # [FE70] Step 2: EPEL on AlmaLinux 8 and 9; [REPO70]: CRB enabled on AlmaLinux 9
    [("almalinux-8", []), ("almalinux-9", ["crb"])],
)
def test_almalinux_gets_the_documented_repository(local_salt, example, platform, enable_repos):
    as_platform(local_salt, platform, example)
    data, _ = show(local_salt, "onenebula_ha.package", "onenebula_ha.database")
    repo = state_args(data, "onenebula_ha-package-pkgrepo-managed")
    assert {k: repo[k] for k in ("name", "humanname", "baseurl", "gpgkey", "file")} == {
        "name": "opennebula",
        "humanname": "OpenNebula Community Edition",
        "baseurl": ALMA_BASEURL,
        "gpgkey": KEY_URL,
        "file": "/etc/yum.repos.d/opennebula.repo",
    }
    assert (repo["gpgcheck"], repo["repo_gpgcheck"], repo["enabled"]) == (1, 1, 1)
    prerequisites = state_args(data, "onenebula_ha-package-pkg-installed-prerequisites")
    assert prerequisites["pkgs"] == ["epel-release"]
    prefix = "onenebula_ha-package-pkgrepo-managed-"
    assert sorted(k[len(prefix) :] for k in data if k.startswith(prefix)) == enable_repos
    for name in enable_repos:
        enabled = state_args(data, prefix + name)
        assert (enabled["name"], enabled["enabled"]) == (name, True)
    assert "onenebula_ha-package-file-managed-key" not in data
    assert state_args(data, "onenebula_ha-package-pkg-installed")["pkgs"] == PKGS_70
    db_pkgs = state_args(data, "onenebula_ha-database-pkg-installed")["pkgs"]
    assert db_pkgs == DATABASE_PKGS["RedHat"]
    db_service = state_args(data, "onenebula_ha-database-service-running")
    assert db_service["name"] == "mariadb"


def test_unsupported_os_stops_the_run_before_any_state(local_salt, example):
    as_platform(local_salt, "ubuntu-20.04", example)
    rc, data, output = local_salt.call(
        "state.apply", "onenebula_ha._mapdata,onenebula_ha.package", "test=True"
    )
    assert rc != 0
    # A render error: a list of messages, no state ran (not even _mapdata's).
    assert isinstance(data, list), output
    assert "onenebula_ha:version: OpenNebula 7.0 has no front-end packages for Ubuntu 20.04" in (
        output
    )


def test_unsupported_os_is_fine_without_package_management(local_salt, example):
    pillar = copy.deepcopy(example)
    pillar["onenebula_ha"]["packages"]["manage"] = False
    as_platform(local_salt, "ubuntu-20.04", pillar)
    data, _ = show(local_salt, "onenebula_ha.package")
    assert state_args(data, "onenebula_ha-package-test-show_notification-repo")


def test_enterprise_token_stays_out_of_state_data_and_lookup_wins(local_salt, example):
    pillar = copy.deepcopy(example)
    pillar["onenebula_ha"].update(edition="enterprise")
    pillar["onenebula_ha"]["packages"]["enterprise_token"] = TOKEN
    mirror = "https://mirror.example.org/opennebula-ee/7.0/Debian/12"
    pillar["onenebula_ha"]["lookup"] = {"repo": {"url": mirror}}
    as_platform(local_salt, "debian-12", pillar)
    data, output = show(local_salt, "onenebula_ha.package", "onenebula_ha._mapdata")
    assert "s3cr3t" not in output and "customer-login" not in output
    credentials = state_args(data, "onenebula_ha-package-file-managed-credentials")
    assert credentials["name"] == "/etc/apt/auth.conf.d/opennebula.conf"  # [REPO70]
    assert (credentials["mode"], credentials["show_changes"]) == ("0600", False)
    assert credentials["context"] == {"machine": "mirror.example.org"}
    repo = state_args(data, "onenebula_ha-package-pkgrepo-managed")
    assert repo["name"].split()[2] == mirror
    dataset = state_args(data, "onenebula_ha-_mapdata-file-serialize")["dataset"]
    assert dataset["packages"]["enterprise_token"] == "<redacted>"


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        # [REPO70] "machine enterprise.opennebula.io / login <user> / password <password>"
        (
            "apt-auth.conf.jinja",
            {"machine": "enterprise.opennebula.io"},
            [
                "machine enterprise.opennebula.io",
                "login customer-login",
                "password s3cr3t-Passw0rd",
            ],
        ),
        (
            "yum-enterprise.repo.jinja",
            {
                "name": "opennebula",
                "humanname": "OpenNebula Enterprise Edition",
                "baseurl": "https://enterprise.opennebula.io/repo/7.0/AlmaLinux/$releasever/$basearch",
                "enabled": 1,
                "gpgkey": KEY_URL,
                "gpgcheck": 1,
                "repo_gpgcheck": 1,
            },
            [
                "[opennebula]",
                "baseurl=https://enterprise.opennebula.io/repo/7.0/AlmaLinux/$releasever/$basearch",
                "username=customer-login",
                "password=s3cr3t-Passw0rd",
            ],
        ),
    ],
)
def test_credentials_are_rendered_on_the_minion_from_the_pillar(
    local_salt, example, tmp_path, template, context, expected
):
    pillar = copy.deepcopy(example)
    pillar["onenebula_ha"].update(edition="enterprise")
    pillar["onenebula_ha"]["packages"]["enterprise_token"] = TOKEN
    as_platform(local_salt, "debian-12", pillar)
    dest = tmp_path / "rendered"
    args = [f"{key}={value}" for key, value in context.items()]
    rc, _, output = local_salt.call(
        "cp.get_template", f"salt://onenebula_ha/package/files/{template}", str(dest), *args
    )
    assert rc == 0, output
    lines = dest.read_text().splitlines()
    for line in expected:
        assert line in lines
