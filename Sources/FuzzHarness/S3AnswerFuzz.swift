import NIOCore
import S3

/// An answer from an S3-compatible store, read as the client reads each kind (an error document, a
/// CreateMultipartUpload, CompleteMultipartUpload or ListObjectsV2 result). Properties: reading ends, without
/// a crash; an upload id that is read is never empty; a list never has more entries than `<Contents` tags.
enum S3AnswerFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        let body = ByteBuffer(bytes: input)
        let text = String(decoding: input, as: UTF8.self)  // what the client reads: invalid UTF-8 repaired
        if let document = S3ErrorDocument(input) {
            try fuzzCheck(
                document.code.utf8.count <= text.utf8.count,
                "an error code of \(document.code.utf8.count) bytes from an answer of \(text.utf8.count): \(document.code.debugDescription)"
            )
        }
        if let uploadId = S3Answers.uploadId(in: body) { try fuzzCheck(!uploadId.isEmpty, "an empty upload id was read") }
        _ = S3Answers.etag(in: body)
        let list = S3Answers.objectList(in: body)
        let tags = text.ranges(of: "<Contents").count
        try fuzzCheck(list.objects.count <= tags, "\(list.objects.count) entries from \(tags) <Contents tags")
    }
}
