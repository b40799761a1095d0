"""The local cloud runs a Distributed Map of any length (issue 12: a 10,000-package batch).

moto's Map worker recursed once per item, so a worker with more than ~1,000 items died of
RecursionError; the local cloud's patch evaluates them in a loop. 3,000 items on one worker here.
"""

from __future__ import annotations

import json
import time

import boto3
from moto import mock_aws

from earchive_devtools.localcloud import install_patches

ITEMS = 3000
DEFINITION = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map", "MaxConcurrency": 1, "End": True,
            "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                           "Parameters": {"Bucket": "map-items", "Key": "items.json"}},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                              "StartAt": "Touch", "States": {"Touch": {"Type": "Pass", "End": True}}},
            "ResultSelector": {"n.$": "States.ArrayLength($)"},
        },
    },
}


def test_a_distributed_map_of_3000_items_on_one_worker_completes():
    install_patches()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3, sfn = boto3.client("s3", region_name="us-east-1"), boto3.client("stepfunctions", region_name="us-east-1")
        s3.create_bucket(Bucket="map-items")
        s3.put_object(Bucket="map-items", Key="items.json", Body=json.dumps([{"i": i} for i in range(ITEMS)]).encode())
        arn = sfn.create_state_machine(name="long-map", definition=json.dumps(DEFINITION),
                                       roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
        run = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        deadline = time.monotonic() + 240
        while (out := sfn.describe_execution(executionArn=run))["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.5)
    assert out["status"] == "SUCCEEDED", out.get("cause") or out.get("error")
    assert json.loads(out["output"]) == {"n": ITEMS}
