import Foundation
import S3

extension AccountRecord {
    init(_ account: Account, sealedSecret: Data, tokenHash: String) {
        accountId = account.accountId
        name = account.name
        bucket = account.bucket
        host = account.host
        region = account.region
        scheme = account.scheme.rawValue
        pathStyle = account.pathStyle
        accessKeyId = account.accessKeyId
        self.sealedSecret = sealedSecret
        keyPrefix = account.keyPrefix
        sse = account.sse?.rawValue
        kmsKeyId = account.kmsKeyId
        storageClass = account.storageClass
        downloadMode = account.downloadMode.rawValue
        presignExpirySeconds = account.presignExpirySeconds
        enabled = account.enabled
        self.tokenHash = tokenHash
        createdAt = account.createdAt
        updatedAt = account.updatedAt
    }

    var account: Account {
        Account(
            accountId: accountId,
            name: name,
            bucket: bucket,
            host: host,
            region: region,
            scheme: S3Endpoint.Scheme(rawValue: scheme) ?? .https,
            pathStyle: pathStyle,
            accessKeyId: accessKeyId,
            keyPrefix: keyPrefix,
            sse: sse.flatMap(Account.Encryption.init(rawValue:)),
            kmsKeyId: kmsKeyId,
            storageClass: storageClass,
            downloadMode: Account.DownloadMode(rawValue: downloadMode) ?? .redirect,
            presignExpirySeconds: presignExpirySeconds,
            enabled: enabled,
            createdAt: createdAt,
            updatedAt: updatedAt
        )
    }
}
