"""Tasks worked end to end by the team's roles (planner, coder, tester, debugger, reviewer,
documenter): :class:`~coding_director.agents.workflow.TaskRunner`. Uses the engine; knows nothing of
LSP or HTTP."""
