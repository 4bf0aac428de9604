"""Timetables: bus and rail access from GTFS feeds, as Transport for London's PTAL measures it.

- :mod:`assetmap.transit.gtfs` reads a feed (gtfs-kit) and counts departures in the morning peak;
- :mod:`assetmap.transit.ptal` is the method itself, pure functions over tables;
- :mod:`assetmap.transit.access` walks from each output area to the stops (on the street network
  where one is loaded) and writes the index per output area and per unit.
"""
