/// A colour as the terminal backend should send it.
public enum TerminalColor: Hashable, Sendable {
    /// The terminal's own foreground or background.
    case terminalDefault
    /// A palette index: 0-255 at 256 colours, 0-7 at 8 colours.
    case index(Int)
    /// A 24-bit colour, only produced for `.direct` terminals.
    case rgb(UInt8, UInt8, UInt8)
}

/// Maps theme colours down to what the terminal can show.
public enum ColorMapping {
    /// The colour for `color` on a terminal with `depth`; nil for `.none`
    /// (draw with attributes only).
    public static func terminalColor(for color: ThemeColor, depth: ColorDepth) -> TerminalColor? {
        switch (color, depth) {
        case (_, .none):
            return nil
        case (.terminalDefault, _):
            return .terminalDefault

        // Direct-colour terminfo entries (xterm-direct) read colour numbers
        // of 8 and up as packed RGB, so palette indexes must be sent as RGB.
        case (.rgb(let r, let g, let b), .direct):
            return .rgb(r, g, b)
        case (.indexed(let index), .direct):
            let (r, g, b) = xterm256[Int(index)]
            return .rgb(r, g, b)

        case (.rgb(let r, let g, let b), .indexed256):
            return .index(nearest(r, g, b, in: cubeAndGreys))
        case (.indexed(let index), .indexed256):
            return .index(Int(index))

        case (.rgb(let r, let g, let b), .ansi8):
            return .index(nearest(r, g, b, in: 0..<8))
        case (.indexed(let index), .ansi8):
            switch index {
            case 0..<8: return .index(Int(index))
            case 8..<16: return .index(Int(index) - 8)  // bright variants -> their base colour
            default:
                let (r, g, b) = xterm256[Int(index)]
                return .index(nearest(r, g, b, in: 0..<8))
            }
        }
    }

    /// How many colours to use, from the terminfo `colors` count and the
    /// environment. `NO_COLOR` (https://no-color.org), set to anything, even
    /// empty, turns colour off.
    public static func depth(colors: Int, environment: [String: String]) -> ColorDepth {
        if environment["NO_COLOR"] != nil { return .none }
        switch colors {
        case 16_777_216...: return .direct
        case 256...: return .indexed256
        case 8...: return .ansi8
        default: return .none
        }
    }

    /// The RGB value of an xterm palette index, as xterm defines it.
    public static func rgb(ofIndex index: UInt8) -> (UInt8, UInt8, UInt8) {
        xterm256[Int(index)]
    }

    /// The xterm 256-colour palette: 16 system colours, the 6x6x6 cube
    /// (16-231) and the 24-step grey ramp (232-255).
    static let xterm256: [(UInt8, UInt8, UInt8)] = {
        var palette: [(UInt8, UInt8, UInt8)] = [
            (0x00, 0x00, 0x00), (0xcd, 0x00, 0x00), (0x00, 0xcd, 0x00), (0xcd, 0xcd, 0x00),
            (0x00, 0x00, 0xee), (0xcd, 0x00, 0xcd), (0x00, 0xcd, 0xcd), (0xe5, 0xe5, 0xe5),
            (0x7f, 0x7f, 0x7f), (0xff, 0x00, 0x00), (0x00, 0xff, 0x00), (0xff, 0xff, 0x00),
            (0x5c, 0x5c, 0xff), (0xff, 0x00, 0xff), (0x00, 0xff, 0xff), (0xff, 0xff, 0xff),
        ]
        let levels: [UInt8] = [0, 95, 135, 175, 215, 255]
        for r in levels {
            for g in levels {
                for b in levels { palette.append((r, g, b)) }
            }
        }
        for step in 0..<24 {
            let grey = UInt8(8 + 10 * step)
            palette.append((grey, grey, grey))
        }
        return palette
    }()

    /// Candidates for RGB colours at 256 colours. 0-15 are left out: terminals
    /// (and their users' themes) redefine them, so they are not the colour asked for.
    static let cubeAndGreys = 16..<256

    /// The palette index in `candidates` closest to (r, g, b); ties go to the lower index.
    static func nearest(_ r: UInt8, _ g: UInt8, _ b: UInt8, in candidates: Range<Int>) -> Int {
        var best = candidates.lowerBound
        var bestDistance = Int.max
        for index in candidates {
            let distance = distanceSquared((r, g, b), xterm256[index])
            if distance < bestDistance {
                best = index
                bestDistance = distance
            }
        }
        return best
    }

    /// "Redmean" weighted RGB distance (squared, scaled by 256): a cheap
    /// approximation of perceived difference that weights green most, and red
    /// or blue more depending on how red the colours are.
    static func distanceSquared(_ a: (UInt8, UInt8, UInt8), _ b: (UInt8, UInt8, UInt8)) -> Int {
        let redMean = (Int(a.0) + Int(b.0)) / 2
        let dr = Int(a.0) - Int(b.0)
        let dg = Int(a.1) - Int(b.1)
        let db = Int(a.2) - Int(b.2)
        return (512 + redMean) * dr * dr + 1024 * dg * dg + (767 - redMean) * db * db
    }
}

extension Theme {
    /// Every role mapped for `depth`, so the backend maps each colour once
    /// per theme rather than once per cell. Empty for `.none`.
    public func terminalColors(depth: ColorDepth) -> [ColorRole: TerminalColor] {
        colors.compactMapValues { ColorMapping.terminalColor(for: $0, depth: depth) }
    }
}
