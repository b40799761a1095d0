"""The AWS adapters: every boto3 and botocore call, and every DynamoDB expression, lives in this package.

``clients.Aws`` is what a state receives: clients made once per container and
the repositories over them (``catalogue``, ``filemap``, ``events``,
``transfers``), ``s3`` (:class:`s3.Objects`) and ``executions`` (Step Functions).
"""
