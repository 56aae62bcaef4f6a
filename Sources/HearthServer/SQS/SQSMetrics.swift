import Foundation
import HearthEvents
import HearthQueues

/// The queues' part of the Prometheus exposition: each queue's messages by state at scrape time
/// (what ApproximateNumberOfMessages, …NotVisible and …Delayed report) and the counters of
/// what happened to its messages since the supervisor started.
enum SQSMetrics {
    static func render(_ queues: QueueService) async -> String {
        let now = queues.clock.nowMs()
        var out = "# HELP hearth_sqs_messages Messages in each queue, by state (visible, in_flight, delayed).\n# TYPE hearth_sqs_messages gauge\n"
        for name in queues.listQueues(prefix: nil) {
            guard let counts = try? await queues.ledger.read({ try $0.counts(kind: QueueLedgerKind.message, queue: name, now: now) }) else { continue }
            let q = Metrics.label(name)
            out += "hearth_sqs_messages{queue=\"\(q)\",state=\"visible\"} \(counts.visible)\n"
            out += "hearth_sqs_messages{queue=\"\(q)\",state=\"in_flight\"} \(counts.leased)\n"
            out += "hearth_sqs_messages{queue=\"\(q)\",state=\"delayed\"} \(counts.delayed)\n"
        }
        out += "# HELP hearth_sqs_messages_total Messages sent, received, deleted, redriven to the dead-letter queue, expired by retention, moved by a move task and deduplicated (FIFO sends answered as duplicates), by queue.\n# TYPE hearth_sqs_messages_total counter\n"
        for (name, events) in queues.counters.snapshot().sorted(by: { $0.key < $1.key }) {
            for (event, n) in events.sorted(by: { $0.key < $1.key }) {
                out += "hearth_sqs_messages_total{queue=\"\(Metrics.label(name))\",event=\"\(event)\"} \(n)\n"
            }
        }
        return out
    }
}
