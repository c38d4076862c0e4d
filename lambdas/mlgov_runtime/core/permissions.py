"""IAM actions a function checks at run time: a sealed table's policy must deny these (the challenger's
counts table, mlgov_runtime.challenger.counts_policy; stacks/building_blocks.py writes the deny). Every
other declared action lives with the synth, in stacks/permissions/, outside the Lambda asset."""

_D = "dynamodb:"
TABLE_WRITES = tuple(_D + a for a in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "PartiQLInsert"))
TABLE_WRITES += (_D + "PartiQLUpdate", _D + "PartiQLDelete")
TABLE_CONTROLS = tuple(_D + a for a in ("PutResourcePolicy", "DeleteResourcePolicy", "UpdateTable", "UpdateTimeToLive"))
TABLE_CONTROLS += (_D + "DeleteTable",)
