"""The simulated OpenNebula front-end daemon (``oned``)."""
