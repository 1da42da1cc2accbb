#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A signing instant in whole seconds, rendered the two ways SigV4 needs
/// (`20150830T123600Z` and `20150830`) without a date formatter.
public struct SigningTime: Sendable, Hashable {
    /// Seconds since 1970-01-01T00:00:00Z.
    public let secondsSince1970: Int64

    public init(secondsSince1970: Int64) {
        self.secondsSince1970 = secondsSince1970
    }

    public init(_ date: Date) {
        self.secondsSince1970 = Int64(date.timeIntervalSince1970.rounded(.down))
    }

    /// The day number since 1970-01-01, used as the signing-key cache key.
    var day: Int64 { secondsSince1970 >= 0 ? secondsSince1970 / 86_400 : (secondsSince1970 - 86_399) / 86_400 }

    /// Appends `YYYYMMDDTHHMMSSZ` (the `X-Amz-Date` form) to `buffer`.
    func appendAmzDate(to buffer: inout ScratchBuffer) {
        appendDateStamp(to: &buffer)
        let secondOfDay = Int(secondsSince1970 - day * 86_400)
        buffer.append(UInt8(ascii: "T"))
        append2(secondOfDay / 3600, to: &buffer)
        append2(secondOfDay / 60 % 60, to: &buffer)
        append2(secondOfDay % 60, to: &buffer)
        buffer.append(UInt8(ascii: "Z"))
    }

    /// Appends `YYYYMMDD` (the credential-scope date) to `buffer`.
    func appendDateStamp(to buffer: inout ScratchBuffer) {
        let (year, month, dayOfMonth) = Self.civilDate(fromDays: day)
        append2(year / 100, to: &buffer)
        append2(year % 100, to: &buffer)
        append2(month, to: &buffer)
        append2(dayOfMonth, to: &buffer)
    }

    /// `X-Amz-Date` as a string.
    public var amzDate: String {
        var buffer = ScratchBuffer(capacity: 16)
        appendAmzDate(to: &buffer)
        return buffer.string(0..<buffer.count)
    }

    /// The credential-scope date as a string.
    public var dateStamp: String {
        var buffer = ScratchBuffer(capacity: 16)
        appendDateStamp(to: &buffer)
        return buffer.string(0..<buffer.count)
    }

    /// Parses `YYYYMMDDTHHMMSSZ`; returns nil for anything else.
    public init?(amzDate: String) {
        let bytes = Array(amzDate.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let dayOfMonth = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
            (1...12).contains(month), (1...31).contains(dayOfMonth), hour < 24, minute < 60, second < 61
        else { return nil }
        let days = Self.days(fromCivilYear: year, month: month, day: dayOfMonth)
        self.secondsSince1970 = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    private func append2(_ value: Int, to buffer: inout ScratchBuffer) {
        buffer.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value / 10))
        buffer.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10))
    }

    // Howard Hinnant's days-from-civil and civil-from-days algorithms (proleptic Gregorian calendar).
    static func civilDate(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    static func days(fromCivilYear year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
