import Testing

@testable import WharfNATS

@Suite struct JetStreamAPIErrorTests {
    /// The decoded error of a reply the server refused.
    private func apiError<Value: Decodable>(_ type: Value.Type, _ json: String) -> JetStreamAPIError? {
        do {
            _ = try decodeReply(type, json)
            return nil
        } catch {
            return error.apiError
        }
    }

    @Test func decodesTheErrorObject() throws {
        let error = try #require(apiError(StreamInfo.self, ServerReplies.streamInfoNotFound))
        #expect(error == JetStreamAPIError(code: 404, errorCode: .streamNotFound, text: "stream not found"))
        #expect(error.isStreamNotFound)
        #expect(error.description == "stream not found (code 404, err_code 10059)")
    }

    @Test func codesAreThoseOfServer2_9_10() {
        #expect(JetStreamErrorCode.streamWrongLastSequence.rawValue == 10071)
        #expect(JetStreamErrorCode.streamStoreFailed.rawValue == 10077)
        #expect(JetStreamErrorCode.storageResourcesExceeded.rawValue == 10047)
        #expect(JetStreamErrorCode.streamNameInUse.rawValue == 10058)
        #expect(JetStreamErrorCode.streamNotFound.rawValue == 10059)
        #expect(JetStreamErrorCode.consumerNotFound.rawValue == 10014)
        #expect(JetStreamErrorCode.noMessageFound.rawValue == 10037)
        #expect(JetStreamErrorCode.consumerNameExists.rawValue == 10013)
        #expect(JetStreamErrorCode.consumerAlreadyExists.rawValue == 10148)
    }

    @Test func wrongLastSequenceIsACompareAndSetLoss() throws {
        let error = try #require(apiError(PublishAck.self, ServerReplies.publishWrongLastSequence))
        #expect(error.code == 400)
        #expect(error.errorCode == .streamWrongLastSequence)
        #expect(error.isWrongLastSequence)
        #expect(!error.isStoreFailure)
    }

    @Test func storeFailuresAreToldApartByTheirText() throws {
        let perSubject = try #require(apiError(PublishAck.self, ServerReplies.publishMaxMessagesPerSubject))
        #expect(perSubject.code == 503)
        #expect(perSubject.isStoreFailure)
        #expect(perSubject.isMaximumMessagesPerSubjectExceeded)
        #expect(!perSubject.isMaximumBytesExceeded)

        let bytes = try #require(apiError(PublishAck.self, ServerReplies.publishMaxBytes))
        #expect(bytes.errorCode == .streamStoreFailed)
        #expect(bytes.isMaximumBytesExceeded)
        #expect(!bytes.isMaximumMessagesPerSubjectExceeded)
        #expect(!bytes.isMaximumMessagesExceeded)
    }

    @Test func otherRefusalsOfThePublishPath() throws {
        let wrongStream = try #require(apiError(PublishAck.self, ServerReplies.publishWrongStream))
        #expect(wrongStream.errorCode == .streamNotMatch)
    }

    @Test func streamAndConsumerRefusals() throws {
        let inUse = try #require(apiError(StreamInfo.self, ServerReplies.streamCreateDifferent))
        #expect(inUse.isStreamNameInUse)
        #expect(inUse.code == 400)

        let missingConsumer = try #require(apiError(ConsumerInfo.self, ServerReplies.consumerInfoNotFound))
        #expect(missingConsumer.isConsumerNotFound)
        #expect(missingConsumer.code == 404)

        let noMessage = try #require(apiError(StreamMessageGetResponse.self, ServerReplies.messageGetNotFound))
        #expect(noMessage.isNoMessageFound)

        let deleted = try #require(apiError(StreamDeleteResponse.self, ServerReplies.streamDeleteNotFound))
        #expect(deleted.isStreamNotFound)

        let oldForm = try #require(apiError(ConsumerInfo.self, ServerReplies.consumerCreateDurableOldForm))
        #expect(oldForm.errorCode == .consumerEphemeralWithDurableName)

        let changed = try #require(apiError(ConsumerInfo.self, ServerReplies.consumerCreateChanged))
        #expect(changed.errorCode == .consumerCreate)
        #expect(changed.text == "ack policy can not be updated")
        #expect(changed.isConsumerConflict)

        let mismatch = try #require(apiError(ConsumerInfo.self, ServerReplies.consumerCreateFilterMismatch))
        #expect(mismatch.errorCode == .consumerCreateFilterSubjectMismatch)

        let storage = try #require(apiError(StreamInfo.self, ServerReplies.streamUpdateStorage))
        #expect(storage.errorCode == .streamInvalidConfig)

        let window = try #require(apiError(StreamInfo.self, ServerReplies.streamCreateBadDuplicateWindow))
        #expect(window.errorCode == .streamInvalidConfig)
        #expect(window.code == 500)
    }

    @Test func noRoomReadsAsInsufficientResourcesClusteredOrNot() throws {
        let clustered = try #require(apiError(StreamInfo.self, ServerReplies.streamCreateNoRoom))
        #expect(clustered.errorCode == .clusterNoPeers)
        #expect(clustered.isInsufficientResources)

        let single = try #require(apiError(StreamInfo.self, ServerReplies.singleServerCreateNoRoom))
        #expect(single.errorCode == .storageResourcesExceeded)
        #expect(single.isInsufficientResources)

        let tooFewServers = JetStreamAPIError(code: 400, errorCode: .clusterNoPeers, text: "no suitable peers for placement")
        #expect(!tooFewServers.isInsufficientResources)
    }

    @Test func missingErrCodeAndDescriptionDecodeAsEmpty() throws {
        let error = try #require(apiError(PublishAck.self, #"{"error":{"code":503}}"#))
        #expect(error.errorCode == .none)
        #expect(error.text.isEmpty)
        #expect(try roundTrip(error) == error)
    }

    @Test func errorRoundTrips() throws {
        let error = JetStreamAPIError(code: 400, errorCode: .streamWrongLastSequence, text: "wrong last sequence: 2")
        #expect(try encodedRequest(error) == #"{"code":400,"description":"wrong last sequence: 2","err_code":10071}"#)
        #expect(try roundTrip(error) == error)
    }
}

@Suite struct JetStreamAPIResponseTests {
    @Test func anErrorWinsOverFieldsOfTheExpectedType() {
        // The refused publish also has "stream" and "seq":0, a valid PublishAck shape.
        let result = JetStreamResponse.result(PublishAck.self, from: Array(ServerReplies.publishWrongLastSequence.utf8))
        guard case .failure(.api(let error)) = result else {
            Issue.record("expected an API error, got \(result)")
            return
        }
        #expect(error.isWrongLastSequence)
    }

    @Test func successIsTheValue() {
        let result = JetStreamResponse.result(PublishAck.self, from: Array(ServerReplies.publishAck.utf8))
        #expect(result == .success(PublishAck(stream: "WHARF_Q_0", sequence: 1)))
    }

    @Test func undecodableRepliesAreDecodingErrors() {
        for text in ["", "not json", "[]", #"{"stream":"S"}"#, #"{"error":"flat"}"#, #"{"error":{"description":"no code"}}"#] {
            #expect {
                _ = try decodeReply(PublishAck.self, text)
            } throws: { error in
                guard let error = error as? JetStreamError, case .decoding = error else { return false }
                return true
            }
        }
    }

    @Test func connectionErrorsDescribeThemselves() {
        #expect(JetStreamError.timeout.description == "JetStream request timed out")
        #expect(JetStreamError.noResponders.apiError == nil)
        let api = JetStreamError.api(JetStreamAPIError(code: 404, errorCode: .streamNotFound, text: "stream not found"))
        #expect(api.apiError?.isStreamNotFound == true)
        #expect(api.description.contains("10059"))
    }
}
