"""The `mlgov ...` examples of the README and docs/ as a user's shell would pass them to the CLI."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping


def argv_of(command: str, placeholders: Mapping[str, str]) -> list[str]:
    """The arguments after `mlgov`, with the user's shell variables filled in from `placeholders`."""
    command = re.sub(r"\$(\w+)", lambda m: placeholders.get(m.group(1), m.group()), command)
    words = shlex.split(command, comments=True)
    if "<" in words:  # a shell redirection, not an argument
        words = words[: words.index("<")]
    return words[1:]
