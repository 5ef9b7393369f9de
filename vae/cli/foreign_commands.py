"""`python -m vae import` (a VAE exported as ONNX into the library) and `export` (the way out).

import validates everything before it writes (vae/foreign/probe.py) and writes one library
file atomically: the model is in the library, whole, or nothing changed. Its last line of
output is the path it wrote.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

from ..checkpoint import load_checkpoint
from ..data import DATASET_NAMES, load_dataset
from ..foreign.card import MAX_CARD_BYTES, CardError, parse_card
from ..foreign.graph import MAX_GRAPH_BYTES, GraphError
from ..library import ModelLibrary, default_library_root, safe_model_name
from ..metadata import imported_metadata
from ..strict_files import UnsafeFileError, open_regular
from .shared import CommandError, printable


def _read(path: Path, limit: int, what: str) -> bytes:
    """The file's bytes through the one strict reader (a regular file, a link followed: the
    user named it on the command line), at most `limit` bytes."""
    try:
        handle, info = open_regular(path, limit, follow_links=True, what=what)
    except UnsafeFileError as error:
        raise CommandError(str(error)) from None
    with handle:
        return handle.read(info.st_size)


def run_import(args: argparse.Namespace) -> int:
    from ..foreign.model import ForeignVAE
    from ..foreign.probe import validate_foreign

    name = safe_model_name(args.name)
    library = ModelLibrary(args.root if args.root is not None else default_library_root())
    if library.exists(name) and not args.force:
        raise CommandError(f"a model called {name!r} already exists; pass --force to replace it")
    encoder = _read(args.encoder, MAX_GRAPH_BYTES, "graph file")
    decoder = _read(args.decoder, MAX_GRAPH_BYTES, "graph file")
    try:
        card = parse_card(_read(args.card, MAX_CARD_BYTES, "card file"), DATASET_NAMES)
    except CardError as error:
        raise CommandError(f"{args.card.name}: {error}") from None
    images = None
    if card.dataset is not None:
        images = load_dataset(card.dataset, data_dir=args.data_dir).x_test
    try:
        validated = validate_foreign(encoder, decoder, card, images)
    except GraphError as error:
        raise CommandError(f"not imported: {error}") from None
    model = ForeignVAE(validated.encoder, validated.decoder, card)
    sources = {"encoder": args.encoder.name, "decoder": args.decoder.name, "card": args.card.name}
    metadata = imported_metadata(name, card, validated.report, sources)
    path = library.save(name, model, metadata, overwrite=args.force)
    report = validated.report
    print(f"checked on {report['probe_images']}: decoder outputs in "
          f"[{report['decoder_range'][0]:.3g}, {report['decoder_range'][1]:.3g}], posterior σ "
          f"median {report['sigma_median']:.3g} (from {report['sigma_range'][0]:.3g} to "
          f"{report['sigma_range'][1]:.3g}), mean pixel error of the reconstructions "
          f"{report['reconstruction_error']:.3f}")  # fmt: skip
    print(printable(path))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..foreign.export import ExportError, export_onnx

    model, metadata = load_checkpoint(args.checkpoint)
    # The exporter's own chatter (optional torchvision ops, deprecations) is not the user's.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            paths = export_onnx(model, metadata, args.onnx)
    except ExportError as error:
        raise CommandError(f"cannot export {args.checkpoint.name}: {error}") from None
    for path in paths:
        print(printable(path))
    return 0
