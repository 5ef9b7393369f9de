"""viz: pure figure builders. numpy arrays in, plotly Figures or PNG bytes out.

Nothing here imports torch, the vae library or Streamlit, so every builder is a plain function
that tests call with small arrays. One module per picture: plots (curves, image grids),
latent_map (the map with its variance bubbles), manifold, surface_3d, compare, aggregate, beta,
export (CSV and PNG downloads).
"""
