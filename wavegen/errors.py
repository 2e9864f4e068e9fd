"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class WavegenError(Exception):
    """A problem with the user's input (data, config, run folder) that needs no traceback to explain."""
