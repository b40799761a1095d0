"""earchive: archive government-service e-records (政务服务电子档案).

The domain library behind the Lambda functions and the ``earchive`` CLI; one
module per step of DB43/T 政务服务电子档案管理: collect, organise, package
(pack), seal, check, and, in later modules, register and transfer.
"""

__version__ = "0.1.0"
