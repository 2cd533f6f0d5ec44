"""The task worker: `protokol worker` and the requeueing of tasks of dead workers."""
