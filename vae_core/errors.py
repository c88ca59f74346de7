"""Error types whose message is written for the person using the tool.

Everything the library raises on bad *input* (missing data, a refused checkpoint, an unreadable
image, a diverging run) is a VAEError subclass, so the CLI and the app can show `str(err)` as a
one-line message instead of a traceback.
"""


class VAEError(Exception):
    """Base class: the message names the problem and, where possible, the fix."""


class DataError(VAEError):
    """A dataset source is missing, incomplete or malformed."""


class ImageError(VAEError):
    """An uploaded file cannot be turned into a model input."""


class CheckpointError(VAEError):
    """A model folder is missing, unsafe, or does not match its config."""


class TrainingError(VAEError):
    """Training cannot start (for example an unknown or missing device). A diverging loss is not raised: the
    trainer stops and reports it (`TrainResult.stopped == "diverged"`)."""


class NumericError(VAEError):
    """A model computes NaN or infinity (finite but huge weights overflow float32)."""
