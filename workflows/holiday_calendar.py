"""The one sandbox escape of the workflows: pure domain rules that read the holiday calendar.

The rules are deterministic, but the ``holidays`` library loads its country data and translations lazily (through
``locale.normalize`` among others), which the workflow sandbox refuses; the rules run unrestricted inside this block.
"""

from temporalio import workflow


def holiday_calendar():
    """``with holiday_calendar(): ...`` around domain rules that may compute a deadline."""
    return workflow.unsafe.sandbox_unrestricted()
