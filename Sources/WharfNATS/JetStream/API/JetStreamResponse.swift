import Foundation

/// Turns a JetStream API reply into the expected value or a typed error.
///
/// Every reply is either the expected object or one with an `error` member
/// (`{"type":"...","error":{...}}`). An error reply may also carry fields
/// of the expected type: a refused publish answers
/// `{"error":{...},"stream":"S","seq":0}`, which would decode as a valid
/// `PublishAck` for sequence 0. So `error` is looked at first, always.
public enum JetStreamResponse {
    public static func decode<Value: Decodable>(
        _ type: Value.Type, from json: some Collection<UInt8>
    ) throws(JetStreamError) -> Value {
        let reply: Reply<Value>
        do {
            reply = try JSONDecoder().decode(Reply<Value>.self, from: Data(json))
        } catch {
            throw .decoding(String(describing: error))
        }
        switch reply.outcome {
        case .success(let value): return value
        case .failure(let error): throw .api(error)
        }
    }

    /// `decode` as a `Result`, for callers that switch rather than catch.
    public static func result<Value: Decodable>(
        _ type: Value.Type, from json: some Collection<UInt8>
    ) -> Result<Value, JetStreamError> {
        do throws(JetStreamError) {
            return .success(try decode(type, from: json))
        } catch {
            return .failure(error)
        }
    }
}

/// One parse for both shapes: the `error` member if there is one, otherwise
/// the whole object as `Value`.
private struct Reply<Value: Decodable>: Decodable {
    let outcome: Result<Value, JetStreamAPIError>

    enum CodingKeys: String, CodingKey { case error }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let error = try container.decodeIfPresent(JetStreamAPIError.self, forKey: .error) {
            outcome = .failure(error)
        } else {
            outcome = .success(try Value(from: decoder))
        }
    }
}
