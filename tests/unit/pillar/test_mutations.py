"""Property: no mutation of a valid pillar crashes the validator or leaks a secret.

A seeded random mutator (the project pins no property-testing library) takes
pillar.example, replaces, deletes or adds values at random places with hostile values
(wrong types, huge numbers, control characters, shell and sudoers syntax, YAML-alias
structures, self-references) and runs map.jinja's entry point. The outcome must be either
settings or a CommandExecutionError whose every line names a key under ``onenebula_ha``,
never another exception, and never a message carrying the DB password or user-info.
"""

import copy
import random

import pytest

SECRET = "Zq9-secret-Xk2"
HOSTILE_VALUES = [
    None,
    True,
    0,
    -1,
    2**63,
    1.5,
    float("nan"),
    "",
    " ",
    "x" * 5000,
    "eth0\noneadmin ALL=(ALL) NOPASSWD: ALL\n#",
    "$(id)",
    "`id`",
    "a b #c",
    "key: value",
    "../../etc/passwd",
    "/var/lib/one/../x",
    "vmm0*",
    "--help",
    "\x00\x1b[31m",
    "http://u:" + SECRET + "@10.0.0.1:2633/RPC2",
    "http://10.0.0.1:02633/RPC2/",
    [],
    [None],
    ["a", ["b"]],
    {},
    {"x": None},
    {1: 2},
    b"bytes",
]


def _shared_bomb():
    node = ["lol"] * 10
    for _ in range(6):
        node = [node] * 10
    return node


def _self_reference():
    node = {}
    node["self"] = node
    return node


def _hostile(rng):
    choice = rng.random()
    if choice < 0.05:
        return _shared_bomb()
    if choice < 0.08:
        return _self_reference()
    return copy.deepcopy(rng.choice(HOSTILE_VALUES))


def _locations(tree, seen=None):
    """Every (container, key) pair of the tree, each shared container walked once."""
    seen = set() if seen is None else seen
    if not isinstance(tree, dict | list) or id(tree) in seen:
        return
    seen.add(id(tree))
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for key, value in list(items):
        yield tree, key
        yield from _locations(value, seen)


def mutate(pillar, rng, count):
    for _ in range(count):
        locations = list(_locations(pillar))
        container, key = rng.choice(locations)
        action = rng.random()
        if action < 0.7:
            container[key] = _hostile(rng)
        elif action < 0.85 and isinstance(container, dict):
            del container[key]
        elif isinstance(container, dict):
            container[rng.choice(["extra", "lookup", "paths", "servers", key])] = _hostile(rng)
        else:
            container.append(_hostile(rng))
    return pillar


@pytest.mark.parametrize("seed", range(8))
def test_no_mutated_pillar_crashes_the_validator(
    pillar_module, formula_defaults, example_pillar, seed
):
    rng = random.Random(seed)
    outcomes = {"accepted": 0, "refused": 0}
    for _ in range(150):
        pillar = copy.deepcopy(example_pillar)
        pillar["database"]["password"] = SECRET
        pillar = mutate(pillar, rng, rng.randint(1, 4))
        try:
            pillar_module.settings(formula_defaults, {}, pillar)
        except pillar_module.CommandExecutionError as exc:
            message = str(exc)
            lines = message.splitlines()
            assert lines[0] == "Invalid onenebula_ha pillar:", message
            assert len(lines) > 1, message
            assert all(line.startswith("  - onenebula_ha") for line in lines[1:]), message
            assert "validator failed" not in message, message
            assert SECRET not in message, message
            outcomes["refused"] += 1
        else:
            outcomes["accepted"] += 1
    # The mutations are hostile: most are refused, and the run exercised both outcomes
    # over the seeds (a validator refusing everything would fail the example tests).
    assert outcomes["refused"] > outcomes["accepted"]


def test_the_mutator_reaches_every_section(example_pillar):
    rng = random.Random(0)
    touched = set()
    for _ in range(300):
        pillar = copy.deepcopy(example_pillar)
        before = copy.deepcopy(pillar)
        mutate(pillar, rng, 1)
        touched |= {key for key in before if key not in pillar or pillar[key] != before[key]}
    assert touched >= set(example_pillar) - {"lookup"}
