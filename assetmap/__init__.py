"""assetmap: event-driven community asset mapping for the UK.

The library: data model and DuckDB store (:mod:`assetmap.db.store`), source readers
(:mod:`assetmap.sources`), validation (:mod:`assetmap.sources.validate`), ingest
(:mod:`assetmap.ingest`), the events vocabulary (:mod:`assetmap.events`), the demo generator
(:mod:`assetmap.demo`) and the command line (:mod:`assetmap.cli`). It never imports Streamlit or
Prefect.
"""

__version__ = "0.1.0"
