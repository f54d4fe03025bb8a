import NIOCore
import Testing
import WharfMQTT
import WharfServer

@Suite struct AuthenticatorTests {
    /// Made by `mosquitto_passwd -c -b pw alice s3cret` (PBKDF2-SHA512, 101 rounds), and a
    /// `$6$` line (SHA-512 of password + salt) computed independently for "hunter2".
    static let file = """
        # users
        alice:$7$101$JW6A8hWrRA3Z8FDQ$vjyh0Y6/cgXA8xUDf+n1xNzRBb6PYQ7z7L37DOq0UyrnoDN87Y2yqnFfv/R4ZHGQx4CosQly4Ot11udH6AidWA==

        bob:$6$MDEyMzQ1Njc4OWFi$Kgl3AxuVCetFEGDDZOAh44c3ssh9wvPft10MPC9Tjr1rwsIDmYUEICH/zUOFhM8vCQKmMb8nXrQTl7q2T8alUw==
        """

    private func connect(_ user: String?, _ password: String?) -> ConnectPacket {
        ConnectPacket(clientId: "c", username: user, password: password.map { ByteBuffer(string: $0) })
    }

    /// Passwords hashed by mosquitto_passwd verify; wrong ones and unknown users do not.
    @Test func verifiesMosquittoHashes() throws {
        let passwords = try PasswordFile(text: Self.file, file: "pw")
        #expect(passwords.userCount == 2)
        #expect(passwords.verify(user: "alice", password: Array("s3cret".utf8)))
        #expect(!passwords.verify(user: "alice", password: Array("s3cret!".utf8)))
        #expect(passwords.verify(user: "bob", password: Array("hunter2".utf8)))
        #expect(!passwords.verify(user: "bob", password: Array("s3cret".utf8)))
        #expect(!passwords.verify(user: "carol", password: []))
    }

    /// CONNACK codes: 4 for bad credentials, 5 for anonymous when not allowed, nil to accept.
    @Test func connackCodes() throws {
        let auth = Authenticator(allowAnonymous: false, passwords: try PasswordFile(text: Self.file, file: "pw"))
        #expect(auth.check(connect("alice", "s3cret")) == nil)
        #expect(auth.check(connect("alice", "nope")) == .badUsernameOrPassword)
        #expect(auth.check(connect("alice", nil)) == .badUsernameOrPassword)
        #expect(auth.check(connect("mallory", "s3cret")) == .badUsernameOrPassword)
        #expect(auth.check(connect(nil, nil)) == .notAuthorized)
        let open = Authenticator(allowAnonymous: true, passwords: try PasswordFile(text: Self.file, file: "pw"))
        #expect(open.check(connect(nil, nil)) == nil)
        #expect(open.check(connect("alice", "nope")) == .badUsernameOrPassword)
    }

    /// Each refusal says why, and its CONNACK code is the one check(_:) answers.
    @Test func failureReasons() throws {
        let passwords = try PasswordFile(text: Self.file, file: "pw")
        let auth = Authenticator(allowAnonymous: false, passwords: passwords)
        #expect(auth.authenticate(connect("alice", "s3cret")) == nil)
        #expect(auth.authenticate(connect("alice", "nope")) == .wrongPassword)
        #expect(auth.authenticate(connect("alice", nil)) == .wrongPassword)
        #expect(auth.authenticate(connect("mallory", "s3cret")) == .unknownUser)
        #expect(auth.authenticate(connect("", "s3cret")) == .unknownUser)
        #expect(auth.authenticate(connect(nil, nil)) == .anonymousRefused)
        #expect(auth.authenticate(connect(nil, "s3cret")) == .anonymousRefused)
        let open = Authenticator(allowAnonymous: true, passwords: passwords)
        #expect(open.authenticate(connect(nil, nil)) == nil)
        #expect(open.authenticate(connect("mallory", "x")) == .unknownUser)
        #expect(open.authenticate(connect("bob", "x")) == .wrongPassword)
        // Without a password file a user name is only a label.
        #expect(Authenticator(allowAnonymous: false).authenticate(connect("alice", "s3cret")) == .anonymousRefused)
        #expect(Authenticator(allowAnonymous: true).authenticate(connect("alice", "s3cret")) == nil)

        for failure in [AuthenticationFailure.anonymousRefused, .unknownUser, .wrongPassword] {
            #expect(failure.returnCode == (failure == .anonymousRefused ? .notAuthorized : .badUsernameOrPassword))
        }
        #expect(AuthenticationFailure.unknownUser.returnCode.rawValue == 4)
        #expect(AuthenticationFailure.anonymousRefused.returnCode.rawValue == 5)
        #expect(
            [AuthenticationFailure.anonymousRefused, .unknownUser, .wrongPassword].map(\.description) == [
                "anonymous refused", "unknown user", "wrong password",
            ])
    }

    /// A malformed line is reported with the file and line number.
    @Test func badLineNamesFileAndLine() {
        do {
            _ = try PasswordFile(text: "alice:$7$101$salt\n", file: "/etc/wharf/pw")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("/etc/wharf/pw:1: hash for user 'alice' is not in mosquitto_passwd format"))
        }
    }

    /// The config's password_file is resolved next to the config file.
    @Test func configResolvesRelativePasswordFile() throws {
        let config = try ConfigFileLoader.parse("[auth]\nallow_anonymous = false\npassword_file = \"pw\"", file: "/etc/wharf/wharf.toml")
        #expect(config.passwordFile == "/etc/wharf/pw")
        #expect(!config.allowAnonymous)
    }
}
