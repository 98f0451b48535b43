"""The running daemon apart from HTTP: the service state, the scheduler, leadership across replicas,
the heartbeat, wakeups and the metrics snapshot."""
