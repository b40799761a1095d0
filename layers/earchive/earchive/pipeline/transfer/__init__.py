"""The transfer state machine's states (statemachine/transfer.asl.json), one module each."""
