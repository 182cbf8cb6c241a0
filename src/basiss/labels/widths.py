"""Road-width conventions in metres, shared by the mask maker and the command line.

Stdlib only, so ``basiss masks --help`` states them without importing geopandas.
"""

#: Width of one traffic lane used by ``width_from_lanes`` (metres); a typical
#: urban/arterial lane is 3.0-3.7 m wide.
METERS_PER_LANE = 3.5
#: Lane count assumed when ``lane_number`` is missing or not a positive number.
DEFAULT_LANES = 2
