#!/usr/bin/env python3
"""Reads its input, then prints one line of the task's environment."""
import os
import sys

lines = sum(1 for _ in sys.stdin.buffer)
names = [
    "mapreduce_map_input_file",
    "mapreduce_map_input_start",
    "mapreduce_map_input_length",
    "mapreduce_task_id",
    "mapreduce_task_attempt_id",
    "mapreduce_task_partition",
    "mapreduce_job_id",
    "GREETING",
    "my_setting",
]
print("\t".join([str(lines)] + [os.environ.get(n, "-") for n in names]))
