import Foundation
public import NIOCore

/// What the gateway reads from S3's XML answers (CreateMultipartUpload, CompleteMultipartUpload,
/// ListObjectsV2), whatever an S3-compatible store sends. Package-wide so that the fuzz targets read
/// answers exactly as the client does.
package enum S3Answers {
    /// CreateMultipartUpload's upload id; nil when there is none.
    package static func uploadId(in body: ByteBuffer) -> String? {
        guard let uploadId = XMLScan.string("UploadId", in: text(of: body)), !uploadId.isEmpty else { return nil }
        return uploadId
    }

    /// CompleteMultipartUpload's ETag, when the answer has one.
    package static func etag(in body: ByteBuffer) -> String? {
        XMLScan.string("ETag", in: text(of: body))
    }

    /// One page of ListObjectsV2.
    package static func objectList(in body: ByteBuffer) -> ObjectList {
        let text = text(of: body)
        let objects = XMLScan.elements("Contents", in: text).map { contents in
            ObjectList.Entry(
                key: XMLScan.string("Key", in: contents) ?? "",
                size: Int(XMLScan.string("Size", in: contents) ?? "") ?? 0,
                etag: XMLScan.string("ETag", in: contents)
            )
        }
        return ObjectList(objects: objects, isTruncated: XMLScan.string("IsTruncated", in: text) == "true")
    }

    /// An answer's text (invalid UTF-8 repaired), as the scanner reads it.
    static func text(of body: ByteBuffer) -> Substring { Substring(String(buffer: body)) }

    /// The part count at the end of a multipart ETag (`"<32 hex>-N"`, as AWS and most S3 stores give it); nil for
    /// any other form, which says nothing about the parts.
    package static func partCount(ofMultipartETag etag: String) -> Int? {
        let bare = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard let dash = bare.lastIndex(of: "-") else { return nil }
        let digest = bare[..<dash]
        guard digest.count == 32, digest.allSatisfy(\.isHexDigit), let count = Int(bare[bare.index(after: dash)...]), (1...10_000).contains(count)
        else { return nil }
        return count
    }
}
