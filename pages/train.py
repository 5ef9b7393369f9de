"""Train a VAE with live progress."""

import streamlit as st

st.title("Train")
