"""The systemd daemon and what every command loads first: `loading` (policy, inventory,
credential files and plan resolution, every problem located, for the CLI and the daemon alike),
APScheduler jobs per plan (`scheduled`), catch-up after downtime, sd_notify readiness, watchdog,
reload and stop, and the metrics listener started before READY=1.
"""
