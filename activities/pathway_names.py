"""Activity type names of the pathway (stable: recorded in histories); importable from workflow code."""

RECORD_EFFECTS = "pathway.record_effects"
PUSH_MONJOB62 = "pathway.push_monjob62"
