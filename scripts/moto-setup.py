#!/usr/bin/env python3
"""Prepares a moto server for the tests: buckets, a least-privilege IAM user, then IAM enforcement.

Usage: moto-setup.py ENDPOINT   (prints shell `export` lines)
Run with moto's auth still off: everything here is created as the unauthenticated admin, then
`/moto-api/reset-auth` switches enforcement on, after which only the created users' keys work.
"""
import json
import sys
import urllib.request

import boto3

endpoint = sys.argv[1]
admin = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="admin", aws_secret_access_key="admin")
s3 = boto3.client("s3", **admin)
iam = boto3.client("iam", **admin)

bucket, other = "rg-recordings", "rg-other"
for name in (bucket, other):
    s3.create_bucket(Bucket=name)


def least_privilege(bucket):
    # Exactly what the gateway's users grant: ListBucket, PutObject, GetObject on their bucket.
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:PutObject", "s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }


def user(name, policy):
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


least_id, least_secret = user("rg-least", least_privilege(bucket))
other_id, other_secret = user("rg-least-other", least_privilege(other))
broad_id, broad_secret = user(
    "rg-broad", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)

request = urllib.request.Request(
    f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
)
urllib.request.urlopen(request).read()

print(f"export RG_MOTO_ENDPOINT={endpoint}")
print(f"export RG_MOTO_BUCKET={bucket}")
print(f"export RG_MOTO_OTHER_BUCKET={other}")
print(f"export RG_MOTO_ACCESS_KEY={least_id}")
print(f"export RG_MOTO_SECRET_KEY={least_secret}")
print(f"export RG_MOTO_OTHER_ACCESS_KEY={other_id}")
print(f"export RG_MOTO_OTHER_SECRET_KEY={other_secret}")
print(f"export RG_MOTO_BROAD_ACCESS_KEY={broad_id}")
print(f"export RG_MOTO_BROAD_SECRET_KEY={broad_secret}")
