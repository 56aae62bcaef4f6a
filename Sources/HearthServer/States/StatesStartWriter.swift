import Dispatch
import HearthEvents
import HearthStates
import HearthStore
import Synchronization

/// Writes new executions to the store group-committed (`GroupCommit`), as the ledger writes its
/// items. A start returns once its execution is committed. The writes run on a serial queue of
/// their own, so blocking SQLite I/O never holds a cooperative thread (nor the engine: it takes
/// other calls while a start waits here). Thread-safe.
final class StatesStartWriter: Sendable {
    private let commits: GroupCommit<NewExecution, Result<ExecutionRecord?, any Error>>

    init(store: Store) {
        // When a batch fails, its executions are written one by one, so only the one at fault fails.
        commits = GroupCommit(queue: DispatchQueue(label: "hearth.states.starts")) { batch in
            if let results = try? store.createExecutions(batch) { return results.map { .success($0) } }
            return batch.map { new in Result { try store.createExecutions([new])[0] } }
        }
    }

    /// Inserts `new`; the execution already holding its name instead, if any (`Store.createExecution`).
    func create(_ new: NewExecution) async throws -> ExecutionRecord? {
        try await commits.submit(new).get()
    }
}

/// Parsed definitions by their text, for StartSyncExecution (the machine was validated when it
/// was created or updated). Thread-safe.
final class ParsedDefinitions: Sendable {
    private let machines = Mutex<[String: StateMachine]>([:])

    func machine(_ definition: String) throws -> StateMachine {
        if let known = machines.withLock({ $0[definition] }) { return known }
        let machine = try StatesAPI.parseDefinition(definition)
        machines.withLock { all in
            if all.count >= 256 { all.removeAll() }
            all[definition] = machine
        }
        return machine
    }
}
