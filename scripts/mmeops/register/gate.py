"""The registration gate: for each gated metric an absolute bound and a tolerance versus the
champion; and refusals no bound can override (a model that predicts one class, or a constant).

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
    metric: str  # the headline metric (gate.metric)
    checks: tuple[Check, ...]
    refusals: tuple[str, ...] = ()  # degenerate model: refused whatever the bounds say
    warnings: tuple[str, ...] = ()  # suspicious, shown but not refusing (a saturated tuning)
    metrics: tuple[str, ...] = ()  # every gated metric; () means just `metric`

    @property
    def gated(self) -> tuple[str, ...]:
        return self.metrics or (self.metric,)

    @property
    def passed(self) -> bool:
        return not self.refusals and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def failed_metrics(self) -> set[str]:
        return {c.name.split(" ", 1)[0] for c in self.failures if " " in c.name}

    def summary(self) -> str:
        on = ", ".join(self.gated)
        if self.refusals:
            return f"gate refused the model: {'; '.join(self.refusals)}"
        if self.passed:
            return f"gate passed on {on}: " + "; ".join(c.message for c in self.checks)
        return f"gate failed on {on}: " + "; ".join(c.message for c in self.failures)


def judge_all(
    bounds: list,
    directions: dict[str, str],
    challenger: dict[str, float],
    champion: dict[str, float] | None = None,
    champion_version: int | None = None,
    refusals: tuple[str, ...] = (),
    warnings: tuple[str, ...] = (),
) -> Verdict:
    """Every bound (gate.metric first, then gate.also) judged; checks named "<metric> ..."."""
    checks: list[Check] = []
    for b in bounds:
        one = judge(
            b.metric,
            directions[b.metric],
            b.bound,
            b.tolerance,
            challenger[b.metric],
            champion.get(b.metric) if champion else None,
            champion_version,
        )
        checks += [Check(f"{b.metric} {c.name}", c.value, c.limit, c.passed) for c in one.checks]
    metrics = tuple(b.metric for b in bounds)
    return Verdict(metrics[0], tuple(checks), refusals, warnings, metrics)


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
