import Foundation
import HearthEvents
import HearthScheduler
import HearthStore
import Testing

/// Schedules as the store holds them, and functions that exist or not.
final class FakeSchedules: ScheduleSource, @unchecked Sendable {
    private let lock = NSLock()
    var schedules: [String: FiringSchedule] = [:]
    var deleted: [String] = []
    var missingFunctions: Set<String> = []

    func put(_ s: FiringSchedule) { lock.withLock { schedules[s.queue] = s } }

    func schedule(group: String, name: String) async throws -> FiringSchedule? {
        lock.withLock { schedules["\(group)/\(name)"] }
    }

    func deleteCompleted(group: String, name: String, revision: Int64) async throws {
        lock.withLock {
            guard schedules["\(group)/\(name)"]?.revision == revision else { return }
            schedules["\(group)/\(name)"] = nil
            deleted.append("\(group)/\(name)")
        }
    }

    func lambdaInvoke(functionARN: String, payload: String, now: Int64) -> Result<NewLedgerItem, ScheduleDeliveryError> {
        let name = String(functionARN.split(separator: ":")[6])
        if lock.withLock({ missingFunctions.contains(name) }) {
            return .failure(ScheduleDeliveryError(code: "ResourceNotFoundException", message: "Function not found: \(functionARN)", retryable: true))
        }
        return .success(AsyncEvent(requestID: UUID().uuidString, function: name, payload: payload).ledgerItem(dueAt: now))
    }
}

/// A queue service that takes every message (as an item of its own kind).
struct AcceptingQueues: QueueMessages {
    func message(queueARN: String, body: String, attributes: [String: String], now: Int64) -> Result<NewLedgerItem, QueueMessageError> {
        let doc = try! JSONSerialization.data(withJSONObject: ["body": body, "attributes": attributes], options: [.sortedKeys])
        return .success(NewLedgerItem(kind: "sqs.message", queue: queueARN, payload: [UInt8](doc), dueAt: now))
    }
}

/// EventBridge Scheduler's firing driven through the real ledger (SQLite in memory) with a
/// manual clock: occurrences, chains, retries, dead letters, catch-up, no sleeping.
@Suite("schedule firing")
struct ScheduleFiringsTests {
    /// 2026-01-01T00:00:00Z.
    static let t0: Int64 = 1_767_225_600_000
    let clock = ManualLedgerClock(ScheduleFiringsTests.t0)
    let ledger: Ledger
    let source = FakeSchedules()

    init() throws {
        ledger = Ledger(backend: SQLiteLedger(store: try Store.inMemory()), clock: clock)
    }

    func engine(queues: (any QueueMessages)? = nil) -> ScheduleFirings {
        ScheduleFirings(source: source, clock: clock, policy: ScheduleRetryPolicy(baseMs: 1000, capMs: 300_000), queues: queues)
    }

    func schedule(_ expression: String, name: String = "s", zone: String = "UTC", start: Int64? = nil, end: Int64? = nil,
                  input: String? = #"{"mark":"<aws.scheduler.scheduled-time>"}"#, retries: Int = 185, maxAge: Int = 86_400,
                  dlq: String? = nil, flexibleMinutes: Int64 = 0, delete: Bool = false, created: Int64 = ScheduleFiringsTests.t0) throws -> FiringSchedule {
        let s = FiringSchedule(
            arn: "arn:aws:scheduler:us-east-1:000000000000:schedule/default/\(name)", group: "default", name: name, enabled: true,
            revision: 1,
            schedule: Schedule(expression: try ScheduleExpression(expression), zone: try Schedule.zone(named: zone),
                               start: start.map { Date(timeIntervalSince1970: Double($0) / 1000) },
                               end: end.map { Date(timeIntervalSince1970: Double($0) / 1000) },
                               created: Date(timeIntervalSince1970: Double(created) / 1000)),
            flexibleWindowMs: flexibleMinutes * 60_000,
            target: FiringTarget(arn: "arn:aws:lambda:us-east-1:000000000000:function:fn", input: input, maximumRetryAttempts: retries,
                                 maximumEventAgeSeconds: maxAge, deadLetterArn: dlq),
            deleteAfterCompletion: delete)
        source.put(s)
        return s
    }

    /// Plants the schedule's first occurrence, as CreateSchedule does.
    func plant(_ s: FiringSchedule, from: Int64? = nil) async throws {
        if let item = s.firstItem(from: from ?? clock.nowMs()) { try await ledger.add([item]) }
    }

    /// Claims the due `scheduler.fire` items and runs them until none is due.
    @discardableResult
    func run(queues: (any QueueMessages)? = nil) async throws -> [LedgerDecision] {
        var decisions: [LedgerDecision] = []
        while true {
            let items = try await ledger.claim(kind: LedgerKind.schedulerFire, owner: "me", leaseMs: 60_000, limit: 1)
            guard let item = items.first else { return decisions }
            let decision = await engine(queues: queues).handle(item)
            #expect(try await ledger.finish(id: item.id, owner: "me", decision: decision))
            decisions.append(decision)
        }
    }

    func invocations(_ function: String = "fn") async throws -> [AsyncEvent] {
        try await ledger.read { try $0.items(kind: LedgerKind.lambdaInvoke, queue: function, limit: 10_000) }.map { try AsyncEvent.decode($0.payload) }
    }

    func firings(_ name: String = "s") async throws -> [LedgerItem] {
        try await ledger.read { try $0.items(kind: LedgerKind.schedulerFire, queue: "default/\(name)", limit: 10_000) }
    }

    static func iso(_ ms: Int64) -> String { FireDocument.iso8601Seconds(ms: ms) }

    @Test("at(): nothing before its instant, one asynchronous invoke at it with the context attributes substituted, then nothing")
    func atFiresOnce() async throws {
        let s = try schedule("at(2026-01-01T00:00:05)", input: #"{"mark":"m","arn":"<aws.scheduler.schedule-arn>","t":"<aws.scheduler.scheduled-time>","id":"<aws.scheduler.execution-id>","n":<aws.scheduler.attempt-number>}"#)
        try await plant(s)
        try await plant(s)  // planted twice (a retried request): the idempotency key keeps one
        #expect(try await firings().count == 1)
        clock.advance(ms: 4999)
        #expect(try await run().isEmpty)
        clock.advance(ms: 1)
        try await run()
        let fired = try await invocations()
        #expect(fired.count == 1)
        let firstFired = try #require(fired.first)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(firstFired.payload.utf8)) as? [String: Any])
        #expect(payload["arn"] as? String == s.arn && payload["t"] as? String == "2026-01-01T00:00:05Z" && payload["n"] as? Int == 1)
        #expect((payload["id"] as? String)?.count == 16)
        #expect(try await firings().isEmpty, "an at() schedule has no next occurrence")
        clock.advance(seconds: 3600)
        try await run()
        #expect(try await invocations().count == 1)
        #expect(source.deleted.isEmpty, "ActionAfterCompletion NONE keeps the schedule")
    }

    @Test("ActionAfterCompletion DELETE: the schedule is deleted once its last occurrence fired (at(), and rate() at its EndDate)")
    func deleteAfterCompletion() async throws {
        let a = try schedule("at(2026-01-01T00:00:05)", name: "once", delete: true)
        try await plant(a)
        let r = try schedule("rate(1 minute)", name: "bounded", end: Self.t0 + 150_000, delete: true)
        try await plant(r)
        clock.advance(seconds: 5)
        try await run()
        #expect(source.deleted == ["default/once"])
        clock.advance(seconds: 200)
        try await run()
        #expect(source.deleted == ["default/once", "default/bounded"])
        let times = try await invocations().compactMap { e in
            (try? JSONSerialization.jsonObject(with: Data(e.payload.utf8)) as? [String: Any])?["mark"] as? String
        }
        #expect(times == ["2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"])
    }

    @Test("without Input the target gets Scheduler's envelope: detail is the string \"{}\", time the scheduled instant")
    func envelope() async throws {
        let s = try schedule("at(2026-01-01T00:00:01)", input: nil)
        try await plant(s)
        clock.advance(seconds: 1)
        try await run()
        let event = try #require(try await invocations().first)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any])
        #expect(payload["detail"] as? String == "{}")
        #expect(payload["detail-type"] as? String == "Scheduled Event" && payload["source"] as? String == "aws.scheduler")
        #expect(payload["resources"] as? [String] == [s.arn] && payload["time"] as? String == "2026-01-01T00:00:01Z")
        #expect(payload["account"] as? String == "000000000000" && payload["region"] as? String == "us-east-1" && payload["version"] as? String == "0")
        #expect(event.payload.hasPrefix(#"{"version":"0","id":""#), "key order as AWS sends it: \(event.payload)")
    }

    @Test("rate(1 minute) without StartDate fires at creation, then every minute, one pending occurrence at a time")
    func rateChain() async throws {
        let s = try schedule("rate(1 minute)")
        try await plant(s)
        for minute in 0..<5 {
            try await run()
            let pending = try await firings()
            #expect(pending.count == 1 && pending.first?.dueAt == Self.t0 + Int64(minute + 1) * 60_000)
            clock.advance(seconds: 60)
        }
        let marks = try await invocations().map { $0.payload }
        #expect(marks == (0..<5).map { #"{"mark":"\#(Self.iso(Self.t0 + Int64($0) * 60_000))"}"# })
    }

    @Test("StartDate: rate() aligned to it, nothing before; cron() from it on")
    func startDate() async throws {
        let s = try schedule("rate(10 minutes)", start: Self.t0 + 90_000)
        try await plant(s)
        #expect(try await firings().first?.dueAt == Self.t0 + 90_000)
        let c = try schedule("cron(0 12 * * ? *)", name: "c", start: Self.t0 + 3 * 86_400_000)
        try await plant(c)
        #expect(try await firings("c").first?.dueAt == Self.t0 + 3 * 86_400_000 + 12 * 3_600_000)
    }

    @Test("time zones and DST from HearthScheduler: cron(30 2 * * ? *) in New York skips the spring-forward day")
    func daylightSaving() async throws {
        clock.advance(ms: 1_772_798_400_000 - Self.t0)  // 2026-03-06T12:00Z
        let s = try schedule("cron(30 2 * * ? *)", zone: "America/New_York")  // from 2026-03-06T12:00Z
        try await plant(s)
        var fired: [String] = []
        for _ in 0..<3 {
            let due = try #require(try await firings().first?.dueAt)
            fired.append(Self.iso(due))
            clock.advance(ms: due - clock.nowMs())
            try await run()
        }
        #expect(fired == ["2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"])
    }

    @Test("FLEXIBLE window: each occurrence is due at a spread, reproducible offset inside the window")
    func flexibleWindow() async throws {
        let s = try schedule("rate(1 hour)", flexibleMinutes: 15)
        let offsets = (0..<50).map { s.flexibleOffset(Self.t0 + Int64($0) * 3_600_000) }
        #expect(offsets.allSatisfy { $0 >= 0 && $0 < 15 * 60_000 })
        #expect(Set(offsets).count > 40, "spread, not one value")
        #expect(offsets == (0..<50).map { s.flexibleOffset(Self.t0 + Int64($0) * 3_600_000) }, "the same after a restart")
        try await plant(s)
        let first = try #require(try await firings().first)
        #expect(first.dueAt == Self.t0 + offsets[0])
        clock.advance(ms: offsets[0])
        try await run()
        let payload = try #require(try await invocations().first).payload
        #expect(payload == #"{"mark":"2026-01-01T00:00:00Z"}"#, "scheduled-time is the occurrence, not the spread fire time")
    }

    @Test("a missing function: retried 1 s, 2 s… per RetryPolicy while the next occurrence is planted; then failed, with no queue service the DLQ reason recorded")
    func retriesThenDeadLetterWithoutQueues() async throws {
        source.missingFunctions = ["fn"]
        let s = try schedule("rate(1 hour)", retries: 2, dlq: "arn:aws:sqs:us-east-1:000000000000:dlq")
        try await plant(s)
        try await run()
        var items = try await firings()
        #expect(items.count == 2, "the retry and the next occurrence")
        let retry = try #require(items.first { (try? FireDocument.decode($0.payload))?.action == .retry })
        #expect(retry.dueAt == Self.t0 + 1000)
        clock.advance(ms: 1000)
        try await run()
        items = try await firings()
        #expect(items.first { $0.id == retry.id }?.dueAt == Self.t0 + 1000 + 2000)
        clock.advance(ms: 2000)
        try await run()
        items = try await firings()
        let failed = try #require(items.first { $0.state == .failed })
        #expect(failed.lastError?.contains("ResourceNotFoundException") == true && failed.lastError?.contains("MaximumRetryAttempts") == true)
        #expect(failed.lastError?.contains("dead-letter queue arn:aws:sqs:us-east-1:000000000000:dlq not reached: Hearth has no queue service yet") == true,
                "\(failed.lastError ?? "")")
        #expect(try await invocations().isEmpty)
        #expect(items.filter { $0.state == .available }.count == 1, "the next occurrence still pending")
    }

    @Test("with a queue service the dead letter is a follow-up message with Scheduler's attributes; MaximumRetryAttempts 0 sends it at once")
    func deadLetterThroughQueues() async throws {
        source.missingFunctions = ["fn"]
        let s = try schedule("at(2026-01-01T00:00:00)", retries: 0, dlq: "arn:aws:sqs:us-east-1:000000000000:dlq")
        try await plant(s)
        try await run(queues: AcceptingQueues())
        let messages = try await ledger.read { try $0.items(kind: "sqs.message", queue: "arn:aws:sqs:us-east-1:000000000000:dlq", limit: 10) }
        let message = try #require(messages.first)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any])
        let attributes = try #require(doc["attributes"] as? [String: String])
        #expect(attributes["ERROR_CODE"] == "ResourceNotFoundException" && attributes["SCHEDULE_ARN"] == s.arn)
        #expect(attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts" && attributes["RETRY_ATTEMPTS"] == "0")
        #expect(attributes["TARGET_ARN"] == s.target.arn && attributes["EXECUTION_ID"]?.count == 16)
        #expect(doc["body"] as? String == #"{"mark":"2026-01-01T00:00:00Z"}"#)
    }

    @Test("catch-up after downtime: occurrences older than MaximumEventAgeInSeconds are recorded as missed; the young ones fire once each, in order")
    func catchUp() async throws {
        let s = try schedule("rate(1 minute)", maxAge: 300)
        try await plant(s)
        try await run()  // 00:00 fires
        clock.advance(seconds: 3630)  // down from 00:00 to 01:00:30
        try await run()
        let fired = try await invocations().map(\.payload)
        let expected = [0, 3360, 3420, 3480, 3540, 3600].map { #"{"mark":"\#(Self.iso(Self.t0 + Int64($0) * 1000))"}"# }
        #expect(fired == expected)
        let items = try await firings()
        let missed = try #require(items.first { $0.state == .failed })
        #expect(missed.lastError?.hasPrefix("Missed: the occurrence at 2026-01-01T00:01:00Z") == true)
        #expect(missed.lastError?.contains("54 later occurrence(s) through 2026-01-01T00:55:00Z were missed too") == true, "\(missed.lastError ?? "")")
        #expect(items.filter { $0.state == .available }.map(\.dueAt) == [Self.t0 + 3_660_000])
    }

    @Test("a week down with rate(1 minute): one missed record, bounded work, and the chain resumes")
    func longDowntime() async throws {
        let s = try schedule("rate(1 minute)", maxAge: 60)
        try await plant(s)
        try await run()
        clock.advance(seconds: 7 * 86_400 + 30)
        try await run()
        #expect(try await invocations().count == 2, "the creation occurrence and the one 30 s ago")
        #expect(try await firings().filter { $0.state == .failed }.count == 1)
    }

    @Test("a crash while an occurrence is leased: after recovery it is handled again and delivered once")
    func crashWhileLeased() async throws {
        let s = try schedule("rate(1 minute)")
        try await plant(s)
        let leased = try await ledger.claim(kind: LedgerKind.schedulerFire, owner: "dead", leaseMs: 60_000, limit: 1)
        #expect(leased.count == 1)
        // The dead supervisor decided but never committed: nothing was delivered.
        let recovered = try await ledger.read { [now = clock.nowMs()] in try $0.recoverAbandoned(keeping: "me", now: now) }
        #expect(recovered == 1)
        try await run()
        #expect(try await invocations().count == 1)
        #expect(try await firings().map(\.dueAt) == [Self.t0 + 60_000])
    }

    @Test("an occurrence planted from an older revision, or of a disabled or deleted schedule, does nothing")
    func staleOccurrences() async throws {
        var s = try schedule("rate(1 minute)")
        try await plant(s)
        s.revision = 2
        source.put(s)
        try await run()
        #expect(try await invocations().isEmpty)
        #expect(try await firings().isEmpty)
        try await plant(s)
        s.enabled = false
        source.put(s)
        try await run()
        #expect(try await invocations().isEmpty)
        #expect(try await firings().isEmpty)
        let gone = try schedule("rate(1 minute)", name: "gone")
        try await plant(gone)
        source.schedules["default/gone"] = nil
        try await run()
        #expect(try await invocations().isEmpty)
        #expect(try await firings("gone").isEmpty)
    }
}

/// The store's side of firing: items planted and removed in the schedule's own transactions,
/// and start-up reconciliation.
@Suite("schedule firing: store")
struct ScheduleFiringStoreTests {
    static let definition = Array(#"{"ScheduleExpression":"rate(1 minute)","FlexibleTimeWindow":{"Mode":"OFF"},"Target":{"Arn":"arn:aws:lambda:us-east-1:000000000000:function:fn","RoleArn":"arn:aws:iam::000000000000:role/r"}}"#.utf8)

    static func record(_ name: String, group: String = "default", state: String = "ENABLED") -> ScheduleRecord {
        ScheduleRecord(group: group, name: name, state: state, definition: definition, clientToken: nil,
                       created: Date(timeIntervalSince1970: 1_767_225_600), modified: Date())
    }

    static func plan(_ r: ScheduleRecord) throws -> NewLedgerItem? {
        try FiringSchedule(arn: "arn:aws:scheduler:us-east-1:000000000000:schedule/\(r.group)/\(r.name)", group: r.group, name: r.name,
                           enabled: r.state == "ENABLED", revision: r.revision, created: r.created, definition: r.definition)
            .firstItem(from: Int64(r.modified.timeIntervalSince1970 * 1000))
    }

    @Test("Create/Update/Delete(Group) plant and remove occurrences in their transaction; reconciliation finds enabled schedules with none")
    func plantedWithTheSchedule() throws {
        let store = try Store.inMemory()
        let ledger = SQLiteLedger(store: store)
        func pending(_ name: String, group: String = "default") throws -> [LedgerItem] {
            try ledger.items(kind: LedgerKind.schedulerFire, queue: "\(group)/\(name)", limit: 10)
        }
        _ = try store.createSchedule(Self.record("planted"), plan: Self.plan)
        _ = try store.createSchedule(Self.record("bare"))
        _ = try store.createSchedule(Self.record("off", state: "DISABLED"), plan: Self.plan)
        #expect(try pending("planted").count == 1)
        #expect(try pending("off").isEmpty)
        #expect(try store.schedulesWithoutFirings().map(\.name) == ["bare"])

        _ = try store.updateSchedule(Self.record("planted", state: "DISABLED"), plan: Self.plan)
        #expect(try pending("planted").isEmpty, "disabling removes the pending occurrence")
        let updated = try store.updateSchedule(Self.record("planted"), plan: Self.plan)
        let item = try #require(try pending("planted").first)
        #expect(try FireDocument.decode(item.payload).revision == updated.revision, "planted from the new revision")
        #expect(try store.deleteCompletedSchedule(group: "default", name: "planted", revision: updated.revision - 1) == false)
        try store.deleteSchedule(group: "default", name: "planted")
        #expect(try pending("planted").isEmpty)

        _ = try store.createScheduleGroup("team", tags: [:])
        _ = try store.createSchedule(Self.record("job", group: "team"), plan: Self.plan)
        #expect(try pending("job", group: "team").count == 1)
        try store.deleteScheduleGroup("team")
        #expect(try pending("job", group: "team").isEmpty)
        #expect(try store.schedulesWithoutFirings().map(\.name) == ["bare"])
    }
}
