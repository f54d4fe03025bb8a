import Foundation

/// Numbers as an operator reads them at a glance: at most one decimal, SI suffixes for counts and rates, binary ones for bytes, and
/// the natural unit for durations.
public enum Formatters {
    /// 950, 1.2k, 34.5k, 123k, 1.2M (for counts).
    public static func count(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude < 1000 {
            return value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
        }
        for (limit, suffix) in [(1e6, "k"), (1e9, "M"), (1e12, "G"), (Double.infinity, "T")] {
            let scaled = value / (limit / 1000)
            if magnitude < limit { return threeFigures(scaled) + suffix }
        }
        return String(Int(value))
    }

    public static func count(_ value: Int) -> String { count(Double(value)) }

    /// 0/s, 12/s, 1.2k/s (for rates per second).
    public static func rate(_ perSecond: Double) -> String {
        if perSecond > 0 && perSecond < 10 {
            return String(format: "%.1f/s", perSecond)
        }
        return count(perSecond.rounded()) + "/s"
    }

    /// 512 B, 3.4 KiB, 12.0 MiB, 1.2 GiB.
    public static func bytes(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude < 1024 { return "\(Int(value)) B" }
        var scaled = value / 1024
        for suffix in ["KiB", "MiB", "GiB", "TiB"] {
            if abs(scaled) < 1024 || suffix == "TiB" { return threeFigures(scaled) + " " + suffix }
            scaled /= 1024
        }
        return "\(Int(value)) B"
    }

    /// Bytes per second: 3.4 MiB/s.
    public static func byteRate(_ perSecond: Double) -> String { bytes(perSecond) + "/s" }

    /// 850 us, 12.3 ms, 1.5 s, 3m 20s, 2h 05m, 3d 04h.
    public static func duration(_ seconds: Double) -> String {
        let magnitude = abs(seconds)
        if magnitude < 0.001 { return "\(Int((seconds * 1e6).rounded())) us" }
        if magnitude < 1 { return threeFigures(seconds * 1000) + " ms" }
        if magnitude < 60 { return threeFigures(seconds) + " s" }
        let total = Int(seconds.rounded())
        if total < 3600 { return "\(total / 60)m \(String(format: "%02d", total % 60))s" }
        if total < 86_400 { return "\(total / 3600)h \(String(format: "%02d", total % 3600 / 60))m" }
        return "\(total / 86_400)d \(String(format: "%02d", total % 86_400 / 3600))h"
    }

    /// Compact: one decimal below 100 (1.2, 34.5), whole numbers above (123).
    static func threeFigures(_ value: Double) -> String {
        abs(value) >= 99.95 ? String(Int(value.rounded())) : String(format: "%.1f", value)
    }

    /// Pads or cuts `text` to exactly `width` columns (cut text ends in "…").
    public static func fit(_ text: String, _ width: Int, alignRight: Bool = false) -> String {
        guard width > 0 else { return "" }
        let count = text.count
        if count > width {
            return width == 1 ? "…" : String(text.prefix(width - 1)) + "…"
        }
        let padding = String(repeating: " ", count: width - count)
        return alignRight ? padding + text : text + padding
    }
}
