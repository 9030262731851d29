"""Grains of the platforms the formula's platform tests render for (only the ones it reads)."""

# As Salt reports them on each platform.
GRAINS = {
    "debian-12": {"os": "Debian", "os_family": "Debian", "osrelease": "12", "osmajorrelease": 12},
    "ubuntu-22.04": {
        "os": "Ubuntu",
        "os_family": "Debian",
        "osrelease": "22.04",
        "osmajorrelease": 22,
    },
    "ubuntu-24.04": {
        "os": "Ubuntu",
        "os_family": "Debian",
        "osrelease": "24.04",
        "osmajorrelease": 24,
    },
    "almalinux-8": {
        "os": "AlmaLinux",
        "os_family": "RedHat",
        "osrelease": "8.10",
        "osmajorrelease": 8,
    },
    "almalinux-9": {
        "os": "AlmaLinux",
        "os_family": "RedHat",
        "osrelease": "9.4",
        "osmajorrelease": 9,
    },
    "ubuntu-20.04": {
        "os": "Ubuntu",
        "os_family": "Debian",
        "osrelease": "20.04",
        "osmajorrelease": 20,
    },
    "rocky-9": {"os": "Rocky", "os_family": "RedHat", "osrelease": "9.3", "osmajorrelease": 9},
}
