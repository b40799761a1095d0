"""earchive's development tools, kept out of the Lambda layer.

``localcloud`` runs template.yaml and the real ASL on moto (no Docker, no AWS
account), ``demo`` is the README's main job, ``sample`` generates realistic
cases (real PDF, OFD, JPEG, XML) and hostile variants. The ``earchive`` command
line uses them for ``local up``, ``status``, ``demo`` and ``sample-case``.
"""
