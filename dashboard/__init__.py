"""CAR-T clinical-governance dashboard: store, ingest, loaders, metrics and the Streamlit pieces."""
