import Foundation

/// The report as one self-contained HTML page: the key figures in a table and charts over time (store
/// latency percentiles, rates, the gateway's RSS and CPU) drawn as inline SVG. No script, no network.
enum HTMLReport {
    struct Line {
        var name: String
        var color: String
        var points: [(Double, Double)]
    }

    static func page(_ report: LoadReport) -> String {
        let s = report.series
        let latency = [
            Line(name: "p50", color: "#1b9e77", points: s.compactMap { p in p.storeP50Ms.map { (p.t, $0) } }),
            Line(name: "p90", color: "#7570b3", points: s.compactMap { p in p.storeP90Ms.map { (p.t, $0) } }),
            Line(name: "p99", color: "#d95f02", points: s.compactMap { p in p.storeP99Ms.map { (p.t, $0) } }),
            Line(name: "max", color: "#999999", points: s.compactMap { p in p.storeMaxMs.map { (p.t, $0) } }),
        ]
        let rates = [
            Line(name: "stores/s", color: "#1b9e77", points: s.map { ($0.t, $0.storesPerSecond) }),
            Line(name: "fetches/s", color: "#7570b3", points: s.map { ($0.t, $0.fetchesPerSecond) }),
            Line(name: "failures/window", color: "#e7298a", points: s.map { ($0.t, Double($0.failures)) }),
        ]
        var charts = [
            chart("Store latency (ms, from when each call was due)", latency),
            chart("Rate", rates),
            chart("Bytes sent (MiB/s)", [Line(name: "MiB/s", color: "#66a61e", points: s.map { ($0.t, $0.mibPerSecond) })]),
        ]
        if !report.process.isEmpty {
            let p = report.process
            charts.append(chart("Gateway RSS (MiB)", [Line(name: "RSS", color: "#e6ab02", points: p.map { ($0.seconds, $0.rssMib) })]))
            let cpu = zip(p, p.dropFirst()).map { a, b in (b.seconds, (b.cpuSeconds - a.cpuSeconds) / max(b.seconds - a.seconds, 0.001) * 100) }
            charts.append(chart("Gateway CPU (% of one core)", [Line(name: "CPU", color: "#a6761d", points: cpu)]))
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>kazoo-load: \(escape(report.label))</title>
            <style>
            body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
            table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
            th{text-align:left;background:#f4f4f4}svg{display:block;margin:16px 0;background:#fff;border:1px solid #ddd}
            .note{color:#555}
            </style></head><body>
            <h1>kazoo-load: \(escape(report.label))</h1>
            <p class="note">\(escape(report.mode)), \(report.callsPerSecond) calls/s for \(report.durationSeconds) s, \
            started \(escape(report.started)), last answer after \(report.elapsedSeconds) s. \
            Latency is counted from when each call was due (open loop), not from when its request was sent.</p>
            \(table(report))
            \(charts.joined(separator: "\n"))
            </body></html>
            """
    }

    private static func table(_ r: LoadReport) -> String {
        func row(_ name: String, _ q: LoadReport.Requests) -> String {
            let l = q.latencyMs
            let answers = q.answers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return "<tr><th>\(name)</th><td>\(q.ok)</td><td>\(q.failed)</td><td>\(q.perSecond)</td><td>\(l.p50)</td>"
                + "<td>\(l.p90)</td><td>\(l.p99)</td><td>\(l.p999)</td><td>\(l.max)</td><td>\(escape(answers))</td></tr>"
        }
        var text = "<table><tr><th></th><th>ok</th><th>failed</th><th>per s</th><th>p50 ms</th><th>p90 ms</th>"
        text += "<th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>answers</th></tr>"
        text += row("stores", r.stores) + row("fetches", r.fetches) + "</table><table>"
        text += "<tr><th>fetched recordings that differed</th><td>\(r.fetches.mismatched ?? 0)</td></tr>"
        text += "<tr><th>recording bytes stored</th><td>\(r.bytesStored)</td></tr>"
        text += "<tr><th>MiB/s sent</th><td>\(r.mibPerSecond)</td></tr>"
        if let rss = r.rssMib, let cpu = r.cpuSeconds, let cores = r.cpuCores {
            text += "<tr><th>gateway RSS MiB (start, peak, end)</th><td>\(rss.start), \(rss.peak), \(rss.end)</td></tr>"
            text += "<tr><th>gateway CPU seconds (cores)</th><td>\(cpu) (\(cores))</td></tr>"
        }
        return text + "</table>"
    }

    /// A line chart as SVG: axes with five ticks each, one polyline per line, a legend.
    static func chart(_ title: String, _ lines: [Line]) -> String {
        let width = 1000.0
        let height = 260.0
        let left = 70.0
        let right = 20.0
        let top = 30.0
        let bottom = 40.0
        let all = lines.flatMap(\.points)
        let xMax = max(1, all.map(\.0).max() ?? 1)
        let yMax = niceCeiling(all.map(\.1).max() ?? 1)
        let x = { (v: Double) in left + v / xMax * (width - left - right) }
        let y = { (v: Double) in height - bottom - v / yMax * (height - top - bottom) }
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\">"
        svg += "<title>\(escape(title))</title><text x=\"\(left)\" y=\"18\" font-weight=\"bold\">\(escape(title))</text>"
        for tick in 0...4 {
            let value = yMax * Double(tick) / 4
            svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(value))\" y2=\"\(y(value))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(value) + 4)\" text-anchor=\"end\" font-size=\"11\">\(label(value))</text>"
            let t = xMax * Double(tick) / 4
            svg += "<text x=\"\(x(t))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\" font-size=\"11\">\(label(t)) s</text>"
        }
        svg += "<line x1=\"\(left)\" x2=\"\(left)\" y1=\"\(top)\" y2=\"\(height - bottom)\" stroke=\"#888\"/>"
        svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(height - bottom)\" y2=\"\(height - bottom)\" stroke=\"#888\"/>"
        for (index, line) in lines.enumerated() where !line.points.isEmpty {
            let points = line.points.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            svg += "<polyline class=\"series\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.5\" points=\"\(points)\"/>"
            let lx = left + 10 + Double(index) * 130
            svg += "<rect x=\"\(lx)\" y=\"\(height - 14)\" width=\"12\" height=\"4\" fill=\"\(line.color)\"/>"
            svg += "<text x=\"\(lx + 16)\" y=\"\(height - 8)\" font-size=\"11\">\(escape(line.name))</text>"
        }
        return svg + "</svg>"
    }

    /// 1, 2 or 5 times a power of ten, at least `value`.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        return [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= value } ?? value
    }

    private static func label(_ value: Double) -> String {
        value >= 100 || value == value.rounded() ? String(Int(value.rounded())) : String(format: "%g", (value * 100).rounded() / 100)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
