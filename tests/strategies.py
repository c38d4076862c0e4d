"""Hypothesis strategies for the fuzz tests: bad inputs of the shapes users and AWS actually hand us
(JSON of any type, text with control characters, surrogates and Slack/Jira markup, near-miss values),
and a tally that each fuzz test prints: how many inputs it generated, how many escaped unhandled."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Built on the active profile, so CI (which Hypothesis detects and derandomizes) stays derandomized. A local run
# draws new inputs each time: print_blob makes its failure print the @reproduce_failure line that replays it.
FUZZ = settings(
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)

# Text a resource name, a finding or a config value can carry: markup Slack and Jira interpret,
# control characters, lone surrogates (what undecodable bytes become), very long runs.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec=None, categories=("Cc", "Cs", "Zs", "So", "Lo")), max_size=20),
    st.sampled_from(
        ["", " ", "   ", "<!channel>", "a&b<c>d", "<https://x|y>", "*bold* _it_", "{code}", "\n\n", "\x00", "\ud800"]
    ),
    st.integers(min_value=1, max_value=40_000).map(lambda n: "x" * n),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=10,
)


@dataclass
class Tally:
    area: str
    generated: int = 0
    unhandled: list[str] = field(default_factory=list)

    def report(self, capsys: Any) -> None:
        """One line on the terminal even under -q and output capture."""
        line = f"fuzz {self.area}: {self.generated} generated bad inputs, {len(self.unhandled)} unhandled exceptions"
        with capsys.disabled():
            print(f"\n{line}", flush=True)

    @contextlib.contextmanager
    def recording(self, *expected: type[Exception]) -> Iterator[None]:
        """Exceptions of the `expected` types pass through; any other is recorded as unhandled and raised again."""
        try:
            yield
        except expected:
            raise
        except Exception as exc:
            self.unhandled.append(f"{type(exc).__name__}: {exc}")
            raise

    def finish(self, capsys: Any, at_least: int) -> None:
        """Report, then require `at_least` generated inputs and no unhandled exception."""
        self.report(capsys)
        assert self.generated >= at_least, f"only {self.generated} inputs generated"
        assert self.unhandled == [], self.unhandled
