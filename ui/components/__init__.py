"""Browser components (st.components.v2): each a Python mount, its JavaScript in web/.

map_layer (the latent map's bubbles, clicks, clicked z and zoom window, beside a Plotly chart),
map_decoder (the decoder run in the browser), scrubber (the interpolation slider), drawing_pad
(draw or upload; the encoder run in the browser), shortcuts (keys to actions). Beside them:
network (a model's networks as the browser runs them), sending (what the server keeps about
what it sent) and assets (how web/ is served: as files, once).
"""
