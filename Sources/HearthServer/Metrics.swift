import Foundation
import HearthEvents

/// Prometheus metrics in the text exposition format, by function. Thread-safe.
public final class Metrics: @unchecked Sendable {
    static let bucketsMs: [Double] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000]

    /// Asynchronous events wait up to 6 hours.
    static let ageBucketsMs: [Double] = [5, 10, 50, 100, 500, 1000, 5000, 10000, 30000, 60000, 120000, 300000, 900000, 1800000, 3600000, 7200000, 21600000]

    struct Histogram {
        var bounds = Metrics.bucketsMs
        var buckets = [Int](repeating: 0, count: Metrics.bucketsMs.count)
        var count = 0
        var sum = 0.0

        init(bounds: [Double] = Metrics.bucketsMs) {
            self.bounds = bounds
            buckets = [Int](repeating: 0, count: bounds.count)
        }

        mutating func observe(_ value: Double) {
            for (i, bound) in bounds.enumerated() where value <= bound { buckets[i] += 1 }
            count += 1
            sum += value
        }
    }

    private let lock = NSLock()
    private var invocations: [String: Int] = [:]
    private var errors: [String: [String: Int]] = [:]
    private var throttles: [String: Int] = [:]
    private var coldStarts: [String: Int] = [:]
    private var durations: [String: Histogram] = [:]
    private var initDurations: [String: Histogram] = [:]
    private var asyncReceived: [String: Int] = [:]
    private var asyncAges: [String: Histogram] = [:]
    private var asyncDropped: [String: [String: Int]] = [:]
    private var asyncRedelivered: [String: Int] = [:]
    private var destinationDeliveries: [String: [String: Int]] = [:]
    private var destinationFailures: [String: [String: Int]] = [:]
    private var deadLetterErrors: [String: Int] = [:]
    /// HTTP trigger requests by Function URL or API id, route key and status.
    private var httpRequests: [HTTPRouteKey: Int] = [:]
    private var httpDurations: [HTTPRouteKey: Histogram] = [:]

    /// A Function URL's or HTTP API's route (`$default` for Function URLs), and the status it answered.
    struct HTTPRouteKey: Hashable {
        var api: String
        var route: String
        var status: Int
    }

    /// Where the engines' log lines go (the daemon's stderr).
    let logSink: (@Sendable (String) -> Void)?

    public init(log: (@Sendable (String) -> Void)? = nil) {
        logSink = log
    }

    public func recordInvocation(function: String, durationMs: Double, initDurationMs: Double?, errorType: String?) {
        lock.lock()
        defer { lock.unlock() }
        invocations[function, default: 0] += 1
        durations[function, default: Histogram()].observe(durationMs)
        if let initDurationMs {
            coldStarts[function, default: 0] += 1
            initDurations[function, default: Histogram()].observe(initDurationMs)
        }
        if let errorType { errors[function, default: [:]][errorType, default: 0] += 1 }
    }

    public func recordThrottle(function: String) {
        lock.lock()
        defer { lock.unlock() }
        throttles[function, default: 0] += 1
    }

    /// One HTTP trigger request: `api` is the Function URL's or HTTP API's id, `route` the
    /// route key that matched (`-` when none did).
    public func recordHTTPRequest(api: String, route: String, status: Int, durationMs: Double) {
        lock.lock()
        defer { lock.unlock() }
        let key = HTTPRouteKey(api: api, route: route, status: status)
        httpRequests[key, default: 0] += 1
        httpDurations[HTTPRouteKey(api: api, route: route, status: 0), default: Histogram()].observe(durationMs)
    }

    public func recordAsyncReceived(function: String) {
        lock.lock()
        defer { lock.unlock() }
        asyncReceived[function, default: 0] += 1
    }

    static func label(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// The exposition text; `concurrent`/`idle` come from the pool at scrape time.
    /// The exposition text; `concurrent`/`idle` come from the pool and `asyncDepth` from the
    /// ledger at scrape time.
    public func render(concurrent: [String: Int], idle: [String: Int], instances: Int, shells: [String: Int] = [:],
                       asyncDepth: [String: LedgerDepth] = [:]) -> String {
        lock.lock()
        defer { lock.unlock() }
        var out = ""
        func counter(_ name: String, _ help: String, _ values: [String: Int]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
            for (function, value) in values.sorted(by: { $0.key < $1.key }) {
                out += "\(name){function=\"\(Self.label(function))\"} \(value)\n"
            }
        }
        func gauge(_ name: String, _ help: String, _ values: [String: Int]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for (function, value) in values.sorted(by: { $0.key < $1.key }) {
                out += "\(name){function=\"\(Self.label(function))\"} \(value)\n"
            }
        }
        func labelled(_ name: String, _ help: String, _ label: String, _ values: [String: [String: Int]]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
            for (function, byLabel) in values.sorted(by: { $0.key < $1.key }) {
                for (value, n) in byLabel.sorted(by: { $0.key < $1.key }) {
                    out += "\(name){function=\"\(Self.label(function))\",\(label)=\"\(Self.label(value))\"} \(n)\n"
                }
            }
        }
        func histogram(_ name: String, _ help: String, _ values: [String: Histogram]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            for (function, h) in values.sorted(by: { $0.key < $1.key }) {
                let f = Self.label(function)
                for (i, bound) in h.bounds.enumerated() {
                    out += "\(name)_bucket{function=\"\(f)\",le=\"\(bound / 1000)\"} \(h.buckets[i])\n"
                }
                out += "\(name)_bucket{function=\"\(f)\",le=\"+Inf\"} \(h.count)\n"
                out += "\(name)_sum{function=\"\(f)\"} \(h.sum / 1000)\n\(name)_count{function=\"\(f)\"} \(h.count)\n"
            }
        }
        counter("hearth_invocations_total", "Invocations completed.", invocations)
        out += "# HELP hearth_errors_total Invocations that ended in an error, by error type.\n# TYPE hearth_errors_total counter\n"
        for (function, byType) in errors.sorted(by: { $0.key < $1.key }) {
            for (type, value) in byType.sorted(by: { $0.key < $1.key }) {
                out += "hearth_errors_total{function=\"\(Self.label(function))\",error_type=\"\(Self.label(type))\"} \(value)\n"
            }
        }
        counter("hearth_throttles_total", "Invocations refused with 429.", throttles)
        counter("hearth_cold_starts_total", "Invocations that started a new instance.", coldStarts)
        histogram("hearth_invocation_duration_seconds", "Invocation duration.", durations)
        histogram("hearth_init_duration_seconds", "Init duration of cold starts.", initDurations)
        gauge("hearth_concurrent_executions", "Invocations in flight.", concurrent)
        gauge("hearth_idle_instances", "Warm instances waiting for work.", idle)
        gauge("hearth_preforked_shells", "Pre-forked sandbox shells ready for a cold start.", shells)
        counter("hearth_async_events_received_total", "AsyncEventsReceived: asynchronous invocations accepted (durably queued).", asyncReceived)
        histogram("hearth_async_event_age_seconds", "AsyncEventAge: time from accept to each attempt's start.", asyncAges)
        labelled("hearth_async_events_dropped_total", "AsyncEventsDropped: events given up, by reason.", "reason", asyncDropped)
        counter("hearth_async_events_redelivered_total", "Events run again after their supervisor died or their lease expired (possible duplicates).", asyncRedelivered)
        labelled("hearth_async_destination_deliveries_total", "Invocation records queued for a destination, by condition.", "condition", destinationDeliveries)
        labelled("hearth_async_destination_failures_total", "Invocation records that could not be delivered, by reason.", "reason", destinationFailures)
        counter("hearth_async_dead_letter_errors_total", "DeadLetterErrors: failed events that could not be sent to the function's dead-letter queue.", deadLetterErrors)
        out += "# HELP hearth_async_queue_depth Asynchronous events in the ledger, by state.\n# TYPE hearth_async_queue_depth gauge\n"
        for (function, depth) in asyncDepth.sorted(by: { $0.key < $1.key }) {
            let f = Self.label(function)
            out += "hearth_async_queue_depth{function=\"\(f)\",state=\"available\"} \(depth.available)\n"
            out += "hearth_async_queue_depth{function=\"\(f)\",state=\"leased\"} \(depth.leased)\n"
            out += "hearth_async_queue_depth{function=\"\(f)\",state=\"failed\"} \(depth.failed)\n"
        }
        out += "# HELP hearth_http_requests_total HTTP trigger requests (Function URLs, HTTP APIs), by id, route key and status.\n# TYPE hearth_http_requests_total counter\n"
        for (key, n) in httpRequests.sorted(by: { ($0.key.api, $0.key.route, $0.key.status) < ($1.key.api, $1.key.route, $1.key.status) }) {
            out += "hearth_http_requests_total{api=\"\(Self.label(key.api))\",route=\"\(Self.label(key.route))\",status=\"\(key.status)\"} \(n)\n"
        }
        out += "# HELP hearth_http_request_duration_seconds HTTP trigger requests' time to the response head, by id and route key.\n# TYPE hearth_http_request_duration_seconds histogram\n"
        for (key, h) in httpDurations.sorted(by: { ($0.key.api, $0.key.route) < ($1.key.api, $1.key.route) }) {
            let labels = "api=\"\(Self.label(key.api))\",route=\"\(Self.label(key.route))\""
            for (i, bound) in h.bounds.enumerated() {
                out += "hearth_http_request_duration_seconds_bucket{\(labels),le=\"\(bound / 1000)\"} \(h.buckets[i])\n"
            }
            out += "hearth_http_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(h.count)\n"
            out += "hearth_http_request_duration_seconds_sum{\(labels)} \(h.sum / 1000)\nhearth_http_request_duration_seconds_count{\(labels)} \(h.count)\n"
        }
        out += "# HELP hearth_instances Instances alive or starting.\n# TYPE hearth_instances gauge\nhearth_instances \(instances)\n"
        return out
    }
}

/// The asynchronous-invocation engine's metrics and log lines.
extension Metrics: AsyncObserver {
    public func eventStarted(function: String, ageMs: Int64, redelivered: Bool) {
        lock.lock()
        defer { lock.unlock() }
        asyncAges[function, default: Histogram(bounds: Self.ageBucketsMs)].observe(Double(ageMs))
        if redelivered { asyncRedelivered[function, default: 0] += 1 }
    }

    public func eventDropped(function: String, reason: String) {
        lock.lock()
        defer { lock.unlock() }
        asyncDropped[function, default: [:]][reason, default: 0] += 1
    }

    public func destinationDelivered(function: String, condition: String) {
        lock.lock()
        defer { lock.unlock() }
        destinationDeliveries[function, default: [:]][condition, default: 0] += 1
    }

    public func destinationFailed(function: String, reason: String) {
        lock.lock()
        defer { lock.unlock() }
        destinationFailures[function, default: [:]][reason, default: 0] += 1
    }

    public func deadLetterFailed(function: String, reason: String) {
        lock.lock()
        defer { lock.unlock() }
        deadLetterErrors[function, default: 0] += 1
    }

    public func log(_ line: String) {
        logSink?(line)
    }
}
