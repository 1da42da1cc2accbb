import Foundation

/// How KAZOO sends a recording (KAZOO.md, "Store").
enum StoreForm: String, Sendable, Codable, CaseIterable {
    /// The raw file as the body.
    case raw
    /// `send_multipart`: a JSON part with the call's metadata, then the file part.
    case multipart
    /// `send_multipart` with `base64_encode_data`: the file part as base64 text.
    case multipartBase64 = "multipart_base64"
}

/// One call's recording: when its call ends, what KAZOO sends, and whether it is fetched back.
struct PlannedCall: Sendable {
    var number: Int
    /// Seconds after the start of the run at which the call ends and its recording is sent.
    var at: Double
    var audio: SyntheticAudio
    var form: StoreForm
    var accountId: String
    var ownerId: String
    var documentId: String
    var attachmentName: String
    var callId: String
    var durationSeconds: Double
    /// Seconds after the store is answered at which the recording is fetched back, or nil.
    var fetchAfter: Double?

    /// The path segment of KAZOO's default field list: account id, owner id, document id, attachment name.
    var segment: String { [accountId, ownerId, documentId, attachmentName].joined(separator: "/") }

    /// The document's metadata, sent as the multipart JSON part and as the fetch's query.
    var metadata: [(String, String)] {
        [
            ("id", documentId), ("call_id", callId), ("caller_id_number", "+1555\(1_000_000 + number % 9_000_000)"),
            ("duration_ms", String(Int(durationSeconds * 1000))), ("media_type", audio.format.rawValue),
        ]
    }
}

/// The open-loop schedule: calls end at a Poisson rate (exponential gaps), each recording's length drawn
/// from a lognormal distribution (median and shape given) capped at KAZOO's 3-hour limit, its form and
/// whether it is fetched back drawn from the shares given. The same options and seed give the same calls.
struct CallPlan: Sendable {
    struct Options: Sendable {
        var accountId: String
        var callsPerSecond: Double
        var durationSeconds: Double
        var medianSeconds: Double = 180
        var sigma: Double = 1.0
        var maxSeconds: Double = 10_800
        var bitRateKbps: Double = 32
        var wavShare: Double = 0
        var multipartShare: Double = 0.2
        var base64Share: Double = 0.1
        var fetchShare: Double = 0.1
        var fetchDelaySeconds: ClosedRange<Double> = 2...10
        var seed: UInt64 = 1
        /// From `burstAt` for `burstSeconds`, calls end `burstFactor` times as often.
        var burstAt: Double? = nil
        var burstSeconds: Double = 30
        var burstFactor: Double = 10
    }

    let options: Options

    func rate(at time: Double) -> Double {
        if let start = options.burstAt, time >= start, time < start + options.burstSeconds {
            return options.callsPerSecond * options.burstFactor
        }
        return options.callsPerSecond
    }

    /// Every call of the run, in order of its end.
    func calls() -> [PlannedCall] {
        var random = SplitMix(seed: options.seed)
        var calls: [PlannedCall] = []
        var time = 0.0
        while true {
            // An exponential gap at the rate in force now (a piecewise-constant Poisson process).
            time += -log(max(Double.leastNonzeroMagnitude, uniform(&random))) / rate(at: time)
            guard time < options.durationSeconds else { break }
            calls.append(call(number: calls.count + 1, at: time, random: &random))
        }
        return calls
    }

    private func call(number: Int, at time: Double, random: inout SplitMix) -> PlannedCall {
        // Box-Muller for a standard normal, then the lognormal length.
        let normal = sqrt(-2 * log(max(Double.leastNonzeroMagnitude, uniform(&random)))) * cos(2 * .pi * uniform(&random))
        let seconds = min(options.maxSeconds, max(1, options.medianSeconds * exp(options.sigma * normal)))
        let format: SyntheticAudio.Format = uniform(&random) < options.wavShare ? .wav : .mp3
        // wav: 8 kHz 16-bit mono PCM (128 kbit/s) after a 44-byte header; mp3 at the bit rate given.
        let bytesPerSecond = format == .wav ? 16_000 : options.bitRateKbps * 1000 / 8
        let length = Int(seconds * bytesPerSecond) + (format == .wav ? 44 : 0)
        let formDraw = uniform(&random)
        let form: StoreForm =
            formDraw < options.base64Share
            ? .multipartBase64 : formDraw < options.base64Share + options.multipartShare ? .multipart : .raw
        let fetch = uniform(&random) < options.fetchShare
        let delay = options.fetchDelaySeconds
        let hex = { (random: inout SplitMix) in String(format: "%016llx%016llx", random.next(), random.next()) }
        return PlannedCall(
            number: number,
            at: time,
            audio: SyntheticAudio(seed: random.next(), length: length, format: format),
            form: form,
            accountId: options.accountId,
            ownerId: hex(&random),
            documentId: "202612-" + hex(&random),
            attachmentName: hex(&random) + "." + format.rawValue,
            callId: hex(&random),
            durationSeconds: seconds,
            fetchAfter: fetch ? delay.lowerBound + uniform(&random) * (delay.upperBound - delay.lowerBound) : nil
        )
    }

    private func uniform(_ random: inout SplitMix) -> Double { Double(random.next() >> 11) / Double(1 << 53) }
}
