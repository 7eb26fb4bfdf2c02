"""The one exception type licq raises for bad input."""


class LicqError(Exception):
    """Invalid input (bitstream, image, model file or option).

    Every problem a user can cause - a corrupt or truncated ``.licq`` file, a
    stream made with another model, an unreadable image, a tampered model file -
    raises this exception with a one-line message saying what is wrong. The CLI
    prints that line and exits with status 1.
    """
