"""Platform tooling above the services: the `qorgau` command and the event catalogue."""
