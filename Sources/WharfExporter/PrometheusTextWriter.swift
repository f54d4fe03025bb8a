/// Writes the Prometheus text exposition format 0.0.4.
///
/// Written here rather than taken from swift-prometheus: its registry owns
/// its metric objects (counters only increment), while Wharf renders a
/// snapshot of totals read once per scrape. Mirroring those into a registry
/// would mean computing deltas per scrape, and it cannot emit OpenMetrics.
struct PrometheusTextWriter {
    private(set) var text = ""

    /// HELP and TYPE for a family. Call once, before its samples.
    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// A family with one unlabelled sample: HELP, TYPE and the value.
    mutating func single(_ name: String, _ type: String, _ help: String, _ value: Double) {
        family(name, type, help)
        sample(name, value)
    }

    mutating func single(_ name: String, _ type: String, _ help: String, _ value: Int) {
        single(name, type, help, Double(value))
    }

    mutating func sample(_ name: String, _ value: Double) {
        text += name + " " + Self.format(value) + "\n"
    }

    mutating func sample(_ name: String, _ value: Int) {
        sample(name, Double(value))
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{"
            var first = true
            for (key, labelValue) in labels {
                if !first { text += "," }
                first = false
                text += key + "=\"" + Self.escape(labelValue) + "\""
            }
            text += "}"
        }
        text += " " + Self.format(value) + "\n"
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Int) {
        sample(name, labels, Double(value))
    }

    /// Label values escape backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
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
