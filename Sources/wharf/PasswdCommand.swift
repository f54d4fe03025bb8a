import ArgumentParser
import WharfServer

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `wharf passwd FILE USER`: adds, changes or deletes a user in a password
/// file, in Mosquitto's format so either broker reads it. A thin shell: the
/// hashing and the editing are `PasswordHash` and `PasswordFile.setting` /
/// `.deleting`; this reads the file, asks for the password and writes the
/// result back atomically.
struct PasswdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Add, change or delete a user in a password file (Mosquitto's format).",
        discussion: """
            Asks for the password twice on the terminal, or reads one line from standard input with --stdin. \
            The file is created with mode 0600 if it does not exist; other lines, comments and the file's mode are kept. \
            Hashes are PBKDF2-SHA512 with 101 rounds ($7$), as mosquitto_passwd writes them.
            """
    )

    @Argument(help: "The password file (created if missing).")
    var file: String

    @Argument(help: "The user to add, change or delete.")
    var user: String

    @Flag(name: [.customShort("D"), .customLong("delete")], help: "Delete the user instead of setting a password.")
    var delete = false

    @Flag(name: .customLong("stdin"), help: "Read the password from one line of standard input (no confirmation).")
    var readStandardInput = false

    func validate() throws {
        if delete && readStandardInput { throw ValidationError("-D deletes a user and takes no password; leave out --stdin") }
    }

    func run() throws {
        let path = PasswordFileStorage.resolvingLinks(file)
        if delete {
            let (existing, _) = try Self.load(path)
            guard let existing else { throw PasswdError("\(path) does not exist") }
            let edited = try PasswordFile.deleting(user: user, from: existing.text)
            try PasswordFileStorage.store(edited, at: path, like: existing)
            print("deleted user '\(user)' from \(path)")
            return
        }
        // Before asking: a name or a file that cannot be used should not cost a password.
        try PasswordFile.checkUserName(user)
        _ = try Self.load(path)
        let password = try readStandardInput ? Self.passwordFromStandardInput() : Self.passwordFromTerminal()
        try PasswordFile.checkPassword(password)
        // Read again: the prompt may have waited minutes, and an edit made
        // meanwhile must not be undone.
        let (existing, current) = try Self.load(path)
        let edited = try PasswordFile.setting(user: user, to: PasswordHash(password: password), in: existing?.text ?? "")
        try PasswordFileStorage.store(edited, at: path, like: existing)
        print(current.contains(user: user) ? "changed the password of user '\(user)' in \(path)" : "added user '\(user)' to \(path)")
    }

    /// The file and what Wharf reads in it. It must already be a password
    /// file Wharf reads: this also refuses to rewrite some other file named
    /// by mistake (a config, say).
    private static func load(_ path: String) throws -> (PasswordFileStorage.Existing?, PasswordFile) {
        let existing = try PasswordFileStorage.load(path)
        return (existing, try PasswordFile(text: existing?.text ?? "", file: path))
    }

    private static func passwordFromStandardInput() throws -> [UInt8] {
        guard let line = try LineReader.readLine(from: STDIN_FILENO) else {
            throw PasswdError("--stdin given but standard input is empty; give the password as one line")
        }
        return line
    }

    private static func passwordFromTerminal() throws -> [UInt8] {
        let terminal = try PasswordTerminal.attach()
        defer { terminal.detach() }
        let first = try terminal.readPassword(prompt: "Password: ")
        try PasswordFile.checkPassword(first)
        let second = try terminal.readPassword(prompt: "Reenter password: ")
        guard first == second else { throw PasswdError("the passwords do not match; nothing changed") }
        return first
    }
}

/// A refusal of `wharf passwd`, printed as `Error: <description>`.
struct PasswdError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reading a line of bytes from a file descriptor, unbuffered: standard
/// input may hold more than the password line, and none of it is ours.
enum LineReader {
    /// The longest password MQTT can carry.
    static let maximumBytes = 65535

    /// The bytes before the next newline; nil at end of input with nothing read.
    static func readLine(from fd: Int32) throws -> [UInt8]? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(fd, &byte, 1)
            if count < 0 {
                if errno == EINTR { continue }
                throw PasswdError("cannot read the password: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return line.isEmpty ? nil : line }
            if byte == UInt8(ascii: "\n") { return line }
            guard line.count < maximumBytes else { throw PasswdError("the password is longer than \(maximumBytes) bytes") }
            line.append(byte)
        }
    }
}
