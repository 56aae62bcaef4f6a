// HearthQueues: sending, receiving, deleting and hiding messages.
import Foundation
import HearthEvents

/// A message to send.
public struct OutgoingMessage: Sendable, Equatable {
    public var body: String
    public var attributes: [String: MessageAttributeValue]
    /// Overrides the queue's DelaySeconds (0-900).
    public var delaySeconds: Int?
    public var traceHeader: String?
    /// FIFO queues: MessageGroupId (required) and MessageDeduplicationId (required unless the
    /// queue has ContentBasedDeduplication).
    public var groupId: String?
    public var deduplicationId: String?

    public init(body: String, attributes: [String: MessageAttributeValue] = [:], delaySeconds: Int? = nil, traceHeader: String? = nil,
                groupId: String? = nil, deduplicationId: String? = nil) {
        self.body = body
        self.attributes = attributes
        self.delaySeconds = delaySeconds
        self.traceHeader = traceHeader
        self.groupId = groupId
        self.deduplicationId = deduplicationId
    }
}

/// What SendMessage answers.
public struct SentMessage: Sendable, Equatable {
    public var messageId: String
    public var md5OfMessageBody: String
    public var md5OfMessageAttributes: String?
    /// FIFO queues: the message's sequence number (the first one's, for a duplicate).
    public var sequenceNumber: String? = nil
}

/// One received message.
public struct ReceivedMessage: Sendable, Equatable {
    public var message: StoredMessage
    public var receiptHandle: String
    public var receiveCount: Int
    public var firstReceiveTimestamp: Int64
    public var queue: String
    /// The queue a dead-letter queue's message was redriven from (SQS's DeadLetterQueueSourceArn).
    public var deadLetterSource: String? = nil
}

/// A receipt handle: which item, and the token of the receive that leased it (the lease's
/// owner). Each receive has a new token, so an older handle no longer holds the lease.
public struct ReceiptHandle: Sendable, Equatable {
    public var queue: String
    public var id: Int64
    public var owner: String

    public init(queue: String, id: Int64, owner: String) {
        self.queue = queue
        self.id = id
        self.owner = owner
    }

    public var encoded: String {
        Data("hearth1 \(queue) \(id) \(owner)".utf8).base64EncodedString()
    }

    /// Decodes `text` as a handle of `queue`; `ReceiptHandleIsInvalid` otherwise.
    public init(parsing text: String, queue: String) throws {
        let invalid = QueueError.receiptHandleIsInvalid("The input receipt handle \"\(text)\" is not a valid receipt handle.")
        guard let data = Data(base64Encoded: text) else { throw invalid }
        let parts = String(decoding: data, as: UTF8.self).split(separator: " ")
        guard parts.count == 4, parts[0] == "hearth1", let id = Int64(parts[2]), parts[3].hasPrefix(LedgerLease.clientPrefix) else { throw invalid }
        guard parts[1] == queue else { throw invalid }
        self.init(queue: queue, id: id, owner: String(parts[3]))
    }

    static func newOwner() -> String {
        LedgerLease.clientPrefix + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }
}

extension QueueService {
    // MARK: send

    /// Validates one message for `queue` and makes its ledger item.
    func item(for message: OutgoingMessage, queue: QueueRecord, senderId: String, now: Int64) throws -> (NewLedgerItem, SentMessage) {
        let (stored, dueAt) = try stored(message, queue: queue, senderId: senderId, now: now)
        let item = NewLedgerItem(kind: QueueLedgerKind.message, queue: queue.name, payload: stored.encoded(), dueAt: dueAt, createdAt: now)
        return (item, SentMessage(messageId: stored.messageId, md5OfMessageBody: stored.md5OfBody,
                                  md5OfMessageAttributes: stored.md5OfMessageAttributes))
    }

    /// Validates one message for `queue`: its stored document and due time.
    func stored(_ message: OutgoingMessage, queue: QueueRecord, senderId: String, now: Int64) throws -> (StoredMessage, Int64) {
        try MessageRules.checkBody(message.body)
        try MessageRules.checkAttributes(message.attributes)
        let size = MessageRules.size(body: message.body, attributes: message.attributes)
        if size > queue.maximumMessageSize {
            throw QueueError.invalidParameterValue("One or more parameters are invalid. Reason: Message must be shorter than \(queue.maximumMessageSize) bytes.")
        }
        if let delay = message.delaySeconds, !(0...900).contains(delay) {
            throw QueueError.invalidParameterValue("Value \(delay) for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.")
        }
        var stored = StoredMessage(messageId: UUID().uuidString.lowercased(), body: message.body, attributes: message.attributes,
                                   traceHeader: message.traceHeader, senderId: senderId, sentTimestamp: now)
        if queue.isFifo { try checkFifo(message, queue: queue, into: &stored) }
        let delay = Int64(message.delaySeconds ?? queue.delaySeconds) * 1000
        return (stored, now + delay)
    }

    /// SendMessageBatch (and SendMessage, a batch of one): each message valid on its own is
    /// committed durably (group-committed with other senders) before this returns.
    public func send(_ name: String, _ messages: [OutgoingMessage], senderId: String) async throws -> [Result<SentMessage, QueueError>] {
        let queue = try queue(named: name)
        if queue.isFifo { return try await sendFifo(queue, messages, senderId: senderId) }
        let now = clock.nowMs()
        var results: [Result<SentMessage, QueueError>] = []
        var items: [NewLedgerItem] = []
        for message in messages {
            do {
                let (item, sent) = try item(for: message, queue: queue, senderId: senderId, now: now)
                items.append(item)
                results.append(.success(sent))
            } catch let error as QueueError {
                results.append(.failure(error))
            }
        }
        if !items.isEmpty {
            do { try await ledger.add(items) } catch { throw QueueError.internalError("\(error)") }
            counters.add(name, "sent", items.count)
        }
        return results
    }

    public func send(_ name: String, _ message: OutgoingMessage, senderId: String) async throws -> SentMessage {
        try await send(name, [message], senderId: senderId)[0].get()
    }

    // MARK: receive

    /// ReceiveMessage: up to `max` (1-10 on the wire) messages, hidden for `visibilityTimeout`
    /// seconds (the queue's when nil); waits up to `waitSeconds` (the queue's
    /// ReceiveMessageWaitTimeSeconds when nil) and returns as soon as any arrive.
    /// On a FIFO queue, a repeated `attemptId` (ReceiveRequestAttemptId) within 5 minutes
    /// answers the same messages and receipts while that receive still holds them.
    public func receive(_ name: String, max: Int, visibilityTimeout: Int? = nil, waitSeconds: Int? = nil,
                        attemptId: String? = nil) async throws -> [ReceivedMessage] {
        let queue = try queue(named: name)
        if queue.isFifo, let attemptId {
            if let again = try await repeatedReceive(queue, attemptId: attemptId, visibilityTimeout: visibilityTimeout) { return again }
            let got = try await receive(name, max: max, visibilityTimeout: visibilityTimeout, waitSeconds: waitSeconds)
            remember(queue: name, attemptId: attemptId, got)
            return got
        }
        let wait = Int64(waitSeconds ?? queue.waitTimeSeconds) * 1000
        let deadline = clock.nowMs() + wait
        while true {
            let got = try await receiveNow(name, max: max, visibilityTimeout: visibilityTimeout)
            let now = clock.nowMs()
            if !got.isEmpty || now >= deadline || Task.isCancelled { return got }
            await waitForMessages(on: name, upToMs: min(deadline - now, 1000))
        }
    }

    /// One receive attempt, without waiting.
    func receiveNow(_ name: String, max: Int, visibilityTimeout: Int?) async throws -> [ReceivedMessage] {
        let queue = try queue(named: name)
        let now = clock.nowMs()
        var redrive: LedgerReceive.Redrive?
        if let policy = queue.redrivePolicy, let target = self.queue(arn: policy.deadLetterTargetArn), target.name != name {
            redrive = LedgerReceive.Redrive(maxClaims: policy.maxReceiveCount, queue: target.name)
        }
        let owner = ReceiptHandle.newOwner()
        let visibility = Int64(visibilityTimeout ?? queue.visibilityTimeout) * 1000
        var request = LedgerReceive(kind: QueueLedgerKind.message, queue: name, owner: owner, leaseUntil: now + visibility, limit: max,
                                    retainedAfter: retainedAfter(queue, now: now), redrive: redrive, maxLeased: limits.inFlight,
                                    retentionBatch: limits.sweepBatch)
        request.grouped = queue.isFifo
        // Group-committed with other receives, sends and deletes: one fsync for all of them.
        let result: LedgerReceive.Result
        do {
            result = try await ledger.commit(LedgerBatch(receives: [request])).received[0]
        } catch { throw QueueError.internalError("\(error)") }
        if result.redriven > 0, let target = redrive?.queue { notify(queue: target) }
        counters.add(name, "received", result.items.count)
        counters.add(name, "redriven", result.redriven)
        counters.add(name, "expired", result.expired)
        if result.overLimit { throw QueueError.overLimit(QueueError.inFlightMessage) }
        return result.items.compactMap { item in
            guard let message = try? StoredMessage.decode(item.payload) else { return nil }
            return ReceivedMessage(message: message, receiptHandle: ReceiptHandle(queue: name, id: item.id, owner: owner).encoded,
                                   receiveCount: item.claims, firstReceiveTimestamp: item.firstClaimedAt ?? now, queue: name,
                                   deadLetterSource: item.lastError)
        }
    }

    // MARK: delete and visibility

    /// DeleteMessageBatch (and DeleteMessage): each valid handle's message is deleted if that
    /// handle's receive still holds it; a stale handle succeeds without deleting, as on SQS.
    public func delete(_ name: String, receiptHandles: [String]) async throws -> [Result<Void, QueueError>] {
        _ = try queue(named: name)
        var results: [Result<Void, QueueError>] = []
        var finishes: [LedgerBatch.Finish] = []
        for text in receiptHandles {
            do {
                let handle = try ReceiptHandle(parsing: text, queue: name)
                finishes.append(LedgerBatch.Finish(id: handle.id, owner: handle.owner, decision: .complete(followUps: [])))
                results.append(.success(()))
            } catch let error as QueueError {
                results.append(.failure(error))
            }
        }
        if !finishes.isEmpty {
            let committed: LedgerBatch.Result
            do { committed = try await ledger.commit(LedgerBatch(finishes: finishes)) } catch { throw QueueError.internalError("\(error)") }
            counters.add(name, "deleted", committed.finished.filter { $0 }.count)
        }
        return results
    }

    public func delete(_ name: String, receiptHandle: String) async throws {
        try await delete(name, receiptHandles: [receiptHandle])[0].get()
    }

    /// ChangeMessageVisibility(Batch): the message stays hidden for `timeout` seconds from now
    /// (0: visible at once). `MessageNotInflight` if the handle's receive no longer holds it.
    public func changeVisibility(_ name: String, entries: [(receiptHandle: String, timeout: Int)]) async throws -> [Result<Void, QueueError>] {
        _ = try queue(named: name)
        var results: [Result<Void, QueueError>] = []
        var madeVisible = false
        for entry in entries {
            do {
                let handle = try ReceiptHandle(parsing: entry.receiptHandle, queue: name)
                guard (0...43_200).contains(entry.timeout) else {
                    throw QueueError.invalidParameterValue("Value \(entry.timeout) for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.")
                }
                let now = clock.nowMs(), until = now + Int64(entry.timeout) * 1000
                let changed: Bool
                do {
                    changed = try await ledger.read { try $0.changeLease(kind: QueueLedgerKind.message, id: handle.id, owner: handle.owner, until: until, now: now) }
                } catch { throw QueueError.internalError("\(error)") }
                guard changed else { throw QueueError.messageNotInflight }
                if entry.timeout == 0 { madeVisible = true }
                results.append(.success(()))
            } catch let error as QueueError {
                results.append(.failure(error))
            }
        }
        if madeVisible { notify(queue: name) }
        return results
    }

    public func changeVisibility(_ name: String, receiptHandle: String, timeout: Int) async throws {
        try await changeVisibility(name, entries: [(receiptHandle, timeout)])[0].get()
    }
}

extension QueueService: QueueMessages {
    /// A message for the queue `queueARN` names (attributes as String message attributes), due
    /// after the queue's delay: the follow-up item a producer commits with its own finish.
    public func message(queueARN: String, body: String, attributes: [String: String], now: Int64) -> Result<NewLedgerItem, QueueMessageError> {
        message(queueARN: queueARN, body: body,
                messageAttributes: attributes.mapValues { QueueMessageAttribute(dataType: "String", stringValue: $0) }, now: now)
    }

    public func message(queueARN: String, body: String, messageAttributes: [String: QueueMessageAttribute], now: Int64) -> Result<NewLedgerItem, QueueMessageError> {
        guard let queue = queue(arn: queueARN) else { return .failure(QueueMessageError("queue does not exist: \(queueARN)")) }
        let message = OutgoingMessage(body: body, attributes: messageAttributes.mapValues { MessageAttributeValue(dataType: $0.dataType, stringValue: $0.stringValue) })
        do {
            return .success(try item(for: message, queue: queue, senderId: account, now: now).0)
        } catch let error as QueueError {
            return .failure(QueueMessageError("\(queueARN): \(error.message)"))
        } catch {
            return .failure(QueueMessageError("\(queueARN): \(error)"))
        }
    }
}
