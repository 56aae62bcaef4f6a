// HearthQueues: a queue's identity and attributes, validated as SQS validates them.
import Foundation

/// The kinds of ledger items the queue service owns.
public enum QueueLedgerKind {
    /// One SQS message; its ledger queue is the SQS queue's name.
    public static let message = "sqs.message"
}

/// A queue as stored: the attributes set on it (normalised strings, as SQS returns them), its
/// tags and its times. Defaults are not stored; `attribute(_:)` supplies them.
public struct QueueRecord: Sendable, Equatable, Codable {
    public var name: String
    public var attributes: [String: String]
    public var tags: [String: String]
    /// Unix epoch milliseconds.
    public var createdAt: Int64
    public var modifiedAt: Int64
    /// The last PurgeQueue (SQS allows one a minute).
    public var purgedAt: Int64?

    public init(name: String, attributes: [String: String] = [:], tags: [String: String] = [:], createdAt: Int64, modifiedAt: Int64,
                purgedAt: Int64? = nil) {
        self.name = name
        self.attributes = attributes
        self.tags = tags
        self.createdAt = createdAt
        self.modifiedAt = modifiedAt
        self.purgedAt = purgedAt
    }

    /// An attribute's value, its default when not set.
    public func attribute(_ name: String) -> String? {
        attributes[name] ?? QueueAttributes.defaults[name] ?? (isFifo ? QueueAttributes.fifoDefaults[name] : nil)
    }

    public func int(_ name: String) -> Int { Int(attribute(name) ?? "") ?? 0 }

    public var visibilityTimeout: Int { int(QueueAttributes.visibilityTimeout) }
    public var retentionSeconds: Int { int(QueueAttributes.messageRetentionPeriod) }
    public var delaySeconds: Int { int(QueueAttributes.delaySeconds) }
    public var waitTimeSeconds: Int { int(QueueAttributes.receiveMessageWaitTimeSeconds) }
    public var maximumMessageSize: Int { int(QueueAttributes.maximumMessageSize) }
    public var redrivePolicy: RedrivePolicy? { attributes[QueueAttributes.redrivePolicy].flatMap { try? RedrivePolicy(parsing: $0) } }

    /// A FIFO queue (its name ends in `.fifo`, and it was created with FifoQueue=true).
    public var isFifo: Bool { attributes[QueueAttributes.fifoQueue] == "true" }
    public var contentBasedDeduplication: Bool { isFifo && attribute(QueueAttributes.contentBasedDeduplication) == "true" }
    /// Deduplication per message group (DeduplicationScope=messageGroup) rather than per queue.
    public var deduplicatesPerGroup: Bool { isFifo && attribute(QueueAttributes.deduplicationScope) == "messageGroup" }
}

/// A queue's RedrivePolicy: where messages go after `maxReceiveCount` receives.
public struct RedrivePolicy: Sendable, Equatable {
    public var deadLetterTargetArn: String
    public var maxReceiveCount: Int

    public init(deadLetterTargetArn: String, maxReceiveCount: Int) {
        self.deadLetterTargetArn = deadLetterTargetArn
        self.maxReceiveCount = maxReceiveCount
    }

    /// `{"deadLetterTargetArn":"arn:…","maxReceiveCount":"5"}` (the count as a string or a number).
    public init(parsing text: String) throws {
        let invalid = QueueError.invalidAttributeValue("Value \(text) for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map.")
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { throw invalid }
        guard let arn = object["deadLetterTargetArn"] as? String else {
            throw QueueError.invalidAttributeValue("Value \(text) for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
        }
        let count: Int?
        switch object["maxReceiveCount"] {
        case let s as String: count = Int(s)
        case let n as NSNumber: count = n.intValue
        default: count = nil
        }
        guard let count else {
            throw QueueError.invalidAttributeValue("Value \(text) for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: maxReceiveCount.")
        }
        guard (1...1000).contains(count) else {
            throw QueueError.invalidAttributeValue("Value \(text) for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: \(count), valid values are from 1 to 1000 both inclusive.")
        }
        deadLetterTargetArn = arn
        maxReceiveCount = count
    }

    /// As SQS returns it: `{"deadLetterTargetArn":"…","maxReceiveCount":5}`.
    public var json: String {
        "{\"deadLetterTargetArn\":\"\(deadLetterTargetArn)\",\"maxReceiveCount\":\(maxReceiveCount)}"
    }
}

/// SQS's queue attribute names, defaults and ranges.
public enum QueueAttributes {
    public static let visibilityTimeout = "VisibilityTimeout"
    public static let messageRetentionPeriod = "MessageRetentionPeriod"
    public static let delaySeconds = "DelaySeconds"
    public static let receiveMessageWaitTimeSeconds = "ReceiveMessageWaitTimeSeconds"
    public static let maximumMessageSize = "MaximumMessageSize"
    public static let redrivePolicy = "RedrivePolicy"
    public static let redriveAllowPolicy = "RedriveAllowPolicy"
    public static let policy = "Policy"
    public static let fifoQueue = "FifoQueue"
    public static let contentBasedDeduplication = "ContentBasedDeduplication"
    public static let deduplicationScope = "DeduplicationScope"
    public static let fifoThroughputLimit = "FifoThroughputLimit"

    /// Hearth's message size ceiling: AWS's newer 1 MiB limit (256 KiB stays the default).
    public static let maxMessageSizeLimit = 1_048_576

    /// Settable integer attributes and their ranges (SQS's).
    public static let ranges: [String: ClosedRange<Int>] = [
        visibilityTimeout: 0...43_200,
        messageRetentionPeriod: 60...1_209_600,
        delaySeconds: 0...900,
        receiveMessageWaitTimeSeconds: 0...20,
        maximumMessageSize: 1024...maxMessageSizeLimit,
    ]

    public static let defaults: [String: String] = [
        visibilityTimeout: "30",
        messageRetentionPeriod: "345600",
        delaySeconds: "0",
        receiveMessageWaitTimeSeconds: "0",
        maximumMessageSize: "262144",
        "SqsManagedSseEnabled": "true",
    ]

    /// Accepted and stored as given, with no effect on Hearth (encryption, policies).
    public static let passive: Set<String> = [policy, "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"]

    /// FIFO-only attributes: a standard queue knows none of them (`Unknown Attribute`).
    public static let fifoOnly: [String] = [fifoQueue, contentBasedDeduplication, deduplicationScope, fifoThroughputLimit]

    /// A FIFO queue's defaults for them (FifoQueue itself is always stored).
    public static let fifoDefaults: [String: String] = [
        contentBasedDeduplication: "false", deduplicationScope: "queue", fifoThroughputLimit: "perQueue",
    ]

    /// Read-only attributes GetQueueAttributes computes.
    public static let computed: [String] = [
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
        "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
    ]

    /// Every name GetQueueAttributes knows, in SQS's order for `All`.
    public static let all: [String] = [
        policy, visibilityTimeout, maximumMessageSize, messageRetentionPeriod, "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
        "ApproximateNumberOfMessagesDelayed", delaySeconds, receiveMessageWaitTimeSeconds, redrivePolicy, redriveAllowPolicy,
        "SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
    ]

    /// Validates one settable attribute of a FIFO (`fifo`) or standard queue, returning its
    /// normalised value ("" for RedrivePolicy or RedriveAllowPolicy removes it). `queueExists`
    /// checks a dead-letter target. FifoQueue itself is CreateQueue's (`checkName`).
    public static func validate(_ name: String, _ value: String, fifo: Bool, queueExists: (String) -> Bool) throws -> String {
        if fifoOnly.contains(name) {
            guard fifo, name != fifoQueue else { throw QueueError.invalidAttributeName("Unknown Attribute \(name).") }
            let allowed: [String] = switch name {
            case contentBasedDeduplication: ["true", "false"]
            case deduplicationScope: ["queue", "messageGroup"]
            default: ["perQueue", "perMessageGroupId"]
            }
            guard allowed.contains(value) else { throw QueueError.invalidAttributeValue("Invalid value for the parameter \(name).") }
            return value
        }
        if let range = ranges[name] {
            guard let n = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(n) else {
                throw QueueError.invalidAttributeValue("Invalid value for the parameter \(name).")
            }
            return String(n)
        }
        switch name {
        case redrivePolicy:
            if value.isEmpty { return "" }
            let policy = try RedrivePolicy(parsing: value)
            guard queueExists(policy.deadLetterTargetArn) else {
                throw QueueError.invalidAttributeValue("Value \(value) for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.")
            }
            guard policy.deadLetterTargetArn.hasSuffix(".fifo") == fifo else {
                throw QueueError.invalidParameterValue("Value \(value) for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source..")
            }
            return policy.json
        case redriveAllowPolicy:
            if value.isEmpty { return "" }
            guard let object = try? JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any],
                  let permission = object["redrivePermission"] as? String, ["allowAll", "denyAll", "byQueue"].contains(permission) else {
                throw QueueError.invalidAttributeValue("Value \(value) for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS can't create the redrive allow policy, as it’s in an unsupported format.")
            }
            return value
        case "SqsManagedSseEnabled":
            guard value == "true" || value == "false" else { throw QueueError.invalidAttributeValue("Invalid value for the parameter SqsManagedSseEnabled.") }
            return value
        default:
            if passive.contains(name) { return value }
            throw QueueError.invalidAttributeName("Unknown Attribute \(name).")
        }
    }

    /// SQS's queue names: 1-80 of `[A-Za-z0-9_-]`; a FIFO queue's (FifoQueue=true) ends in
    /// `.fifo`, which counts toward the 80, and only a FIFO queue's may. FifoQueue is `true` or
    /// absent: `false` is an unknown attribute, as on SQS.
    public static func checkName(_ name: String, fifoAttribute: String?) throws {
        if let fifoAttribute, fifoAttribute != "true" {
            if fifoAttribute == "false" { throw QueueError.invalidAttributeName("Unknown Attribute FifoQueue.") }
            throw QueueError.invalidAttributeValue("Invalid value for the parameter FifoQueue.")
        }
        let fifo = fifoAttribute == "true"
        let base = fifo && name.hasSuffix(".fifo") ? String(name.dropLast(5)) : name
        let ok = (1...80).contains(name.count) && !base.isEmpty && base.unicodeScalars.allSatisfy {
            ("0"..."9").contains($0) || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || $0 == "-" || $0 == "_"
        }
        if fifo && (!ok || !name.hasSuffix(".fifo")) {
            throw QueueError.invalidParameterValue("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
        }
        guard ok else {
            throw QueueError.invalidParameterValue("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
        }
    }

    /// FifoThroughputLimit=perMessageGroupId needs DeduplicationScope=messageGroup (SQS's rule;
    /// the message is Hearth's).
    public static func checkThroughput(_ attributes: [String: String]) throws {
        if attributes[fifoThroughputLimit] == "perMessageGroupId" && (attributes[deduplicationScope] ?? "queue") != "messageGroup" {
            throw QueueError.invalidAttributeValue("Invalid value for the parameter FifoThroughputLimit. Reason: The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup.")
        }
    }
}
