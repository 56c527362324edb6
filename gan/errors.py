"""The one exception type for mistakes a user can fix (exit code 2, no traceback)."""


def short_reason(err: BaseException) -> str:
    """An exception's first line, at most 120 characters (its class name when it has no text): for one sentence."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
    return text[:120]


class UserError(Exception):
    """A bad config, dataset, checkpoint or path: the message is one sentence saying what and how to fix."""


# how a run ended -> the process's exit code (`gan train`; the study runner reads it back): 2 is a UserError
STATUS_EXIT = {"completed": 0, "diverged": 1, "interrupted": 130}
