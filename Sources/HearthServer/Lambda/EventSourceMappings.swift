import Foundation
import HearthCore
import HearthQueues
import HearthStore
import Synchronization

/// The event source mappings of this supervisor: their stored configurations and one
/// `MappingPoller` per enabled mapping, started at start-up and on create/update, stopped on
/// disable/delete and at shutdown. Thread-safe.
final class EventSourceMappings: Sendable {
    let store: Store
    let queues: QueueService
    let invoker: MappingRunner
    let log: @Sendable (String) -> Void
    private let pollers = Mutex<[String: MappingPoller]>([:])

    init(store: Store, queues: QueueService, invoker: MappingRunner, log: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.queues = queues
        self.invoker = invoker
        self.log = log
    }

    /// Starts a poller for every enabled stored mapping.
    func start() throws {
        for mapping in try store.eventSourceMappings() where mapping.enabled { run(mapping) }
    }

    /// (Re)starts `mapping`'s poller as its configuration says.
    func apply(_ mapping: EventSourceMapping) async {
        await stopPoller(mapping.uuid)
        if mapping.enabled { run(mapping) }
    }

    func stopPoller(_ uuid: String) async {
        let old = pollers.withLock { $0.removeValue(forKey: uuid) }
        await old?.stop()
    }

    private func run(_ mapping: EventSourceMapping) {
        let poller = MappingPoller(mapping: mapping, service: queues, invoker: invoker, log: log)
        pollers.withLock { $0[mapping.uuid] = poller }
        poller.start()
    }

    func stop() async {
        let all = pollers.withLock { p -> [MappingPoller] in
            defer { p = [:] }
            return Array(p.values)
        }
        for poller in all { await poller.stop() }
    }
}

/// Invokes a mapping's function through the same path as a synchronous Invoke
/// (`LambdaAPI.execute`: the pool, reserved concurrency, logs, metrics), and records each
/// batch's result for GetEventSourceMapping.
final class MappingRunner: MappingInvoker {
    let api: LambdaAPI
    private let results = Mutex<[String: String]>([:])

    init(api: LambdaAPI) {
        self.api = api
    }

    func invoke(_ mapping: EventSourceMapping, payload: [UInt8]) async -> MappingInvokeOutcome {
        let ref = FunctionRef(name: mapping.functionName, qualifier: mapping.qualifier)
        let config: FunctionConfiguration, version: String
        do {
            (config, version) = try api.resolve(ref, weighted: true)
        } catch {
            return .failed("Function does not exist")
        }
        do {
            let record = try await api.execute(config, version: version, qualifier: mapping.qualifier, payload: payload,
                                               requestID: RequestID.make(), traceID: nil)
            // A sandbox that could not start (or closed under it at shutdown): Hearth's failure; the
            // batch comes back after its visibility timeout.
            if record.status == "error" && record.errorType == "Runtime.Unknown" { return .failed("the sandbox failed") }
            if let type = record.errorType { return .functionError(type) }
            return .success(record.payload)
        } catch is PoolThrottle {
            return .throttled
        } catch {
            return .failed("\(error)")
        }
    }

    func timeoutSeconds(_ mapping: EventSourceMapping) -> Int? {
        try? api.resolve(FunctionRef(name: mapping.functionName, qualifier: mapping.qualifier)).config.timeoutSeconds
    }

    func processed(_ mapping: EventSourceMapping, result: String) {
        results.withLock { $0[mapping.uuid] = result }
    }

    func lastResult(_ uuid: String) -> String? { results.withLock { $0[uuid] } }
}
