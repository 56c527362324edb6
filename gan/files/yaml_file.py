"""The one way a YAML file (a run config, a study file, a sweep file) is read: a mapping, or one sentence.

    raw = read_yaml_mapping(path, "study file", "e.g. configs/study/quick.yaml")

Every failure a user can cause is a UserError naming the file and how to fix it: the file is missing or
unreadable, the YAML does not parse (with the line), or it does not hold a mapping. Validation of the keys
is each caller's (gan.config.load, gan.study.spec, gan.study.sweep): they know which keys are valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gan.errors import UserError


def read_yaml_mapping(path: str | Path, what: str, example: str = "") -> dict[str, Any]:
    """The mapping in `path` ({} for an empty file); `what` names the file in messages ("config file")."""
    path = Path(path)
    hint = f" ({example})" if example else ""
    if not path.is_file():
        raise UserError(f"{what} '{path}' does not exist; pass a YAML file{hint}")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{what} '{path}' is not valid YAML{where}; fix the syntax") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{what} '{path}' cannot be read ({err.__class__.__name__})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"{what} '{path}' must hold a mapping of keys{hint}, not a {type(loaded).__name__}")
    return loaded
