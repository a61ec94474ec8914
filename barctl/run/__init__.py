"""One backup run: remote commands as argv tuples (`commands`), plans as data (`plan`), pacemaker
and galera judgement (`cluster`), the `Runner` seam and its one SSH implementation (`runner`,
`remote`, `liveness`), the read-only gate, the engine that walks a plan with its undo journal,
and `backup`, the shell that locks, recovers, gates, plans, executes and records.
"""
