/// Block characters for values scaled into eight levels.
public enum Sparkline {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// The last `width` values as blocks, scaled to their own maximum
    /// (an all-zero series is a flat baseline). Right-aligned: newest last.
    public static func render(_ values: [Double], width: Int) -> String {
        guard width > 0 else { return "" }
        let recent = values.suffix(width)
        let top = recent.max() ?? 0
        var text = String(repeating: " ", count: width - recent.count)
        for value in recent {
            let level = top > 0 ? Int((value / top * 7).rounded()) : 0
            text.append(blocks[max(0, min(7, level))])
        }
        return text
    }
}
