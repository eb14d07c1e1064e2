"""The two boolean vocabularies the API accepts as text, side by side.

Body fields follow DRF's `BooleanField` (form-encoded bodies send strings, matched exactly as
listed); query filters such as `?enabled=` accept a shorter list, compared case-insensitively.
"""

from __future__ import annotations

# DRF BooleanField's vocabulary, exactly (bodies).
TRUE_VALUES = frozenset(
    {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1"}
)
FALSE_VALUES = frozenset(
    {"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0"}
)

# Query filters' vocabulary, compared after `.lower()`.
QUERY_TRUE = frozenset({"true", "1", "yes"})
QUERY_FALSE = frozenset({"false", "0", "no"})
