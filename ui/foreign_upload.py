"""The Models page's "Bring your own VAE": an ONNX encoder, decoder and card (or one zip of
them) checked in the upload sandbox, then added to the library as one file.

The card is read here only to find its dataset, whose test images the probes run on; the
graphs themselves are parsed and run first in the limited child process (runner/sandbox.py),
and enter the library only once every check has passed (one atomic write: whole or not at
all).
"""

from __future__ import annotations

import streamlit as st

from runner.sandbox import ParseLimitError, validate_foreign_upload
from vae.checkpoint import CheckpointError
from vae.data import DATASET_NAMES, DataError, local_idx_folder, missing_files_help
from vae.foreign.archive import read_card
from vae.foreign.card import CardError, parse_card
from vae.foreign.graph import GraphError
from vae.foreign.model import ForeignVAE
from vae.library import ModelEntry, ModelExistsError, ModelLibrary
from vae.metadata import imported_metadata

from .loaders import cached_dataset
from .text import plain

UPLOAD_MB = 256  # vae.foreign.graph.MAX_GRAPH_BYTES
PROBE_ROWS = 2000  # test images handed to the sandbox (the probes use 256 of them)


def import_foreign(
    library: ModelLibrary,
    name: str,
    files: dict[str, bytes],
    sources: dict[str, str],
    overwrite: bool = False,
) -> tuple[ModelEntry, dict]:
    """Validate (in the sandbox) and add a foreign model; (its entry, the probes' report).

    files: {"encoder", "decoder", "card"} bytes, or {"archive"}: a zip of the three.
    Raises CardError / GraphError / DataError / CheckpointError (ValueErrors) with the
    sentence to show; the library is unchanged then.
    """
    card_bytes = read_card(files["archive"]) if "archive" in files else files["card"]
    card = parse_card(card_bytes, DATASET_NAMES)
    library.path_for(name)  # a bad name is refused before the slow checks
    images = None
    if card.dataset is not None:
        if card.dataset in ("mnist", "fashion-mnist") and local_idx_folder(card.dataset) is None:
            raise DataError(f"the card names {card.dataset}, whose test images are not on this "
                            f"computer. {missing_files_help(card.dataset)}")  # fmt: skip
        images = cached_dataset(card.dataset).x_test[:PROBE_ROWS]
    encoder, decoder, report = validate_foreign_upload(files, images)
    model = ForeignVAE(encoder, decoder, card)
    path = library.save(name, model, imported_metadata(name, card, report, sources), overwrite)
    return library.entry(path.stem), report


def foreign_upload_panel(library: ModelLibrary) -> str | None:
    """The upload form; returns a success message once a model was added, else None."""
    st.subheader("Bring your own VAE (ONNX)")
    st.caption(
        "A 2-D VAE trained elsewhere (PyTorch, Keras 3, JAX/Flax), exported as an ONNX encoder "
        "and decoder, with a card.json that declares their conventions: see "
        "docs/BRING_YOUR_OWN.md. Checked before it enters the library: the graphs are parsed "
        "and run in a limited process, and a card that reads them the wrong way is refused "
        "with what it probably should say."
    )
    mode = st.radio("Upload", ["Three files", "One .zip"], horizontal=True, key="byo_mode")
    if mode == "One .zip":
        archive = st.file_uploader("A .zip of encoder.onnx, decoder.onnx and card.json",
                                   type=["zip"], key="byo_zip", max_upload_size=UPLOAD_MB)  # fmt: skip
        uploads = [archive] if archive is not None else []
        default = archive.name.removesuffix(".zip") if archive is not None else ""
    else:
        cols = st.columns(3)
        encoder = cols[0].file_uploader("Encoder (.onnx)", type=["onnx"], key="byo_encoder",
                                        max_upload_size=UPLOAD_MB)  # fmt: skip
        decoder = cols[1].file_uploader("Decoder (.onnx)", type=["onnx"], key="byo_decoder",
                                        max_upload_size=UPLOAD_MB)  # fmt: skip
        card = cols[2].file_uploader("Card (.json)", type=["json"], key="byo_card")
        uploads = [f for f in (encoder, decoder, card) if f is not None]
        uploads = uploads if len(uploads) == 3 else []
        default = encoder.name.removesuffix(".onnx") if encoder is not None else ""
    if not uploads:
        return None
    name = st.text_input("Name in the library", value=default, max_chars=80, key="byo_name")
    overwrite = st.checkbox("Replace a saved model of that name", key="byo_overwrite")
    if not st.button("Check and add to the library", key="byo_add", icon=":material/upload:"):
        return None
    try:
        roles = ("archive",) if len(uploads) == 1 else ("encoder", "decoder", "card")
        files = {role: f.getvalue() for role, f in zip(roles, uploads, strict=True)}
        sources = {role: f.name for role, f in zip(roles, uploads, strict=True)}
        with st.spinner("Checking the graphs and running the probes…"):
            entry, report = import_foreign(library, name, files, sources, overwrite)
    except ModelExistsError as error:
        st.error(f"{plain(error)}.")
    except (CardError, GraphError, ParseLimitError, DataError, CheckpointError, ValueError,
            OSError) as error:  # fmt: skip
        st.error(f"Not imported: {plain(error)}")
    else:
        return (f"Added '{plain(entry.name)}' to the library: checked on "
                f"{plain(report['probe_images'])}, posterior σ median "
                f"{report['sigma_median']:.3g}. Load it above.")  # fmt: skip
    return None
