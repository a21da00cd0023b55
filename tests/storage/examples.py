"""How many hypothesis examples the storage property tests run.

The property tests share one budget of examples, ``MARMOT_PROPERTY_EXAMPLES``:
by default 300 (a quick local run), 2,000 when the environment variable ``CI`` is set (the
"thousands of examples" the storage issue asks CI to pass; about 1-2 minutes on 2 cores).
Each test takes a share of the budget. Settings are per test, never a global hypothesis
profile, so other packages' tests are unaffected.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LOCAL_EXAMPLES = 300
CI_EXAMPLES = 2000


def total_examples() -> int:
    configured = os.environ.get("MARMOT_PROPERTY_EXAMPLES")
    if configured:
        return int(configured)
    return CI_EXAMPLES if os.environ.get("CI") else LOCAL_EXAMPLES


def property_settings(share: float) -> settings:
    return settings(max_examples=max(10, int(total_examples() * share)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
