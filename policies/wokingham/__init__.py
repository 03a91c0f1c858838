"""Wokingham Borough Council: the Berkshire West guidance (seed 002_9701fea80e3d08df.txt) with
this council's review frequency, the only point where the guidance differs."""

from cinflow import hookimpl
from cinflow.rules import RuleBook
from cinflow_policies.berkshire_west import review_deadline

RULES = RuleBook.from_package(__name__)
POLICY = RULES.info


@hookimpl
def deadline_rules():
    return [review_deadline(RULES.review_interval)]
