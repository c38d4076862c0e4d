"""One approval service for every human decision: who may answer which request, recorded before the task
token behind it is answered. The token never leaves the approvals store."""
