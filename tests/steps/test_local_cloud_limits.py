"""The local cloud is as strict as AWS (issue 21): DynamoDB refuses a key over its size limits on reads and deletes too
(2,048 bytes for a partition key, 1,024 for a sort key), as AWS documents; moto alone checks only writes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from earchive_devtools.localcloud import LocalCloud


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def test_reads_of_a_key_over_the_limits_are_a_validation_exception(cloud):
    ddb = cloud.client("dynamodb")
    catalogue, transfers = cloud.name("CatalogueTable"), cloud.name("TransferTable")
    calls = [lambda: ddb.get_item(TableName=catalogue, Key={"package_id": {"S": "4" * 2049}}),
             lambda: ddb.delete_item(TableName=catalogue, Key={"package_id": {"S": "4" * 2049}}),
             lambda: ddb.get_item(TableName=transfers, Key={"batch_id": {"S": "202612060001"}, "item": {"S": "PKG#" + "4" * 1100}}),
             lambda: ddb.query(TableName=transfers, KeyConditionExpression="batch_id = :b",
                               ExpressionAttributeValues={":b": {"S": "2" * 2049}})]
    for call in calls:
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "Item" not in ddb.get_item(TableName=catalogue, Key={"package_id": {"S": "4" * 2048}}), "at the limit: an ordinary miss"
