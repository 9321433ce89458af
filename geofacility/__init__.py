"""geofacility: where community facilities are missing and where to put new ones."""
__version__ = "0.1.0"
