"""The Streamlit dashboard: reads published snapshots of the store, never the working store."""
