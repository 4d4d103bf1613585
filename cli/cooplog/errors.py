"""The one exception type for errors meant for people."""

from __future__ import annotations

import re
from dataclasses import dataclass

DATA_PROBLEM = 1
USAGE = 2


@dataclass(frozen=True, order=True)
class Problem:
    """What is wrong with one file, and where: the unit that `validate` and `problems` list."""

    path: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.field}" if self.field else self.path
        return f"{where}: {self.message}"


class CooplogError(Exception):
    """Printed once, as one line per problem, at the CLI edge, which exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = DATA_PROBLEM, problems=()):
        super().__init__(message)
        self.exit_code = exit_code
        self.problems = list(problems)

    def lines(self) -> list[str]:
        """One line per problem: a single problem carries the outcome on its own line,
        several are followed by it."""
        if len(self.problems) == 1:
            outcome = re.sub(r"^\d+ problem\(s\); ", "", str(self))
            return [f"{self.problems[0]}; {outcome}"]
        return [*map(str, self.problems), str(self)]
