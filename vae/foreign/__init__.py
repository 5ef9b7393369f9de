"""Foreign models: a 2-D VAE trained elsewhere, brought in as an ONNX encoder, an ONNX decoder
and a card of its conventions (docs/BRING_YOUR_OWN.md).

card (the JSON card), graph (static checks of the protobufs), runtime (the graphs run in the
app's conventions), probe (the whole validation before import) need no torch: the upload
sandbox runs them. model (ForeignVAE, the VAE interface) and export (a native model out as
ONNX) use torch and are imported by name.
"""
