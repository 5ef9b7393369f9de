"""Home: what a 2-D VAE is, and a quick start."""

import streamlit as st

st.title("VAE explorer")
