"""What every QA check returns and how checks become a verdict (shared by both verticals).

Every :class:`Check` is honest: ``value`` is the measured number, ``limit`` the rule it
was held to, and a rule we cannot measure is reported as ``info`` "not measured" rather
than passed by assumption. The verdict is the worst failed severity; the score loses
``SEVERITY_WEIGHTS`` per failed check.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: Score lost per failed check of each severity.
SEVERITY_WEIGHTS = {"fail": 0.5, "review": 0.15, "info": 0.0}


@dataclass
class Check:
    """One measured rule. severity: "fail" | "review" | "info". value: what was measured
    (float, int, str or None when not measured). limit: the rule, as a number or text.
    rule: the platform rule the check serves, in words (the listing's MLS checks: "no
    branding ...", "no people ..."), or None. boxes: where in the image it found what it
    flags, as dicts with ``"box": [x0, y0, x1, y1]`` fractions of the checked image's
    width and height (plus what the check says about each), or None."""

    name: str
    passed: bool
    severity: str
    value: float | int | str | None = None
    limit: float | int | str | None = None
    message: str = ""
    rule: str | None = None
    boxes: list[dict] | None = None


@dataclass
class QAReport:
    """verdict: "pass" | "review" | "fail". score: [0, 1]. checks: every check made."""

    verdict: str
    score: float
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "score": self.score, "checks": [asdict(c) for c in self.checks]}


def verdict(checks: list[Check]) -> QAReport:
    """Any failed ``fail`` check -> "fail"; else any failed ``review`` -> "review"; else
    "pass". score = 1 - sum of ``SEVERITY_WEIGHTS`` over failed checks, clipped to [0, 1]."""
    failed = [c for c in checks if not c.passed]
    if any(c.severity == "fail" for c in failed):
        result = "fail"
    elif any(c.severity == "review" for c in failed):
        result = "review"
    else:
        result = "pass"
    lost = sum(SEVERITY_WEIGHTS.get(c.severity, 0.0) for c in failed)
    return QAReport(result, round(max(0.0, 1.0 - lost), 4), list(checks))


def not_measured(name: str, why: str, *, rule: str | None = None) -> Check:
    return Check(name, True, "info", None, None, f"not measured: {why}", rule=rule)


def graded(name: str, value: float, *, review_over: float, fail_over: float, digits: int, limit: str,
           measured: str, problem: str) -> Check:
    """A check where a larger ``value`` is worse: passed at or under ``review_over``, failed
    with severity "fail" over ``fail_over`` and "review" between. The message is ``measured``,
    with ``": " + problem`` when it did not pass."""
    ok = value <= review_over
    return Check(name, ok, "fail" if value > fail_over else "review", round(float(value), digits), limit,
                 measured + ("" if ok else f": {problem}"))
