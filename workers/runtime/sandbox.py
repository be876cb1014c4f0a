"""The workflow sandbox used by every worker (production and tests).

Modules listed here are passed through the sandbox instead of being re-imported for each workflow run:
pure-Python domain code and pydantic for speed, C extensions (asyncpg, lxml) that crash when imported
twice in one process, and workflow modules checked to hold only message routing to the pure domain
(``workers.runtime.sandbox_passthrough``: one copy per process instead of one per cached run).
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workers.runtime import sandbox_code, sandbox_passthrough

PASSTHROUGH_MODULES = ("domain", "pydantic", "pydantic_core", "asyncpg", "lxml", "holidays", "structlog", "httpx",
                       "cryptography", "workflows.search_attributes", "workflows.pathway_settings")


def workflow_runner() -> SandboxedWorkflowRunner:
    sandbox_code.install()
    pure = sandbox_passthrough.check()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES, *pure)
    )
