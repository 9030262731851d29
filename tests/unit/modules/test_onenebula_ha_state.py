"""Unit tests for ``_states/onenebula_ha.py``: the states that read oneadmin's credentials at
run time. Only states are public: Salt exposes every public function of a state module."""

import hashlib
import inspect

import pytest
from onenebula_modules_helpers import load
from support.formula_utils import utils_dunder

UTILS = utils_dunder()
ha_state = load("states", "onenebula_ha")
DB_PASSWORD = "db-pass-Zq81"


class MysqlUser:
    """Stands in for saltext-mysql's ``mysql_user.present``; records its arguments."""

    def __init__(self):
        self.calls = []

    def __call__(self, name, host=None, password_hash=None, **connection):
        self.calls.append({"name": name, "host": host, "hash": password_hash, **connection})
        return {"result": True, "changes": {name: "Present"}, "comment": f"User {name}@{host} "
                f"has been added with hash {password_hash}"}  # fmt: skip


@pytest.fixture
def mysql_user():
    return MysqlUser()


@pytest.fixture
def configure_loader_modules(mysql_user):
    pillar = {"onenebula_ha": {"database": {"password": DB_PASSWORD}}}
    return {
        ha_state: {
            "__states__": {"mysql_user.present": mysql_user},
            "__pillar__": pillar,
            "__opts__": {"test": False, "id": "vmm01"},
            "__utils__": UTILS,
        }
    }


def test_only_states_are_public():
    public = {
        name
        for name, value in vars(ha_state).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }
    assert public == {"database_user", "secrets_published"}


def test_database_user_hands_only_the_native_hash_to_mysql(mysql_user):
    ret = ha_state.database_user(
        "oneadmin", "onenebula_ha:database:password", hosts=["localhost", "127.0.0.1"]
    )
    inner = hashlib.sha1(DB_PASSWORD.encode()).digest()
    expected = "*" + hashlib.sha1(inner).hexdigest().upper()
    assert [c["hash"] for c in mysql_user.calls] == [expected, expected]
    assert [c["host"] for c in mysql_user.calls] == ["localhost", "127.0.0.1"]
    assert ret["result"] is True
    assert set(ret["changes"]) == {"oneadmin@localhost", "oneadmin@127.0.0.1"}
    assert DB_PASSWORD not in repr(ret) and expected not in repr(ret)


def test_database_user_without_the_pillar_password_changes_nothing(mysql_user):
    ret = ha_state.database_user("oneadmin", "onenebula_ha:database:missing")
    assert (ret["result"], ret["comment"]) == (
        False,
        "pillar onenebula_ha:database:missing is not set",
    )
    assert mysql_user.calls == []
