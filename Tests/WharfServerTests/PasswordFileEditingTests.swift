import Foundation
import Testing
import WharfServer
import WharfTestSupport

@Suite struct PasswordFileEditingTests {
    /// Made by `mosquitto_passwd -c -b pw alice s3cret` (the line AuthenticatorTests uses too).
    static let mosquittoAlice =
        "alice:$7$101$JW6A8hWrRA3Z8FDQ$vjyh0Y6/cgXA8xUDf+n1xNzRBb6PYQ7z7L37DOq0UyrnoDN87Y2yqnFfv/R4ZHGQx4CosQly4Ot11udH6AidWA=="

    static let file = """
        # users of the staging broker
        alice:$7$101$JW6A8hWrRA3Z8FDQ$vjyh0Y6/cgXA8xUDf+n1xNzRBb6PYQ7z7L37DOq0UyrnoDN87Y2yqnFfv/R4ZHGQx4CosQly4Ot11udH6AidWA==

        bob:$6$MDEyMzQ1Njc4OWFi$Kgl3AxuVCetFEGDDZOAh44c3ssh9wvPft10MPC9Tjr1rwsIDmYUEICH/zUOFhM8vCQKmMb8nXrQTl7q2T8alUw==
        # carol left
        dave:$7$101$JW6A8hWrRA3Z8FDQ$vjyh0Y6/cgXA8xUDf+n1xNzRBb6PYQ7z7L37DOq0UyrnoDN87Y2yqnFfv/R4ZHGQx4CosQly4Ot11udH6AidWA==

        """

    private func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// With mosquitto_passwd's salt, the hash is byte for byte the one it wrote:
    /// same rounds, same salt length, same base64.
    @Test func matchesMosquittoPasswd() throws {
        let salt = try #require(Data(base64Encoded: "JW6A8hWrRA3Z8FDQ"))
        let hash = PasswordHash(password: Array("s3cret".utf8), salt: Array(salt))
        #expect("alice:" + hash.encoded == Self.mosquittoAlice)
    }

    /// A new hash has Mosquitto's shape and verifies through PasswordFile; a wrong password does not.
    @Test func newHashVerifies() throws {
        let hash = PasswordHash(password: Array("correct horse".utf8))
        #expect(hash.iterations == 101)
        #expect(hash.salt.count == 12)
        #expect(hash.hash.count == 64)
        let parts = hash.encoded.split(separator: "$", omittingEmptySubsequences: false)
        #expect(parts.count == 5 && parts[1] == "7" && parts[2] == "101")
        #expect(parts[3].count == 16 && parts[4].count == 88)
        let passwords = try PasswordFile(text: "erin:\(hash.encoded)\n", file: "pw")
        #expect(passwords.verify(user: "erin", password: Array("correct horse".utf8)))
        #expect(!passwords.verify(user: "erin", password: Array("correct horse ".utf8)))
    }

    /// Each hash gets its own salt, from the generator it is given.
    @Test func saltsDiffer() {
        let password = Array("same".utf8)
        #expect(PasswordHash(password: password).salt != PasswordHash(password: password).salt)
        var a = FuzzRandom(seed: 7)
        var b = FuzzRandom(seed: 7)
        #expect(PasswordHash(password: password, using: &a) == PasswordHash(password: password, using: &b))
    }

    /// Changing a password replaces the user's line where it stands; every other line,
    /// comments and blank lines included, stays as it was.
    @Test func changeKeepsOtherLines() throws {
        let hash = PasswordHash(password: Array("new".utf8))
        let edited = try PasswordFile.setting(user: "bob", to: hash, in: Self.file)
        var expected = lines(Self.file)
        expected[3] = "bob:\(hash.encoded)"
        #expect(lines(edited) == expected)
        let passwords = try PasswordFile(text: edited, file: "pw")
        #expect(passwords.verify(user: "bob", password: Array("new".utf8)))
        #expect(!passwords.verify(user: "bob", password: Array("hunter2".utf8)))
        #expect(passwords.verify(user: "alice", password: Array("s3cret".utf8)))
        #expect(passwords.userCount == 3)
    }

    /// A new user is appended; a file without a final newline gains one first.
    @Test func addAppends() throws {
        let hash = PasswordHash(password: Array("pw".utf8))
        #expect(try PasswordFile.setting(user: "erin", to: hash, in: Self.file) == Self.file + "erin:\(hash.encoded)\n")
        #expect(try PasswordFile.setting(user: "erin", to: hash, in: "# only a comment") == "# only a comment\nerin:\(hash.encoded)\n")
        #expect(try PasswordFile.setting(user: "erin", to: hash, in: "") == "erin:\(hash.encoded)\n")
    }

    /// Lines are matched by the rule the reader uses (surrounding blanks ignored),
    /// and later duplicates of the user go: the reader takes the last line, which
    /// would otherwise keep the old password.
    @Test func matchesLikeTheReaderAndDropsDuplicates() throws {
        let hash = PasswordHash(password: Array("pw".utf8))
        let text = "  alice:old1\nbob:x\n\talice:old2\n"
        #expect(try PasswordFile.setting(user: "alice", to: hash, in: text) == "alice:\(hash.encoded)\nbob:x\n")
        // A comment that looks like a line for the user is still a comment.
        #expect(try PasswordFile.setting(user: "alice", to: hash, in: "#alice:x\n") == "#alice:x\nalice:\(hash.encoded)\n")
    }

    /// Deleting removes the user's lines and nothing else; an absent user is an error.
    @Test func delete() throws {
        let edited = try PasswordFile.deleting(user: "alice", from: Self.file)
        var expected = lines(Self.file)
        expected.remove(at: 1)
        #expect(lines(edited) == expected)
        let passwords = try PasswordFile(text: edited, file: "pw")
        #expect(!passwords.contains(user: "alice"))
        #expect(passwords.contains(user: "bob") && passwords.contains(user: "dave"))
        #expect(try PasswordFile.deleting(user: "a", from: "a:1\nb:2\na:3\n") == "b:2\n")
        #expect(try PasswordFile.deleting(user: "a", from: "a:1") == "")
        #expect(throws: PasswordFileEditError.noSuchUser("carol")) { try PasswordFile.deleting(user: "carol", from: Self.file) }
        #expect(throws: PasswordFileEditError.noSuchUser("Alice")) { try PasswordFile.deleting(user: "Alice", from: Self.file) }
    }

    /// User names that would not be read back as the same user are refused.
    @Test func refusedUserNames() {
        let cases: [(String, PasswordFileEditError)] = [
            ("", .emptyUserName),
            ("a:b", .userNameContainsColon),
            ("a\nb", .userNameContainsControlCharacter),
            ("a\tb", .userNameContainsControlCharacter),
            ("a\u{7F}", .userNameContainsControlCharacter),
            ("a\u{85}", .userNameContainsControlCharacter),
            (" alice", .userNameHasSurroundingSpaces),
            ("alice ", .userNameHasSurroundingSpaces),
            (String(repeating: "x", count: 65536), .userNameTooLong),
        ]
        let hash = PasswordHash(password: Array("pw".utf8), salt: Array(repeating: 0, count: 12))
        for (user, error) in cases {
            #expect(throws: error) { try PasswordFile.checkUserName(user) }
            #expect(throws: error) { try PasswordFile.setting(user: user, to: hash, in: Self.file) }
        }
        for user in ["alice", "an ordinary name", "düsseldorf/sensor-7", "user@example.com", String(repeating: "x", count: 65535)] {
            #expect(throws: Never.self) { try PasswordFile.checkUserName(user) }
        }
    }

    /// Empty passwords and ones Mosquitto would cut at a NUL are refused.
    @Test func refusedPasswords() {
        #expect(throws: PasswordFileEditError.emptyPassword) { try PasswordFile.checkPassword([]) }
        #expect(throws: PasswordFileEditError.passwordContainsNUL) { try PasswordFile.checkPassword([0x61, 0, 0x62]) }
        #expect(throws: Never.self) { try PasswordFile.checkPassword(Array(" ".utf8)) }
    }

    /// The refusals read as sentences a person can act on.
    @Test func messages() {
        #expect(PasswordFileEditError.userNameContainsColon.description.contains("':'"))
        #expect(PasswordFileEditError.emptyPassword.description == "empty passwords are refused")
        #expect(PasswordFileEditError.noSuchUser("carol").description == "user 'carol' is not in the password file")
    }
}
