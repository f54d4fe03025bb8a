#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The terminal's state while echo is off, for the signal handler that puts
/// it back: a Ctrl-C at the prompt must not leave the shell without echo.
/// Written only before the handler is installed and after it is removed.
nonisolated(unsafe) private var savedTerminal: (fd: Int32, state: termios)?

/// The controlling terminal, for asking a password without echoing it.
/// /dev/tty rather than standard input, so a password is asked of a person
/// even when standard input is redirected.
struct PasswordTerminal {
    let fd: Int32

    static func attach() throws -> PasswordTerminal {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            throw PasswdError(
                "no terminal to ask for the password (\(String(cString: strerror(errno)))); "
                    + "give it as one line on standard input with --stdin, e.g. "
                    + "printf '%s\\n' \"$PASSWORD\" | wharf passwd --stdin FILE USER"
            )
        }
        return PasswordTerminal(fd: fd)
    }

    func detach() { _ = close(fd) }

    func readPassword(prompt: String) throws -> [UInt8] {
        var original = termios()
        guard tcgetattr(fd, &original) == 0 else { throw PasswdError("cannot read the terminal's settings") }
        var quiet = original
        quiet.c_lflag &= ~tcflag_t(ECHO)
        savedTerminal = (fd, original)
        let handled = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
        for number in handled { _ = signal(number, restoreAndDie) }
        defer {
            tcsetattr(fd, TCSAFLUSH, &original)
            for number in handled { _ = signal(number, SIG_DFL) }
            savedTerminal = nil
            say("\n")
        }
        tcsetattr(fd, TCSAFLUSH, &quiet)
        say(prompt)
        guard let line = try LineReader.readLine(from: fd) else { throw PasswdError("no password given") }
        return line
    }

    private func say(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

/// Puts the terminal's echo back and dies of the same signal.
private func restoreAndDie(_ number: Int32) {
    if var saved = savedTerminal { tcsetattr(saved.fd, TCSAFLUSH, &saved.state) }
    _ = signal(number, SIG_DFL)
    raise(number)
}
