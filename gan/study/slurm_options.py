"""The `slurm:` section of a study file and the `--slurm-*` flags of `gan study`: validated Slurm resources.

    options = study_slurm_options("configs/study/x.yaml", slurm_flags(args))   # flags override the file

Torch- and submitit-free (the CLI registers these flags at `gan --help` time); gan/study/slurm.py submits with them.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan.errors import UserError
from gan.files.yaml_file import read_yaml_mapping


@dataclass(frozen=True)
class SlurmOptions:
    """A study file's `slurm:` mapping (flags override it): the resources of each run's task."""

    partition: str | None = None  # None: the cluster's default partition
    time_min: int = 60  # time limit of one task; a longer run is checkpointed and requeued (max_requeues times)
    cpus_per_task: int = 1  # also the trainer's OMP_NUM_THREADS
    gpus_per_node: int = 0
    mem: str | None = None  # Slurm's --mem, e.g. "8G" (None: the partition's default)
    account: str | None = None
    qos: str | None = None
    setup: tuple[str, ...] = ()  # shell lines run before the task, e.g. "source /shared/venv/bin/activate"
    array_parallelism: int = 64  # tasks of one array running at once (sbatch --array=0-N%K)
    max_requeues: int = 10  # time-limit requeues of one task before it is given up (preemptions do not count)
    signal_delay_s: int | None = None  # time-limit signal this long before the end (None: min(90, time_min*20))

    def signal_delay(self) -> int:
        # Slurm checks time limits every 30 s, so the signal comes up to 30 s early and the kill up to 30 s
        # late; a third of a short limit still leaves the trainer time to reach its next step and checkpoint
        return self.signal_delay_s if self.signal_delay_s is not None else min(90, self.time_min * 20)


_KINDS: dict[str, tuple[type, int | None]] = {  # key: (type, minimum for ints)
    "partition": (str, None), "time_min": (int, 1), "cpus_per_task": (int, 1), "gpus_per_node": (int, 0),
    "mem": (str, None), "account": (str, None), "qos": (str, None), "setup": (list, None),
    "array_parallelism": (int, 1), "max_requeues": (int, 0), "signal_delay_s": (int, 1)}


def slurm_options(mapping: Any = None, flags: dict[str, Any] | None = None, where: str = "study file") -> SlurmOptions:
    """SlurmOptions from a `slurm:` mapping, then `flags` (same keys; None: not given). Bad key or value: UserError."""
    if mapping is not None and not isinstance(mapping, dict):
        raise UserError(f"{where}: 'slurm' must be a mapping of Slurm options, e.g. {{partition: gpu, time_min: 120}}")
    values: dict[str, Any] = {}
    for source, given in ((where, mapping or {}), ("command line", flags or {})):
        for key, value in given.items():
            if value is None and source == "command line":
                continue  # a flag not given
            values[str(key)] = _checked(source, str(key), value)
    return SlurmOptions(**values)


def _checked(source: str, key: str, value: Any) -> Any:
    if key not in _KINDS:
        near = difflib.get_close_matches(key, _KINDS, n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise UserError(f"{source}: slurm.{key} is not a Slurm option ({hint}valid: {', '.join(_KINDS)})")
    kind, minimum = _KINDS[key]
    if key == "setup":
        value = [value] if isinstance(value, str) else value  # one line or a list of lines
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise UserError(f"{source}: slurm.setup must be a list of shell lines, e.g. ['module load cuda']")
        return tuple(value)
    if value is None:
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise UserError(f"{source}: slurm.{key} must be a whole number >= {minimum}, got {value!r}")
    if kind is str and (not isinstance(value, str) or not value.strip()):
        raise UserError(f"{source}: slurm.{key} must be a non-empty string, got {value!r}")
    if key == "mem" and not re.fullmatch(r"\d+(\.\d+)?[KMGT]?B?", value, re.I):
        raise UserError(f"{source}: slurm.mem must be a size Slurm reads, e.g. 8G or 16000M, got {value!r}")
    return value


def study_slurm_options(study_yaml: str | Path, flags: dict[str, Any] | None = None) -> SlurmOptions:
    """slurm_options of a study file's own `slurm:` mapping (read here: StudySpec does not keep it) and flags."""
    try:
        raw = read_yaml_mapping(study_yaml, "study file")
    except UserError:
        raw = {}  # read_study_spec says what is wrong with the file
    return slurm_options(raw.get("slurm"), flags, f"study file '{study_yaml}'")


def add_slurm_arguments(parser) -> None:
    """The `gan study` flags of the Slurm executor (dest: slurm_<key>); slurm_flags(args) reads them back."""
    g = parser.add_argument_group("Slurm (--executor slurm; overrides the study file's slurm: keys)")
    g.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="local: runs as processes here (--jobs at a time); slurm: tasks of Slurm job arrays")
    g.add_argument("--detach", action="store_true", help="with --executor slurm: submit and return; run the same "
                   "command again later to wait, resubmit what did not finish, and write the report")
    for key, (kind, _) in _KINDS.items():
        flag = "--slurm-" + key.replace("_", "-")
        if key == "setup":
            g.add_argument(flag, dest="slurm_setup", action="append", metavar="LINE",
                           help="a shell line run before each task (repeat for several)")
        else:
            g.add_argument(flag, dest=f"slurm_{key}", type=kind, metavar=key.upper(), help=f"slurm.{key}")


def slurm_flags(args) -> dict[str, Any]:
    """The slurm_<key> values of parsed arguments (None where the flag was not given), for slurm_options."""
    return {key: getattr(args, f"slurm_{key}", None) for key in _KINDS}


