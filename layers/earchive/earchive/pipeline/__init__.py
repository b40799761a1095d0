"""The two state machines' states, one module per state, and the Lambda handler around them.

``archive/<state>.py`` holds the states of ``statemachine/archive.asl.json``
(Collect → Organise → Pack → Seal → Check → Register → Store, and Reject);
``transfer/<state>.py`` those of ``statemachine/transfer.asl.json`` (Submit,
Copy, ReceiveCheck, AwaitDecision, Decide). Each module has one ``run(state,
rt)``: it takes the state (small JSON: references, never content) and a
:class:`~earchive.pipeline.runtime.Runtime` (settings and AWS adapters made
once per container), and returns the next state. The input and output of each
are typed in :mod:`earchive.pipeline.state` and listed in docs/pipeline.md.
This is the only package that combines the domain with AWS.
"""
