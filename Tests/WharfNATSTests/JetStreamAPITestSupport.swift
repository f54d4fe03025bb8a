import Foundation
import Testing

@testable import WharfNATS

/// Decodes a reply the way the client will: through `JetStreamResponse`.
func decodeReply<Value: Decodable>(_ type: Value.Type, _ json: String) throws(JetStreamError) -> Value {
    try JetStreamResponse.decode(type, from: Array(json.utf8))
}

/// A request body as text, in the client's one encoding.
func encodedRequest(_ value: some Encodable) throws -> String {
    String(decoding: try JetStreamRequest.encode(value), as: UTF8.self)
}

/// Encodes then decodes, to check that a type survives its own JSON.
func roundTrip<Value: Codable>(_ value: Value) throws -> Value {
    try JSONDecoder().decode(Value.self, from: JetStreamRequest.encode(value))
}

/// The JSON object of a text, for comparing members regardless of order.
func jsonObject(_ text: String) throws -> NSDictionary {
    try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary)
}
