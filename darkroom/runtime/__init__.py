"""The runtime: functions and the workers that run them, workflows (DAGs with map/reduce) and the
engine that advances them, and long-running operations."""
