// The S3 client and the bounded multipart uploader arrive with the issue that builds them.
// Until then this target only re-exports the signer it is built on.
@_exported public import SigV4
