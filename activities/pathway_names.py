"""Activity type names of the pathway (stable: recorded in histories); importable from workflow code."""

RECORD_EFFECTS = "pathway.record_effects"
PUSH_MONJOB62 = "pathway.push_monjob62"

#: Error type of a MonJob62 refusal (4xx): raised by the HTTP adapter (``activities.monjob.REFUSED``) and by the
#: in-process fake; non-retryable in the pathway's push options.
MONJOB62_REFUSED = "MonJob62Refused"
