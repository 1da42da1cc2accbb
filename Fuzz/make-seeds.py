#!/usr/bin/env python3
"""Writes Fuzz/corpus/<target>/: the seed inputs of each fuzz target, from the real layouts in KAZOO.md
(KAZOO's multipart store, its base64 file part, its paths), S3's answers and the gateway's own files.
Run again after changing a layout; libFuzzer grows the corpus from these."""
import base64, json, os, random, shutil, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = random.Random(20261201)
seeds = {}

def seed(target, name, data):
    seeds.setdefault(target, {})[name] = data if isinstance(data, bytes) else data.encode()

def mp3(n):
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(rng.randrange(256) for _ in range(n))

def kazoo_multipart(boundary, json_doc, name, content_type, file_bytes, closing=b""):
    """KAZOO's layout: a leading CRLF, unquoted names, no filename, no CRLF after the closing boundary."""
    b = boundary.encode()
    return (b"\r\n--" + b + b"\r\ncontent-disposition: form-data; name=" + json_doc["id"].encode()
            + b"\r\ncontent-type: application/json\r\n\r\n" + json.dumps(json_doc).encode()
            + b"\r\n--" + b + b"\r\ncontent-disposition: form-data; name=" + name.encode()
            + b"\r\ncontent-type: " + content_type.encode() + b"\r\n\r\n" + file_bytes + b"\r\n--" + b + b"--" + closing)

boundary = base64.urlsafe_b64encode(bytes(rng.randrange(256) for _ in range(48))).decode()
doc = {"id": "202612-" + "0f" * 16, "name": "call recording", "owner_id": "ab" * 16, "duration_ms": 61234,
       "caller_id_number": "+15555550100", "media_source": "recording"}
recording = mp3(600)
ct = "multipart/form-data; boundary=" + boundary + "\n"
seed("multipart", "kazoo-mp3", ct.encode() + kazoo_multipart(boundary, doc, "3f" * 16 + ".mp3", "audio/mpeg", recording))
seed("multipart", "kazoo-base64", ct.encode() + kazoo_multipart(boundary, doc, "3f" * 16 + ".mp3", "audio/mpeg",
                                                                   base64.b64encode(recording)))
seed("multipart", "kazoo-wav", ct.encode() + kazoo_multipart(boundary, doc, "4e" * 16 + ".wav", "audio/wav",
                                                                b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(300)))
seed("multipart", "standard-quoted", b'multipart/form-data; boundary="----form42"\n--------form42\r\n'
     b'Content-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"id":"x"}\r\n'
     b'--------form42\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n'
     b'Content-Type: audio/mpeg\r\nContent-Transfer-Encoding: base64\r\n\r\nSUQzBAAAAAAA\r\nAAAA\r\n--------form42--\r\n')
seed("multipart", "truncated", (ct.encode() + kazoo_multipart(boundary, doc, "x.mp3", "audio/mpeg", recording))[:-40])
seed("multipart", "file-only", ct.encode() + b"\r\n--" + boundary.encode() + b"\r\ncontent-disposition: form-data; name=f\r\n"
     b"content-type: audio/mpeg\r\n\r\n" + recording[:50] + b"\r\n--" + boundary.encode() + b"--")

seed("base64", "kazoo-file", base64.b64encode(recording))
seed("base64", "lines-crlf", base64.encodebytes(recording).replace(b"\n", b"\r\n"))
seed("base64", "url-safe", base64.urlsafe_b64encode(recording[:61]))
seed("base64", "padding-one", b"QUJDRA==")
seed("base64", "padding-two", b"QUJDREU=")

seed("object-key", "default-fields", "ab" * 16 + "/" + "cd" * 16 + "/202612-" + "0f" * 16 + "/" + "3f" * 16 + ".mp3")
seed("object-key", "folder-path", "recordings/2026/" + "ab" * 16 + "/call_recording_" + "12" * 16 + ".mp3")
seed("object-key", "percent-encoded", "folder%20name/caller%2B1%20%28555%29/rec%C3%A9.mp3")
seed("object-key", "plus-for-space", "Front+Desk/" + "ab" * 16 + ".wav")
seed("object-key", "dot-dot-encoded", "a/%2E%2E/b.mp3")

seed("s3-xml", "error", '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
     '<RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>')
seed("s3-xml", "error-region", "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region &apos;us-east-1&apos; is wrong"
     "</Message><Region>eu-west-1</Region></Error>")
seed("s3-xml", "create-multipart", '<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult '
     'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k.mp3</Key>'
     "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId></InitiateMultipartUploadResult>")
seed("s3-xml", "complete-multipart", "<CompleteMultipartUploadResult><Location>http://b.s3/k</Location><Bucket>b</Bucket>"
     "<Key>k</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag></CompleteMultipartUploadResult>")
seed("s3-xml", "list", "<ListBucketResult><Name>b</Name><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
     "<Contents><Key>a&amp;b.mp3</Key><Size>1024</Size><ETag>&quot;x&quot;</ETag></Contents>"
     "<Contents><Key>&#x263A;.wav</Key><Size>7</Size></Contents><Contents/></ListBucketResult>")

seed("admin-json", "new-account", json.dumps({"account_id": "ab" * 16, "name": "Sunrise Dental", "bucket": "sunrise-recordings",
     "host": "s3.us-east-1.amazonaws.com", "region": "us-east-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
     "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "key_prefix": "calls/", "sse": "aws:kms",
     "kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/1234", "storage_class": "STANDARD_IA",
     "download_mode": "proxy", "presign_expiry_seconds": 600, "enabled": True}, indent=2))
seed("admin-json", "change", json.dumps({"secret_access_key": "bad secret with spaces", "region": None, "path_style": True}))
seed("admin-json", "retry", '{"account_id": "' + "ab" * 16 + '"}')
seed("admin-json", "retry-all", '{"all": true}')

example = open(os.path.join(os.path.dirname(root), "..", "config.example.json"), "rb").read()
seed("config", "example", example)
seed("config", "postgres", json.dumps({"database_url": "postgres://rg:secret@db.example.com:5432/gateway?sslmode=verify-full",
     "node_id": "gw-1", "memory_budget_bytes": 67108864, "max_concurrent_stores": 64, "tls_certificate_file": "/etc/c.pem",
     "tls_key_file": "/etc/k.pem", "replay_base_delay_seconds": 0.5}))
seed("config", "empty-object", "{}")

for target, files in seeds.items():
    directory = os.path.join(root, target)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
print("wrote", sum(len(f) for f in seeds.values()), "seeds for", len(seeds), "targets under", root)
