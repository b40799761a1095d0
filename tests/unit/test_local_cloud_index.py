"""The local cloud's DynamoDB index reads (``_index_dynamodb``) answer exactly as moto's full walk would, after any write."""

from __future__ import annotations

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from earchive_devtools.localcloud import _index_dynamodb

STATUSES = ["ARCHIVED", "REJECTED", "RETURNED"]


@pytest.fixture()
def table(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    _index_dynamodb()
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        yield ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("p", "h", "k")],
            GlobalSecondaryIndexes=[{"IndexName": "by_hall", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "k", "KeyType": "RANGE"}]}])


def query(table, hall: str, status: str) -> list[str]:
    return [i["p"] for i in table.query(IndexName="by_hall", KeyConditionExpression=Key("h").eq(hall) & Key("k").between(status + "#", status + "#~"),
                                        ScanIndexForward=False)["Items"]]


def expected(items: dict[str, tuple[str, str]], hall: str, status: str) -> list[str]:
    return [p for p, _ in sorted(((p, k) for p, (h, k) in items.items() if h == hall and k.startswith(status + "#")),
                                 key=lambda pk: (pk[1], pk[0]), reverse=True)]


def test_two_statuses_of_equal_size_each_get_their_own(table):
    for i in range(3):
        table.put_item(Item={"p": f"r{i}", "h": "H", "k": f"REJECTED#{i}"})
        table.put_item(Item={"p": f"a{i}", "h": "H", "k": f"ARCHIVED#{i}"})
    assert query(table, "H", "REJECTED") == ["r2", "r1", "r0"]
    assert query(table, "H", "ARCHIVED") == ["a2", "a1", "a0"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["put", "update", "delete"]), st.integers(0, 7), st.sampled_from(["H1", "H2"]),
                          st.sampled_from(STATUSES), st.integers(0, 99)), max_size=25))
def test_after_any_writes_queries_match_the_items(ops):
    with mock_aws():
        _index_dynamodb()
        ddb = boto3.resource("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        t = ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("p", "h", "k")],
            GlobalSecondaryIndexes=[{"IndexName": "by_hall", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "k", "KeyType": "RANGE"}]}])
        items: dict[str, tuple[str, str]] = {}
        for op, n, hall, status, at in ops:
            p, k = f"p{n}", f"{status}#{at:03d}"
            if op == "put":
                t.put_item(Item={"p": p, "h": hall, "k": k})
                items[p] = (hall, k)
            elif op == "update" and p in items:
                t.update_item(Key={"p": p}, UpdateExpression="SET h = :h, k = :k", ExpressionAttributeValues={":h": hall, ":k": k})
                items[p] = (hall, k)
            elif op == "delete":
                t.delete_item(Key={"p": p})
                items.pop(p, None)
            for h in ("H1", "H2"):  # a query after every write: the cache must never answer for an older version
                for s in STATUSES:
                    assert query(t, h, s) == expected(items, h, s)
