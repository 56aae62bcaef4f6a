// HearthQueues: the event a queue's mapping invokes a function with, and its partial-batch answer.
import Foundation
import HearthEvents

/// Lambda's SQS event (`{"Records":[…]}`), exactly as Lambda sends it: every attribute value a
/// string, timestamps in milliseconds, `messageAttributes` entries with empty list members.
public enum SQSEvent {
    public static func record(_ received: ReceivedMessage, queueARN: String, region: String) -> [String: Any] {
        let message = received.message
        var attributes: [String: Any] = [
            "ApproximateReceiveCount": String(received.receiveCount),
            "SentTimestamp": String(message.sentTimestamp),
            "SenderId": message.senderId,
            "ApproximateFirstReceiveTimestamp": String(received.firstReceiveTimestamp),
        ]
        if let trace = message.traceHeader { attributes["AWSTraceHeader"] = trace }
        if let sequence = message.sequenceNumber { attributes["SequenceNumber"] = sequence }
        if let group = message.groupId { attributes["MessageGroupId"] = group }
        if let dedup = message.deduplicationId { attributes["MessageDeduplicationId"] = dedup }
        if let source = received.deadLetterSource {
            // The queue it was redriven from: the same region and account as this one.
            attributes["DeadLetterQueueSourceArn"] = queueARN.split(separator: ":", omittingEmptySubsequences: false).dropLast().joined(separator: ":") + ":" + source
        }
        var messageAttributes: [String: Any] = [:]
        for (name, value) in message.attributes ?? [:] {
            var entry: [String: Any] = ["stringListValues": [String](), "binaryListValues": [String](), "dataType": value.dataType]
            if let string = value.stringValue { entry["stringValue"] = string }
            if let binary = value.binaryValue { entry["binaryValue"] = binary.base64EncodedString() }
            messageAttributes[name] = entry
        }
        var record: [String: Any] = [
            "messageId": message.messageId,
            "receiptHandle": received.receiptHandle,
            "body": message.body,
            "attributes": attributes,
            "messageAttributes": messageAttributes,
            "md5OfBody": message.md5OfBody,
            "eventSource": "aws:sqs",
            "eventSourceARN": queueARN,
            "awsRegion": region,
        ]
        if let md5 = message.md5OfMessageAttributes { record["md5OfMessageAttributes"] = md5 }
        return record
    }

    /// The messages of a batch that stay on the queue after a partial-batch response reported
    /// `failed`: those, and on a FIFO queue every later message of a failed one's group too (its
    /// order must hold: they come back together after the visibility timeout).
    public static func kept(_ batch: [ReceivedMessage], failed: Set<String>) -> Set<String> {
        var kept = failed
        var stopped = Set<String>()
        for received in batch {
            let message = received.message
            guard let group = message.groupId else { continue }
            if stopped.contains(group) { kept.insert(message.messageId) }
            if failed.contains(message.messageId) { stopped.insert(group) }
        }
        return kept
    }

    /// The event for a batch (JSON bytes).
    public static func event(_ batch: [ReceivedMessage], queueARN: String, region: String) -> [UInt8] {
        let object: [String: Any] = ["Records": batch.map { record($0, queueARN: queueARN, region: region) }]
        return JSONText.data(object, fallback: "{\"Records\":[]}")
    }

    /// A function's answer with `ReportBatchItemFailures`: nil for a complete failure (invalid
    /// JSON, a bad key, an empty, null or unknown `itemIdentifier`), otherwise the message ids
    /// to keep (empty: complete success, as are an empty, `null` or empty-list response).
    public static func failedItems(response: [UInt8], batchIds: Set<String>) -> Set<String>? {
        let trimmed = String(decoding: response, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty || trimmed == "null" { return [] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed]) else { return nil }
        guard let dictionary = object as? [String: Any] else {
            // A response that is not an object (a string, a number, a list) is no partial-batch
            // response: Lambda treats it as success.
            return []
        }
        guard let failures = dictionary["batchItemFailures"] else { return [] }
        if failures is NSNull { return [] }
        guard let list = failures as? [Any] else { return nil }
        var ids = Set<String>()
        for entry in list {
            guard let entry = entry as? [String: Any], let id = entry["itemIdentifier"] as? String, !id.isEmpty, batchIds.contains(id) else {
                return nil
            }
            ids.insert(id)
        }
        return ids
    }
}
