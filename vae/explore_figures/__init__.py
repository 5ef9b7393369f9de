"""Pure figure builders for the explore pages (issue 4), one module per page: numpy in, images or
plotly Figures out.

manifold (the decoded grid beside the latent map), surface_3d (the 3-D picture), compare
(embeddings side by side), aggregate (aggregate posterior and KL forces), beta (the beta pair's
ELBO terms). Nothing here knows of models or of Streamlit; class colours come from the latent
map's palette so every page agrees.
"""
