"""The metric catalogue: dashboard/metric_catalogue.toml read into one record per metric."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Metric:
    id: str
    title: str
    definition: str
    numerator: str
    denominator: str
    direction: str  # lower_is_better or higher_is_better
    unit: str
    kind: str  # proportion or summary
    basis: str  # d30, d100, infusion or referral
    adjustment: str  # the default: product_mix or crude
    enabled: bool = True

    @property
    def is_outcome(self) -> bool:
        """Outcome metrics need follow-up: the completeness gate applies to them."""
        return self.basis in ("d30", "d100")

    @property
    def higher_is_worse(self) -> bool:
        return self.direction == "lower_is_better"

    def judgement(self, flag: str | None) -> str | None:
        """A funnel flag read in this metric's direction: worse, better or as_expected (None when not judged)."""
        if flag == "within":
            return "as_expected"
        if flag not in ("above_95", "above_99.8", "below_95", "below_99.8"):
            return None
        return "worse" if flag.startswith("above") == self.higher_is_worse else "better"

    def meaning(self, flag: str | None) -> str | None:
        """The flag as what it means: worse_99.8, worse_95, as_expected, better_95, better_99.8 or
        insufficient_follow_up (None when not judged)."""
        judgement = self.judgement(flag)
        if flag and judgement in ("worse", "better"):
            return f"{judgement}_{flag.split('_')[1]}"
        return judgement or ("insufficient_follow_up" if flag == "insufficient follow-up" else None)

    def concern(self, flag: str | None) -> str | None:
        """alarm beyond 99.8%, alert beyond 95%, only on the side that is worse for this metric."""
        return {"worse_99.8": "alarm", "worse_95": "alert"}.get(self.meaning(flag) or "")


@cache
def catalogue() -> dict[str, Metric]:
    """Every enabled metric, in catalogue order."""
    text = (resources.files("dashboard") / "metric_catalogue.toml").read_text()
    metrics = {key: Metric(id=key, **values) for key, values in tomllib.loads(text).items()}
    return {key: metric for key, metric in metrics.items() if metric.enabled}


def proportions() -> dict[str, Metric]:
    return {key: m for key, m in catalogue().items() if m.kind == "proportion"}
