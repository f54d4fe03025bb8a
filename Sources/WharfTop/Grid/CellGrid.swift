/// One terminal cell: a character and its style.
public struct Cell: Hashable, Sendable {
    public var character: Character
    public var style: Style

    public init(_ character: Character = " ", _ style: Style = .plain) {
        self.character = character
        self.style = style
    }
}

/// A screenful of cells. Widgets draw into it; tests read it back as text;
/// the terminal backend draws only what changed since the previous frame.
///
/// Every character takes one column: ids and topics with wide characters are
/// shown one column per character, which may misalign a row but never
/// corrupts the screen (the backend writes cell by cell).
public struct CellGrid: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int, fill: Cell = Cell()) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: fill, count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            cells[y * width + x] = newValue
        }
    }

    /// Writes `text` from (x, y), clipped to `maxWidth` columns and the grid.
    /// Returns the number of columns written.
    @discardableResult
    public mutating func put(_ text: some StringProtocol, x: Int, y: Int, style: Style = .plain, maxWidth: Int = .max) -> Int {
        guard y >= 0, y < height else { return 0 }
        var column = x
        let limit = min(width, maxWidth == .max ? width : x + max(0, maxWidth))
        for character in text {
            guard column < limit else { break }
            if column >= 0 {
                cells[y * width + column] = Cell(character, style)
            }
            column += 1
        }
        return max(0, column - x)
    }

    /// Fills a rectangle with one character and style.
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ cell: Cell = Cell()) {
        let x0 = max(0, x)
        let y0 = max(0, y)
        let x1 = min(width, x + w)
        let y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            for column in x0..<x1 { cells[row * width + column] = cell }
        }
    }

    /// Restyles a rectangle, keeping its characters (selection highlight).
    public mutating func restyle(x: Int, y: Int, width w: Int, height h: Int, _ change: (inout Style) -> Void) {
        let x0 = max(0, x)
        let y0 = max(0, y)
        let x1 = min(width, x + w)
        let y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            for column in x0..<x1 { change(&cells[row * width + column].style) }
        }
    }

    /// A box outline with an optional title in its top edge.
    public mutating func box(x: Int, y: Int, width w: Int, height h: Int, title: String? = nil, style: Style = Style(.border)) {
        guard w >= 2, h >= 2 else { return }
        put("┌" + String(repeating: "─", count: w - 2) + "┐", x: x, y: y, style: style)
        for row in (y + 1)..<(y + h - 1) {
            put("│", x: x, y: row, style: style)
            put("│", x: x + w - 1, y: row, style: style)
        }
        put("└" + String(repeating: "─", count: w - 2) + "┘", x: x, y: y + h - 1, style: style)
        if let title, w > 4 {
            put(" \(title) ", x: x + 2, y: y, style: Style.header, maxWidth: w - 4)
        }
    }

    /// Row `y` as plain text (for tests and captures).
    public func line(_ y: Int) -> String {
        String(cells[(y * width)..<((y + 1) * width)].map(\.character))
    }

    /// The whole grid as text, one line per row, trailing spaces kept.
    public var text: String {
        (0..<height).map(line).joined(separator: "\n")
    }

    /// A stretch of changed cells on one row that share a style: what the
    /// backend draws in one call.
    public struct Run: Equatable, Sendable {
        public var x: Int
        public var y: Int
        public var text: String
        public var style: Style
    }

    /// What must be drawn to turn `previous` into `self`: runs of changed
    /// cells. A previous grid of another size means everything changed.
    public func changes(since previous: CellGrid?) -> [Run] {
        let sameSize = previous.map { $0.width == width && $0.height == height } ?? false
        var runs: [Run] = []
        for y in 0..<height {
            var x = 0
            let rowStart = y * width
            while x < width {
                let cell = cells[rowStart + x]
                if sameSize, previous!.cells[rowStart + x] == cell {
                    x += 1
                    continue
                }
                var text = String(cell.character)
                let style = cell.style
                var end = x + 1
                while end < width {
                    let next = cells[rowStart + end]
                    guard next.style == style else { break }
                    if sameSize, previous!.cells[rowStart + end] == next { break }
                    text.append(next.character)
                    end += 1
                }
                runs.append(Run(x: x, y: y, text: text, style: style))
                x = end
            }
        }
        return runs
    }
}
