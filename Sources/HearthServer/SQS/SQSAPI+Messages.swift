import Foundation
import HearthQueues

// SendMessage(Batch), ReceiveMessage, DeleteMessage(Batch), ChangeMessageVisibility(Batch).
extension SQSAPI {
    /// One message of a send to a FIFO (`fifo`) or standard queue.
    func outgoing(_ entry: Body, fifo: Bool) throws -> OutgoingMessage {
        guard let body = entry["MessageBody"] as? String else {
            throw QueueError.missingParameter("The request must contain the parameter MessageBody.")
        }
        if !fifo, entry["MessageGroupId"] != nil || entry["MessageDeduplicationId"] != nil {
            throw QueueError.invalidParameterValue("The request include parameter that is not valid for this queue type")
        }
        let system = try Self.messageAttributes(entry["MessageSystemAttributes"])
        for key in system.keys where key != "AWSTraceHeader" {
            throw QueueError.invalidParameterValue("Message system attribute name '\(key)' is invalid.")
        }
        return OutgoingMessage(body: body, attributes: try Self.messageAttributes(entry["MessageAttributes"]),
                               delaySeconds: try Self.int(entry, "DelaySeconds"), traceHeader: system["AWSTraceHeader"]?.stringValue,
                               groupId: try Self.string(entry, "MessageGroupId"), deduplicationId: try Self.string(entry, "MessageDeduplicationId"))
    }

    static func sent(_ sent: SentMessage, traceHeader: String?) -> [String: Any] {
        var object: [String: Any] = ["MessageId": sent.messageId, "MD5OfMessageBody": sent.md5OfMessageBody]
        if let md5 = sent.md5OfMessageAttributes { object["MD5OfMessageAttributes"] = md5 }
        if let sequence = sent.sequenceNumber { object["SequenceNumber"] = sequence }
        if let traceHeader {
            object["MD5OfMessageSystemAttributes"] = MessageMD5.attributes(["AWSTraceHeader": MessageAttributeValue(dataType: "String", stringValue: traceHeader)])
        }
        return object
    }

    func sendMessage(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let name = try queueName(body)
        let message = try outgoing(body, fifo: try queues.queue(named: name).isFifo)
        let sent = try await queues.send(name, message, senderId: context.senderId)
        return context.json(Self.sent(sent, traceHeader: message.traceHeader))
    }

    func sendMessageBatch(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let name = try queueName(body)
        let entries = try Self.entries(body, kind: "SendMessageBatchRequestEntry")
        let queue = try queues.queue(named: name)
        let limit = queue.maximumMessageSize
        var messages: [(id: String, message: Result<OutgoingMessage, QueueError>)] = []
        var total = 0
        for entry in entries {
            let id = entry["Id"] as! String
            do {
                let message = try outgoing(entry, fifo: queue.isFifo)
                total += MessageRules.size(body: message.body, attributes: message.attributes)
                messages.append((id, .success(message)))
            } catch let error as QueueError {
                messages.append((id, .failure(error)))
            }
        }
        if total > limit {
            throw QueueError.batchRequestTooLong("Batch requests cannot be longer than \(limit) bytes. You have sent \(total) bytes.")
        }
        let valid = messages.compactMap { try? $0.message.get() }
        var results = try await queues.send(name, valid, senderId: context.senderId)[...]
        var successful: [[String: Any]] = [], failed: [[String: Any]] = []
        for (id, message) in messages {
            switch message {
            case .failure(let error): failed.append(SQSShapes.failed(id: id, error))
            case .success(let outgoing):
                switch results.popFirst()! {
                case .success(let sent):
                    var object = Self.sent(sent, traceHeader: outgoing.traceHeader)
                    object["Id"] = id
                    successful.append(object)
                case .failure(let error): failed.append(SQSShapes.failed(id: id, error))
                }
            }
        }
        return context.json(["Successful": successful, "Failed": failed])
    }

    /// System attribute names a receive asks for (`AttributeNames` and `MessageSystemAttributeNames`).
    static let systemAttributes = ["SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp", "AWSTraceHeader",
                                   "DeadLetterQueueSourceArn", "MessageDeduplicationId", "MessageGroupId", "SequenceNumber"]

    func receiveMessage(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let name = try queueName(body)
        let max = try Self.int(body, "MaxNumberOfMessages") ?? 1
        guard (1...10).contains(max) else {
            throw QueueError.invalidParameterValue("Value \(max) for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.")
        }
        let visibility = try Self.int(body, "VisibilityTimeout")
        if let visibility, !(0...43_200).contains(visibility) {
            throw QueueError.invalidParameterValue("Value \(visibility) for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.")
        }
        let wait = try Self.int(body, "WaitTimeSeconds")
        if let wait, !(0...20).contains(wait) {
            throw QueueError.invalidParameterValue("Value \(wait) for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.")
        }
        let asked = Set(try Self.stringList(body, "AttributeNames") + Self.stringList(body, "MessageSystemAttributeNames"))
        let system = asked.contains("All") ? Set(Self.systemAttributes) : asked
        let attributeNames = try Self.stringList(body, "MessageAttributeNames")
        let attemptId = try Self.string(body, "ReceiveRequestAttemptId")
        let received = try await queues.receive(name, max: max, visibilityTimeout: visibility, waitSeconds: wait, attemptId: attemptId)
        let messages = received.map { message in
            Self.message(message, system: system, attributeNames: attributeNames, sourceArn: message.deadLetterSource.map(queues.arn))
        }
        return context.json(messages.isEmpty ? [:] : ["Messages": messages])
    }

    /// One received message with the asked-for system and message attributes; the MD5 of
    /// message attributes covers the ones returned, as SDKs check it.
    /// `sourceArn`: the queue a dead-letter queue's message came from.
    static func message(_ received: ReceivedMessage, system: Set<String>, attributeNames: [String], sourceArn: String? = nil) -> [String: Any] {
        let message = received.message
        var object: [String: Any] = [
            "MessageId": message.messageId, "ReceiptHandle": received.receiptHandle, "MD5OfBody": message.md5OfBody, "Body": message.body,
        ]
        var attributes: [String: String] = [:]
        if system.contains("SenderId") { attributes["SenderId"] = message.senderId }
        if system.contains("SentTimestamp") { attributes["SentTimestamp"] = String(message.sentTimestamp) }
        if system.contains("ApproximateReceiveCount") { attributes["ApproximateReceiveCount"] = String(received.receiveCount) }
        if system.contains("ApproximateFirstReceiveTimestamp") { attributes["ApproximateFirstReceiveTimestamp"] = String(received.firstReceiveTimestamp) }
        if system.contains("AWSTraceHeader"), let trace = message.traceHeader { attributes["AWSTraceHeader"] = trace }
        if system.contains("DeadLetterQueueSourceArn"), let sourceArn { attributes["DeadLetterQueueSourceArn"] = sourceArn }
        if system.contains("MessageGroupId"), let group = message.groupId { attributes["MessageGroupId"] = group }
        if system.contains("MessageDeduplicationId"), let dedup = message.deduplicationId { attributes["MessageDeduplicationId"] = dedup }
        if system.contains("SequenceNumber"), let sequence = message.sequenceNumber { attributes["SequenceNumber"] = sequence }
        if !attributes.isEmpty { object["Attributes"] = attributes }
        let selected = (message.attributes ?? [:]).filter { key, _ in
            attributeNames.contains { wanted in
                wanted == "All" || wanted == ".*" || wanted == key || (wanted.hasSuffix(".*") && key.hasPrefix(String(wanted.dropLast(1))))
            }
        }
        if !selected.isEmpty {
            object["MessageAttributes"] = selected.mapValues(SQSShapes.attribute)
            object["MD5OfMessageAttributes"] = MessageMD5.attributes(selected)
        }
        return object
    }

    func deleteMessage(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let name = try queueName(body)
        let handle = try Self.string(body, "ReceiptHandle", required: true)!
        try await queues.delete(name, receiptHandle: handle)
        return context.json([:])
    }

    func deleteMessageBatch(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let name = try queueName(body)
        let entries = try Self.entries(body, kind: "DeleteMessageBatchRequestEntry")
        let results = try await queues.delete(name, receiptHandles: entries.map { $0["ReceiptHandle"] as? String ?? "" })
        return context.json(Self.batchResult(entries, results))
    }

    func changeMessageVisibility(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let name = try queueName(body)
        let handle = try Self.string(body, "ReceiptHandle", required: true)!
        guard let timeout = try Self.int(body, "VisibilityTimeout") else {
            throw QueueError.missingParameter("The request must contain the parameter VisibilityTimeout.")
        }
        try await queues.changeVisibility(name, receiptHandle: handle, timeout: timeout)
        return context.json([:])
    }

    func changeMessageVisibilityBatch(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let name = try queueName(body)
        let entries = try Self.entries(body, kind: "ChangeMessageVisibilityBatchRequestEntry")
        let results = try await queues.changeVisibility(name, entries: try entries.map {
            (receiptHandle: $0["ReceiptHandle"] as? String ?? "", timeout: try Self.int($0, "VisibilityTimeout") ?? 0)
        })
        return context.json(Self.batchResult(entries, results))
    }

    static func batchResult(_ entries: [Body], _ results: [Result<Void, QueueError>]) -> [String: Any] {
        var successful: [[String: Any]] = [], failed: [[String: Any]] = []
        for (entry, result) in zip(entries, results) {
            let id = entry["Id"] as! String
            switch result {
            case .success: successful.append(["Id": id])
            case .failure(let error): failed.append(SQSShapes.failed(id: id, error))
            }
        }
        return ["Successful": successful, "Failed": failed]
    }
}
