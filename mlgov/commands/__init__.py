"""One module per capability with a command group (named like its folder), and guardrails."""
