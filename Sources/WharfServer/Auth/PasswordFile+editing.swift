import Foundation

/// Editing a password file's text for `wharf passwd`: pure functions from
/// text to text, so the command only reads, prompts and writes.
///
/// An edit touches the edited user's line and nothing else: other users,
/// comments, blank lines and their order stay as they were, because people
/// keep notes in these files and diff them.
extension PasswordFile {
    /// Mosquitto's bound for a user name (and MQTT's for any string).
    static let maximumUserNameBytes = 65535

    /// Throws when `user` could not be written as a line that Wharf and
    /// Mosquitto both read back as that same user.
    public static func checkUserName(_ user: String) throws(PasswordFileEditError) {
        if user.isEmpty { throw .emptyUserName }
        if user.utf8.count > maximumUserNameBytes { throw .userNameTooLong }
        if user.contains(":") { throw .userNameContainsColon }
        if user.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .userNameContainsControlCharacter
        }
        if user.first == " " || user.last == " " { throw .userNameHasSurroundingSpaces }
    }

    /// Throws for a password no client could usefully log in with.
    public static func checkPassword(_ password: [UInt8]) throws(PasswordFileEditError) {
        if password.isEmpty { throw .emptyPassword }
        if password.contains(0) { throw .passwordContainsNUL }
    }

    /// `text` with `user`'s hash set to `hash`: the user's line is replaced
    /// where it stands, or appended when the user is new. Later duplicate
    /// lines for the user are dropped, since a reader takes the last one and
    /// would otherwise keep the old password.
    public static func setting(user: String, to hash: PasswordHash, in text: String) throws(PasswordFileEditError) -> String {
        try checkUserName(user)
        let newLine = Substring("\(user):\(hash.encoded)")
        var replaced = false
        var edited: [Substring] = []
        for line in lines(of: text) {
            guard userName(onLine: line) == user else {
                edited.append(line)
                continue
            }
            if !replaced { edited.append(newLine) }
            replaced = true
        }
        if !replaced { edited.append(newLine) }
        return joined(edited)
    }

    /// `text` without `user`'s line (or lines); throws when there is none,
    /// so a misspelt name is reported instead of silently doing nothing.
    public static func deleting(user: String, from text: String) throws(PasswordFileEditError) -> String {
        let all = lines(of: text)
        let kept = all.filter { userName(onLine: $0) != user }
        if kept.count == all.count { throw .noSuchUser(user) }
        return joined(kept)
    }

    /// The user a line is for, by the rule `init(text:file:)` reads with; nil
    /// for blank lines and comments.
    static func userName(onLine rawLine: Substring) -> String? {
        let line = rawLine.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") { return nil }
        guard let colon = line.firstIndex(of: ":") else { return nil }
        return String(line[..<colon])
    }

    /// The file's lines, without the empty one after a final newline.
    private static func lines(of text: String) -> [Substring] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// Lines back to text; every line ends with a newline, as text files
    /// should (a file that lacked the final one gains it).
    private static func joined(_ lines: [Substring]) -> String {
        lines.map { $0 + "\n" }.joined()
    }
}
