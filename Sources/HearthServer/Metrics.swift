import Foundation

/// Prometheus metrics in the text exposition format, by function. Thread-safe.
public final class Metrics: @unchecked Sendable {
    static let bucketsMs: [Double] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000]

    struct Histogram {
        var buckets = [Int](repeating: 0, count: Metrics.bucketsMs.count)
        var count = 0
        var sum = 0.0

        mutating func observe(_ value: Double) {
            for (i, bound) in Metrics.bucketsMs.enumerated() where value <= bound { buckets[i] += 1 }
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

    public init() {}

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

    static func label(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// The exposition text; `concurrent`/`idle` come from the pool at scrape time.
    public func render(concurrent: [String: Int], idle: [String: Int], instances: Int, shells: [String: Int] = [:]) -> String {
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
        func histogram(_ name: String, _ help: String, _ values: [String: Histogram]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            for (function, h) in values.sorted(by: { $0.key < $1.key }) {
                let f = Self.label(function)
                for (i, bound) in Self.bucketsMs.enumerated() {
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
        out += "# HELP hearth_instances Instances alive or starting.\n# TYPE hearth_instances gauge\nhearth_instances \(instances)\n"
        return out
    }
}
