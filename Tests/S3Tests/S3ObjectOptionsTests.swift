import NIOCore
import Testing

@testable import S3

struct S3ObjectOptionsTests {
    @Test func metadataValuesAreMadeASCIIOneWayAndDecodeBack() {
        #expect(S3Metadata.value("+1 415 555 0100") == "+1 415 555 0100")
        #expect(S3Metadata.value("Zoë") == "Zo%C3%AB")
        #expect(S3Metadata.value("50% off\nnext") == "50%25 off%0Anext")
        for value in ["Zoë", "50% off\nnext", "日本語", "plain"] {
            #expect(S3Metadata.decodeValue(S3Metadata.value(value)) == value)
        }
        #expect(S3Metadata.name("Caller_ID Name") == "caller-id-name")
    }

    @Test func partsGrowForLargeKnownLengthsSoNoUploadExceedsTenThousandParts() {
        let uploader = MultipartUploader(budget: MemoryBudget(capacity: 1 << 30), partSize: 8 * 1024 * 1024)
        #expect(uploader.partSize(forExpectedLength: nil) == 8 * 1024 * 1024)
        #expect(uploader.partSize(forExpectedLength: 500 * 1024 * 1024) == 8 * 1024 * 1024)
        let fiveTerabytes = 5 * 1024 * 1024 * 1024 * 1024
        let grown = uploader.partSize(forExpectedLength: fiveTerabytes)
        #expect(grown % (1024 * 1024) == 0)
        #expect((fiveTerabytes + grown - 1) / grown <= 10_000)
        #expect(MultipartUploader(budget: MemoryBudget(capacity: 1 << 30), partSize: 1024).partSize == 5 * 1024 * 1024)
    }

    @Test func encryptionAndStorageClassHeaders() {
        let kms = S3ObjectOptions(
            contentType: "audio/mpeg",
            metadata: ["b": "2", "a": "1"],
            serverSideEncryption: .kms(keyId: "arn:aws:kms:us-west-1:111122223333:key/abc", bucketKey: true),
            storageClass: "STANDARD_IA"
        )
        #expect(
            kms.headers == [
                HeaderField("Content-Type", "audio/mpeg"), HeaderField("x-amz-meta-a", "1"), HeaderField("x-amz-meta-b", "2"),
                HeaderField("x-amz-server-side-encryption", "aws:kms"),
                HeaderField("x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:us-west-1:111122223333:key/abc"),
                HeaderField("x-amz-server-side-encryption-bucket-key-enabled", "true"), HeaderField("x-amz-storage-class", "STANDARD_IA"),
            ]
        )
        #expect(
            S3ObjectOptions(serverSideEncryption: .kms(keyId: nil, bucketKey: false)).headers == [
                HeaderField("x-amz-server-side-encryption", "aws:kms")
            ]
        )
        #expect(S3ObjectOptions(serverSideEncryption: .aes256).headers == [HeaderField("x-amz-server-side-encryption", "AES256")])
    }
}

struct BufferChargeTests {
    /// The budget is charged what NIO really allocates for a part buffer.
    @Test func chargeIsTheAllocatedPowerOfTwo() {
        #expect(MultipartUploader.bufferCharge(forPartSize: 8 * 1024 * 1024) == 8 * 1024 * 1024)
        #expect(MultipartUploader.bufferCharge(forPartSize: 5 * 1024 * 1024) == 8 * 1024 * 1024)
        #expect(MultipartUploader.bufferCharge(forPartSize: 8 * 1024 * 1024 + 1) == 16 * 1024 * 1024)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(5 * 1024 * 1024)
        #expect(buffer.capacity == MultipartUploader.bufferCharge(forPartSize: 5 * 1024 * 1024))
    }
}
