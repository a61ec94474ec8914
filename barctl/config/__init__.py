"""What barctl is told, checked once at load: the YAML loader and its limits, the policy models and
what each value may be, the TripleO inventory as Ansible reads it, credential files, schedules,
and the `Site` (paths, credentials, environment) every other package receives. Nothing here
connects anywhere; everything after load trusts only what passed here.
"""
