"""The fencing agent is a single file for the host's own python3: tests import it from its path
(``fence_harness.load_agent``)."""

import pytest
from fence_harness import load_agent


@pytest.fixture(scope="session")
def agent():
    return load_agent()
