"""The job model: parameters, the queue to the workers, the body clients see, following a job, session enhancement."""
