"""A demo, deploy or chaos driver interrupted while it waits for another session's lab
never tears that lab down (``Demo.lab`` is set only once its own lab is up)."""

from __future__ import annotations

import pytest

from onelab import demo as demo_module
from onelab.state import LabBusy


class WaitingLab:
    downs: list[bool] = []

    def __init__(self, *args, **kwargs):
        pass

    def up(self, *, wait: float = 0):
        raise KeyboardInterrupt("interrupted while waiting for the lab lock")

    def down(self, *, force: bool = False):
        WaitingLab.downs.append(force)


class BusyLab(WaitingLab):
    def up(self, *, wait: float = 0):
        raise LabBusy("the lab belongs to another session")


@pytest.mark.parametrize("lab_class", [WaitingLab, BusyLab])
def test_a_driver_that_never_got_the_lab_leaves_it_alone(monkeypatch, lab_class):
    WaitingLab.downs = []
    monkeypatch.setattr(demo_module, "Lab", lab_class)
    monkeypatch.setattr(demo_module, "reactor_master_config", lambda pillar: {})
    driver = demo_module.Demo(5, out=lambda line: None, pillar={"onenebula_ha": {}})
    with pytest.raises((KeyboardInterrupt, LabBusy)):
        driver.bring_up()
    assert driver.lab is None

    from onelab.trials import deployed_lab

    with pytest.raises((KeyboardInterrupt, LabBusy)), deployed_lab(5, pillar={"onenebula_ha": {}}):
        pass
    assert WaitingLab.downs == []
