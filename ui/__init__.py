"""ui: the shared Streamlit glue of the app (state, cached loaders, widgets used by several pages)."""
