"""Saved models: load, upload, download, delete."""

import streamlit as st

st.title("Models")
