"""The archive state machine's states (statemachine/archive.asl.json), one module each."""
