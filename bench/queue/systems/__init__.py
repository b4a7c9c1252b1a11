"""One module per queue system. Each runs as ``python -m bench.queue.systems.<name> <command>``
in its own interpreter (see ``_cli``); BullMQ's is a Node script."""
