"""The one exception type for mistakes a user can fix (exit code 2, no traceback)."""


class UserError(Exception):
    """A bad config, dataset, checkpoint or path: the message is one sentence saying what and how to fix."""
