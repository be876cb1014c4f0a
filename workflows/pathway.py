"""``BeneficiaryPathway``: one long-running workflow per person subject to rights and duties.

Handlers only apply the pure rules of ``domain.pathway_rules`` to the state; the main loop writes what the
rules decided (one activity per batch), pushes to MonJob62, counts breaches and decisions (business metrics),
upserts search attributes and the UI summary ("stage · next deadline"), and waits for the next deadline with
``wait_condition`` so an event can move it. It continues as new at each CER cycle and when the server
suggests it, carrying the whole state (including the bounded set of seen event ids).

Signals from other systems: ``flow_record``, ``left_rsa``, ``payment_suspended``, ``payment_resumed`` and
``not_subject_confirmed`` (flow import), ``household_member`` (G-B20, flow import) and ``structure_label_lost``
(label side). People's commands are updates whose validator applies the rules (a refusal is answered to the
sender, nothing is recorded); each applied one is logged with its actor (``domain.pathway_decisions``). ``appointment``, ``diagnostic_completed``,
``non_compliance``, ``ep_decision`` and ``lost_from_view_convocation`` were signals: their handlers stay for
senders and histories of before, their updates are ``record_appointment``, ``record_diagnostic``,
``report_non_compliance``, ``decide_ep`` and ``record_convocation``. The handlers are in
``workflows.pathway_handlers``, the main loop and the three ways a message is applied in ``workflows.pathway_loop``,
the patch ids and activity options in ``workflows.pathway_settings``. This module is only the workflow's definition:
the sandbox imports it afresh for each run (each cached pathway pays for what it holds), while those modules are
checked and passed through, one copy per worker (docs/worker-memory.md).
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.pathway import PathwayInput, PathwayView
    from domain.pathway_contract import WORKFLOW_TYPE

from workflows.pathway_loop import PathwayLoop


@workflow.defn(name=WORKFLOW_TYPE)
class BeneficiaryPathway(PathwayLoop):
    @workflow.init
    def __init__(self, inp: PathwayInput) -> None:
        self._start(inp)

    @workflow.run
    async def run(self, inp: PathwayInput) -> PathwayView:
        return await self._run(inp)
