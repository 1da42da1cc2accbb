/// S3's bucket naming rules ("Bucket naming rules" in the Amazon S3 user guide), checked before an
/// account is saved so that a typo is refused with the rule it breaks rather than an S3 error later.
public enum BucketName {
    /// Returns nil for a valid name, else what is wrong with it.
    public static func problem(with name: String) -> String? {
        let count = name.utf8.count
        if count < 3 || count > 63 { return "a bucket name is 3 to 63 characters long" }
        guard name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "." || $0 == "-") }) else {
            return "a bucket name uses only lowercase letters, digits, '.' and '-'"
        }
        guard let first = name.first, let last = name.last, first.isLetter || first.isNumber, last.isLetter || last.isNumber else {
            return "a bucket name begins and ends with a letter or a digit"
        }
        if name.contains("..") { return "a bucket name has no two adjacent dots" }
        if name.contains(".-") || name.contains("-.") { return "a bucket name has no dot next to a hyphen" }
        let parts = name.split(separator: ".")
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { return "a bucket name is not an IP address" }
        for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] where name.hasPrefix(prefix) {
            return "a bucket name does not start with \"\(prefix)\""
        }
        for suffix in ["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"] where name.hasSuffix(suffix) {
            return "a bucket name does not end with \"\(suffix)\""
        }
        return nil
    }
}
