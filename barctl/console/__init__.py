"""The command line: argparse sub-commands, exit codes, and the text and JSON views operators read
(plans, gate verdicts, progress, status, history).
"""
