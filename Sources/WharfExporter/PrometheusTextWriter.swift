/// Writes the Prometheus text exposition format 0.0.4, or OpenMetrics 1.0.
///
/// Written here rather than taken from swift-prometheus: its registry owns
/// its metric objects (counters only increment, histogram buckets are fixed
/// at creation), while Wharf renders a snapshot of totals read once per
/// scrape; mirroring those into a registry would mean computing deltas per
/// scrape. It also cannot write OpenMetrics (no `# EOF`, no `info` type, no
/// suffix-free counter family names), which Prometheus asks for first.
///
/// Output goes into one growing byte array, integers are written digit by
/// digit, and nothing else is allocated per sample, so rendering costs grow
/// with the output, not with the broker's history.
struct PrometheusTextWriter {
    enum Format: Sendable {
        case prometheus
        case openMetrics
    }

    enum MetricType: String {
        case counter, gauge, histogram, summary
        /// A gauge named `*_info` whose value is 1 and whose labels carry the
        /// information; OpenMetrics has a type for it, 0.0.4 calls it a gauge.
        case info
    }

    let format: Format
    private(set) var bytes: [UInt8] = []

    init(format: Format = .prometheus, capacity: Int = 16 * 1024) {
        self.format = format
        bytes.reserveCapacity(capacity)
    }

    /// The finished exposition (OpenMetrics ends with `# EOF`).
    mutating func finish() -> [UInt8] {
        if format == .openMetrics { append("# EOF\n") }
        return bytes
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// HELP and TYPE for a family. Call once, before its samples. In
    /// OpenMetrics the family of a counter drops its `_total` and an info
    /// family its `_info`; the samples keep them.
    mutating func family(_ name: String, _ type: MetricType, _ help: String) {
        var familyName = Substring(name)
        var typeName = type.rawValue
        switch (format, type) {
        case (.openMetrics, .counter) where name.hasSuffix("_total"):
            familyName = familyName.dropLast(6)
        case (.openMetrics, .info) where name.hasSuffix("_info"):
            familyName = familyName.dropLast(5)
        case (.prometheus, .info):
            typeName = "gauge"
        default:
            break
        }
        append("# HELP ")
        append(familyName)
        append(" ")
        append(help)
        append("\n# TYPE ")
        append(familyName)
        append(" ")
        append(typeName)
        append("\n")
    }

    /// A family with one unlabelled sample: HELP, TYPE and the value.
    mutating func single(_ name: String, _ type: MetricType, _ help: String, _ value: Double) {
        family(name, type, help)
        sample(name, value)
    }

    mutating func single(_ name: String, _ type: MetricType, _ help: String, _ value: Int) {
        single(name, type, help, Double(value))
    }

    mutating func sample(_ name: String, _ value: Double) {
        append(name)
        append(" ")
        appendNumber(value)
        append("\n")
    }

    mutating func sample(_ name: String, _ value: Int) {
        sample(name, Double(value))
    }

    /// A labelled sample; `extra` is one more label after `labels` (a
    /// histogram's `le`, a summary's `quantile`).
    mutating func sample(
        _ name: String, _ labels: KeyValuePairs<String, String>, extra: (String, String)? = nil, _ value: Double
    ) {
        append(name)
        if !labels.isEmpty || extra != nil {
            append("{")
            var first = true
            for (key, labelValue) in labels {
                if !first { append(",") }
                first = false
                appendLabel(key, labelValue)
            }
            if let (key, labelValue) = extra {
                if !first { append(",") }
                appendLabel(key, labelValue)
            }
            append("}")
        }
        append(" ")
        appendNumber(value)
        append("\n")
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Int) {
        sample(name, labels, Double(value))
    }

    // MARK: Bytes

    private mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func append(_ text: Substring) {
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func appendLabel(_ key: String, _ value: String) {
        append(key)
        append("=\"")
        if value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) {
            append(Self.escape(value))
        } else {
            append(value)
        }
        append("\"")
    }

    private mutating func appendNumber(_ value: Double) {
        if value == value.rounded(), abs(value) < 1e15 {
            appendInteger(Int64(value))
        } else {
            append(Self.format(value))
        }
    }

    /// Decimal digits without an intermediate String.
    private mutating func appendInteger(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        if magnitude == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        let start = bytes.count
        while magnitude > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        bytes[start...].reverse()
    }

    /// Label values escape backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
