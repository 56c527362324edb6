"""`gan train|study|sample|eval|report|sweep|config|data`: parse the command line, call one function, map errors to exit codes.

Exit codes: 0 done, 1 the run itself failed (e.g. diverged; its files are intact), 2 a usage or input error
(one sentence on stderr, no traceback), 130 interrupted (the checkpoint was saved; resume continues).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings

from gan.config.schema import DATASETS
from gan.errors import UserError

EPILOG = "Overrides are dotted config keys, e.g. model.d_act=leaky_relu:0.1 train.seed=3 (see README: config keys)."


def _cmd_train(a: argparse.Namespace) -> int:
    from gan.train.loop import main_train

    if a.resume is None and a.config is None:
        raise UserError("gan train needs a CONFIG file (e.g. configs/fashion_mnist.yaml) or --resume DIR")
    config, overrides = a.config, list(a.overrides)
    if config is not None and "=" in config:  # `gan train --resume DIR train.steps=N`: no config file given
        config, overrides = None, [config, *overrides]
    if a.resume is not None and config is not None:
        raise UserError("pass either a CONFIG file or --resume DIR, not both (the resumed run keeps its config)")
    return main_train(config, overrides, a.out, a.resume, restart=a.restart)


def _cmd_sample(a: argparse.Namespace) -> int:
    from gan.nets.sampling import sample_grid

    if a.n <= 0:
        raise UserError(f"--n must be positive, got {a.n}")
    return sample_grid(a.run, a.n, a.out)


def _cmd_eval(a: argparse.Namespace) -> int:
    from gan.measure.quality import eval_run

    return eval_run(a.run, list(a.overrides))


def _cmd_study(a: argparse.Namespace) -> int:
    from gan.study.runner import run_study

    if a.jobs <= 0:
        raise UserError(f"--jobs must be positive, got {a.jobs}")
    if a.plan:  # nothing runs: size the study from a pilot (gan/analysis/plan.py)
        from gan.analysis.plan import plan_study

        return plan_study(a.study, pilot=a.pilot or a.out, jobs=a.jobs)
    if a.pilot:
        raise UserError("--pilot only goes with --plan (it names the pilot study folder the plan reads)")
    if a.until_decided:  # looks at growing seed counts with alpha spending (gan/analysis/sequential.py)
        from gan.analysis.sequential import run_until_decided

        if a.max_seeds is None:
            raise UserError("--until-decided needs --max-seeds N (the most seeds it may add up to, e.g. 32)")
        return run_until_decided(a.study, a.max_seeds, jobs=a.jobs, out=a.out)
    if a.max_seeds is not None:
        raise UserError("--max-seeds only goes with --until-decided")
    return run_study(a.study, jobs=a.jobs, out=a.out)


def _cmd_report(a: argparse.Namespace) -> int:
    from gan.report.study_report import write_report

    if a.collect:
        from gan.study.runner import recollect

        print(f"results collected again: {recollect(a.study_dir)}")
    path = write_report(a.study_dir)
    print(f"report written to {path}")
    return 0


def _cmd_answer(a: argparse.Namespace) -> int:
    from gan.report.answer import write_answer

    forest, table = write_answer(a.studies, a.out)
    print(table.read_text(), end="")
    print(f"forest plot written to {forest}, table to {table}")
    return 0


def _cmd_sweep(a: argparse.Namespace) -> int:
    from gan.study.sweep import sweep

    return sweep(a.sweep, create=a.create)


def _cmd_config(a: argparse.Namespace) -> int:
    from gan.config.help import main_config

    return main_config(a.key, a.markdown)


def _cmd_data(a: argparse.Namespace) -> int:
    from gan.data.builtin import prepare

    return prepare(a.name, a.root, download=a.download)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gan", description="DCGAN training and studies of ReLU vs LeakyReLU "
                                "(gradient sparsity, dead units, sample quality).", epilog=EPILOG)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train one run", epilog=EPILOG)
    t.add_argument("config", nargs="?", help="YAML config holding what differs from the defaults")
    t.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. model.d_act=relu")
    t.add_argument("--out", help="run directory (default: runs/<dataset>-D_<act>-G_<act>-s<seed>)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly (from checkpoints/last.pt, or "
                   "prev.pt when last.pt is damaged); train.steps=N may extend it")
    t.add_argument("--restart", action="store_true", help="train DIR again from scratch: its checkpoints, metrics "
                   "and summary are removed; with --resume DIR it keeps DIR's config.yaml, with CONFIG --out DIR it "
                   "takes CONFIG")
    t.set_defaults(fn=_cmd_train)

    s = sub.add_parser("sample", help="write a grid of samples from a checkpoint")
    s.add_argument("run", metavar="DIR|CKPT", help="run directory or checkpoint file")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", help="PNG path (default: DIR/grid.png)")
    s.set_defaults(fn=_cmd_sample)

    e = sub.add_parser("eval", help="sample-quality metrics of a saved run", epilog=EPILOG)
    e.add_argument("run", metavar="DIR", help="run directory holding checkpoints/last.pt")
    e.add_argument("overrides", nargs="*", help="eval.* overrides, e.g. eval.n_samples=10000")
    e.set_defaults(fn=_cmd_eval)

    st = sub.add_parser("study", help="run (or continue) a grid of seeded runs, then write the report")
    st.add_argument("study", metavar="STUDY.yaml", help="study file: name, base config, overrides, axes")
    st.add_argument("--jobs", type=int, default=1, help="runs trained at once as local processes (default 1)")
    st.add_argument("--out", help="study directory (default: studies/<name>)")
    st.add_argument("--plan", action="store_true", help="run nothing: print the pairs each claim needs and the "
                    "wall time, from a pilot's results.csv")
    st.add_argument("--until-decided", action="store_true", help="add seeds in rounds (8, 16, ...) until every "
                    "claim is decided, with O'Brien-Fleming alpha spending across the looks")
    st.add_argument("--max-seeds", type=int, metavar="N", help="with --until-decided: the most seeds")
    st.add_argument("--pilot", metavar="DIR", help="with --plan: the pilot study folder (default: --out, else "
                    "studies/<name>)")
    st.set_defaults(fn=_cmd_study)

    r = sub.add_parser("report", help="statistics, figures and verdicts of a study directory")
    r.add_argument("study_dir", metavar="STUDY_DIR", help="directory written by `gan study`")
    r.add_argument("--collect", action="store_true", help="first rewrite results.csv from the run folders with this "
                   "code's derived columns (e.g. after an upgrade adds a column); trains nothing")
    r.set_defaults(fn=_cmd_report)

    an = sub.add_parser("answer", help="forest plot and answer table over several study directories")
    an.add_argument("studies", nargs="+", metavar="STUDY_DIR[=LABEL]",
                    help="study directories (each its own Holm family); LABEL names its rows (default: folder name)")
    an.add_argument("--out", default="results/answer", help="where forest.png and answer.md go (default: results/answer)")
    an.set_defaults(fn=_cmd_answer)

    sw = sub.add_parser("sweep", help="a W&B grid sweep whose agents run `gan train`")
    sw.add_argument("sweep", metavar="SWEEP.yaml", help="sweep file, e.g. configs/sweep/activations.yaml")
    sw.add_argument("--create", action="store_true", help="register the sweep with W&B (needs network and an API key)")
    sw.set_defaults(fn=_cmd_sweep)

    c = sub.add_parser("config", help="every config key with its type, default, valid values and help")
    c.add_argument("key", nargs="?", metavar="KEY", help="one key or section, e.g. train.device or model")
    c.add_argument("--markdown", action="store_true", help="print the README's key table")
    c.set_defaults(fn=_cmd_config)

    d = sub.add_parser("data", help="locate / prepare / download / verify a dataset")
    d.add_argument("name", choices=DATASETS, help="dataset")
    d.add_argument("--root", default="data", help="data directory (default: data)")
    d.add_argument("--download", action="store_true", help="allow downloading with torchvision")
    d.set_defaults(fn=_cmd_data)
    return p


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file=None, line: str | None = None) -> None:
    """A Python warning as the tool's own one line (`warning: ...`), without the source file's path and line."""
    from tqdm import tqdm

    text = " ".join(str(message).split())
    kind = "" if issubclass(category, UserWarning) else f" ({category.__name__})"
    tqdm.write(f"warning: {text}{kind}", file=file or sys.stderr)  # tqdm.write: progress bars stay intact


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # argparse itself exits 2 on an unknown command or flag
    try:
        with warnings.catch_warnings():  # restores the caller's warning display when main returns
            warnings.showwarning = show_warning
            return args.fn(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
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
