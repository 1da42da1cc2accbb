import Foundation
import SigV4
import Testing

struct SigningTimeTests {
    @Test(
        arguments: [
            (0, "19700101T000000Z"), (951_782_400, "20000229T000000Z"), (1_440_938_160, "20150830T123600Z"),
            (4_102_444_799, "20991231T235959Z"), (-1, "19691231T235959Z"),
        ] as [(Int64, String)]
    )
    func rendersKnownInstants(seconds: Int64, expected: String) {
        let time = SigningTime(secondsSince1970: seconds)
        #expect(time.amzDate == expected)
        #expect(time.dateStamp == String(expected.prefix(8)))
        #expect(SigningTime(amzDate: expected) == time)
    }

    @Test func agreesWithFoundationOverFourHundredYears() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let seconds = Int64.random(in: -2_208_988_800...10_413_792_000, using: &generator)
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            #expect(SigningTime(date).amzDate == formatter.string(from: date))
        }
    }

    @Test(arguments: ["", "2015083T123600Z", "20150830 123600Z", "20151330T123600Z", "20150830T126000Z", "2015O830T123600Z"])
    func refusesMalformedDates(text: String) {
        #expect(SigningTime(amzDate: text) == nil)
    }
}
