// HearthQueues: SQS FIFO queues: message groups, deduplication, sequence numbers, receive attempts.
import Crypto
import Foundation
import HearthEvents

/// A FIFO receive remembered by its ReceiveRequestAttemptId (in memory: it serves a client's
/// retry of a receive whose answer it lost, not a restart).
struct ReceiveAttempt: Sendable {
    var messages: [ReceivedMessage]
    var at: Int64
}

extension QueueService {
    /// SQS's deduplication interval.
    public static let deduplicationIntervalMs: Int64 = 5 * 60 * 1000

    /// MessageGroupId, MessageDeduplicationId and ReceiveRequestAttemptId: 1-128 of
    /// alphanumerics and punctuation.
    static func checkFifoToken(_ value: String, _ parameter: String) throws {
        let ok = (1...128).contains(value.count) && value.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0.value < 0x7f }
        guard ok else {
            throw QueueError.invalidParameterValue("Value \(value) for parameter \(parameter) is invalid. Reason: \(parameter) can only include alphanumeric and punctuation characters. 1 to 128 in length.")
        }
    }

    /// A FIFO message's own rules: a group, a deduplication id (or content-based), no delay of
    /// its own (the queue's applies).
    func checkFifo(_ message: OutgoingMessage, queue: QueueRecord, into stored: inout StoredMessage) throws {
        if let delay = message.delaySeconds {
            throw QueueError.invalidParameterValue("Value \(delay) for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.")
        }
        guard let group = message.groupId else {
            throw QueueError.missingParameter("The request must contain the parameter MessageGroupId.")
        }
        try Self.checkFifoToken(group, "MessageGroupId")
        let dedup: String
        if let given = message.deduplicationId {
            try Self.checkFifoToken(given, "MessageDeduplicationId")
            dedup = given
        } else if queue.contentBasedDeduplication {
            dedup = SHA256.hash(data: Array(message.body.utf8)).map { String(format: "%02x", $0) }.joined()
        } else {
            throw QueueError.invalidParameterValue("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
        }
        stored.groupId = group
        stored.deduplicationId = dedup
    }

    /// The ledger's sequence as SQS shows it: a 20-digit decimal (10^19 + the sequence, which
    /// starts from the clock in microseconds-like units and only grows per queue).
    public static func sequenceNumber(_ sequence: Int64) -> String {
        String(UInt64(10_000_000_000_000_000_000 as UInt64) + UInt64(max(0, sequence)))
    }

    /// SendMessage(Batch) on a FIFO queue: each valid message is added with its deduplication
    /// record and sequence number in one transaction; a duplicate within 5 minutes is answered
    /// with the first one's MessageId and SequenceNumber and not added again.
    func sendFifo(_ queue: QueueRecord, _ messages: [OutgoingMessage], senderId: String) async throws -> [Result<SentMessage, QueueError>] {
        guard ledger.backend is any GroupedLedgerBackend else {
            throw QueueError.internalError("this ledger's storage has no FIFO queues")
        }
        let now = clock.nowMs()
        var results: [Result<SentMessage, QueueError>] = []
        var adds: [LedgerGroupedAdd] = []
        var positions: [Int] = []
        for message in messages {
            do {
                let (stored, dueAt) = try stored(message, queue: queue, senderId: senderId, now: now)
                let group = stored.groupId!, dedup = stored.deduplicationId!
                let key = queue.deduplicatesPerGroup ? "g:\(group)\n\(dedup)" : "q:\(dedup)"
                let item = NewLedgerItem(kind: QueueLedgerKind.message, queue: queue.name, payload: [], dueAt: dueAt, createdAt: now)
                adds.append(LedgerGroupedAdd(item: item, group: group, dedupKey: key, dedupUntil: now + Self.deduplicationIntervalMs,
                                             messageId: stored.messageId) { sequence in
                    var document = stored
                    document.sequenceNumber = Self.sequenceNumber(sequence)
                    return document.encoded()
                })
                positions.append(results.count)
                results.append(.success(SentMessage(messageId: stored.messageId, md5OfMessageBody: stored.md5OfBody,
                                                    md5OfMessageAttributes: stored.md5OfMessageAttributes)))
            } catch let error as QueueError {
                results.append(.failure(error))
            }
        }
        guard !adds.isEmpty else { return results }
        let outcomes: [LedgerGroupedAdd.Outcome]
        do {
            outcomes = try await ledger.read { [adds] in try ($0 as! any GroupedLedgerBackend).addGrouped(adds, now: now) }
        } catch { throw QueueError.internalError("\(error)") }
        var added = 0
        for (position, outcome) in zip(positions, outcomes) {
            guard case .success(var sent) = results[position] else { continue }
            switch outcome {
            case .added(_, let sequence):
                sent.sequenceNumber = Self.sequenceNumber(sequence)
                added += 1
            case .duplicate(let messageId, let sequence):
                sent.messageId = messageId
                sent.sequenceNumber = Self.sequenceNumber(sequence)
            }
            results[position] = .success(sent)
        }
        counters.add(queue.name, "sent", added)
        counters.add(queue.name, "deduplicated", outcomes.count - added)
        if added > 0 { ledger.wake(QueueLedgerKind.message) }
        return results
    }

    // MARK: ReceiveRequestAttemptId

    /// The messages an earlier receive with `attemptId` got that it still holds, their
    /// visibility restarted (SQS: "If a retry occurs within the deduplication interval, it
    /// resets the visibility timeout"); nil when there is none to repeat.
    func repeatedReceive(_ queue: QueueRecord, attemptId: String, visibilityTimeout: Int?) async throws -> [ReceivedMessage]? {
        try Self.checkFifoToken(attemptId, "ReceiveRequestAttemptId")
        let now = clock.nowMs()
        let key = queue.name + "\n" + attemptId
        guard let attempt = receiveAttempts.withLock({ $0[key] }), now - attempt.at < Self.deduplicationIntervalMs else { return nil }
        let until = now + Int64(visibilityTimeout ?? queue.visibilityTimeout) * 1000
        var held: [ReceivedMessage] = []
        for message in attempt.messages {
            guard let handle = try? ReceiptHandle(parsing: message.receiptHandle, queue: queue.name) else { continue }
            let still = (try? await ledger.read {
                try $0.changeLease(kind: QueueLedgerKind.message, id: handle.id, owner: handle.owner, until: until, now: now)
            }) ?? false
            if still { held.append(message) }
        }
        return held.isEmpty ? nil : held
    }

    func remember(queue: String, attemptId: String, _ messages: [ReceivedMessage]) {
        guard !messages.isEmpty else { return }
        let now = clock.nowMs()
        receiveAttempts.withLock { all in
            all = all.filter { now - $0.value.at < Self.deduplicationIntervalMs }
            all[queue + "\n" + attemptId] = ReceiveAttempt(messages: messages, at: now)
        }
    }
}
