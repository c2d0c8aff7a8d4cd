"""The one exception family the CLI turns into a one-line message and exit status 2."""


class ToxftError(ValueError):
    """Bad input or an unusable file: the message is shown to the user as is."""
