"""``python -m geofacility.cli``: the ``geofacility`` command (:func:`geofacility.cli.entry`)."""
from . import entry

entry()
