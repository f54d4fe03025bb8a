import Foundation

/// The JSON of a request body, in one consistent form: keys sorted so the
/// same config is always the same bytes (easy to log and compare), and `/`
/// left unescaped.
public enum JetStreamRequest {
    public static func encode(_ value: some Encodable) throws(JetStreamError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value)
        } catch {
            throw .encoding(String(describing: error))
        }
    }
}
