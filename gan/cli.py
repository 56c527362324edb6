"""`gan COMMAND`: registers the commands (gan/commands/, one file per verb), runs one, maps errors to exit codes.

Exit codes: 0 done, 1 the run itself failed (e.g. diverged; its files are intact), 2 a usage or input error
(one sentence on stderr, no traceback), 130 interrupted (the checkpoint was saved; resume continues).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings

from gan.errors import UserError

from gan.commands import advise, answer, config, data, pack, report, sample, study, sweep, train
from gan.commands import eval as eval_command  # not `eval`: the builtin

COMMANDS = (train, study, report, advise, answer, sample, eval_command, data, config, sweep, pack)  # `gan --help` lists them in this order


class Parser(argparse.ArgumentParser):
    """argparse's parser whose mistakes (an unknown flag, a value outside `choices`, not an int) are one sentence
    and exit 2, like every other mistake, instead of its usage block; `add_subparsers` makes every verb's parser
    of this class too."""

    def error(self, message: str):  # argparse calls this, for the parser of the verb that was mistyped
        raise UserError(f"{message.removeprefix('argument ')}; see `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="gan", description="DCGAN training and studies of ReLU vs LeakyReLU "
                                "(gradient sparsity, dead units, sample quality).",
                                epilog="Run `gan COMMAND --help` for a command's flags; docs/cli.md has examples.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return p


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file=None, line: str | None = None) -> None:
    """A Python warning as the tool's own one line (`warning: ...`), without the source file's path and line."""
    from tqdm import tqdm

    text = " ".join(str(message).split())
    kind = "" if issubclass(category, UserWarning) else f" ({category.__name__})"
    tqdm.write(f"warning: {text}{kind}", file=file or sys.stderr)  # tqdm.write: progress bars stay intact


def main(argv: list[str] | None = None) -> int:
    try:  # before any verb imports torch: a typo is answered at once
        args, extra = build_parser().parse_known_args(argv)
        if extra:  # said with the verb's help, not the top level's
            raise UserError(f"unrecognized arguments: {' '.join(extra)}; see `gan {args.command} --help`")
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():  # restores the caller's warning display when main returns
            warnings.showwarning = show_warning
            return args.fn(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `gan config | head`: the reader left; say nothing more (stdout is gone)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0
    except KeyboardInterrupt as err:  # Ctrl-C outside the training loop (which checkpoints and exits 130 itself)
        print(f"interrupted: {err}" if str(err) else "interrupted", file=sys.stderr)  # e.g. classifier.Interrupted
        return 130
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EPERM,
                         errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG):  # a path the user gave
            where = f" '{err.filename}'" if err.filename else ""
            fix = "free space or choose another directory" if err.errno in (errno.ENOSPC, errno.EDQUOT) \
                else "choose another path"
            print(f"error: cannot write{where}: {os.strerror(err.errno)}; {fix}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
