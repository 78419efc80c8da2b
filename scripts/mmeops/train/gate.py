"""The registration gate: an absolute bound, and a tolerance versus the champion.

Pure: numbers in, verdict out. The champion's numbers are always computed on the same new
test set as the challenger's (register.py does that); nothing here reads history.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str  # "absolute bound" or "versus champion v3"
    value: float
    limit: float
    passed: bool

    @property
    def message(self) -> str:
        verb = "within" if self.passed else "fails"
        return f"{self.name}: {self.value:.6g} {verb} limit {self.limit:.6g} (by {self.margin:.4g})"

    @property
    def margin(self) -> float:
        return abs(self.value - self.limit)


@dataclass(frozen=True)
class Verdict:
    metric: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        if self.passed:
            return f"gate passed on {self.metric}: " + "; ".join(c.message for c in self.checks)
        return f"gate failed on {self.metric}: " + "; ".join(c.message for c in self.failures)


def judge(
    metric: str,
    direction: str,
    bound: float,
    tolerance: float,
    challenger: float,
    champion: float | None = None,
    champion_version: int | None = None,
) -> Verdict:
    """`direction` is "min" (lower is better) or "max".

    With a champion, the challenger may be worse by at most `tolerance` times the champion's
    magnitude: a relative slack, so one setting works for RMSE in the tens and AUC near 1.
    """
    better_or_equal = (
        (lambda v, limit: v <= limit) if direction == "min" else (lambda v, limit: v >= limit)
    )
    checks = [Check("absolute bound", challenger, bound, better_or_equal(challenger, bound))]
    if champion is not None:
        slack = tolerance * abs(champion)
        limit = champion + slack if direction == "min" else champion - slack
        name = f"versus champion v{champion_version}" if champion_version else "versus champion"
        checks.append(Check(name, challenger, limit, better_or_equal(challenger, limit)))
    return Verdict(metric, tuple(checks))
