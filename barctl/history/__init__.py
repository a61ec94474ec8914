"""The SQLite history, the one record of what happened: runs, nodes, steps, the pending-undo
journal and missed slots, as frozen records. Every text written is redacted of registered
secrets at the write methods.
"""
