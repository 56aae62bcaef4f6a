import Dispatch
import HearthStates
import HearthStore
import Synchronization

/// Writes new executions to the store group-committed, as the ledger writes its items: while
/// one transaction is written (and fsynced), the next starts collect and go in the following
/// one together. A start returns once its execution is committed. The writes run on a serial
/// queue of their own, so blocking SQLite I/O never holds a cooperative thread (nor the engine:
/// it takes other calls while a start waits here). Thread-safe.
final class StatesStartWriter: Sendable {
    let store: Store
    private let io = DispatchQueue(label: "hearth.states.starts")
    private let pending = Mutex<(batch: [NewExecution], waiters: [CheckedContinuation<ExecutionRecord?, any Error>], flushing: Bool)>(([], [], false))

    init(store: Store) { self.store = store }

    /// Inserts `new`; the execution already holding its name instead, if any (`Store.createExecution`).
    func create(_ new: NewExecution) async throws -> ExecutionRecord? {
        try await withCheckedThrowingContinuation { continuation in
            let startFlush = pending.withLock { p -> Bool in
                p.batch.append(new)
                p.waiters.append(continuation)
                if p.flushing { return false }
                p.flushing = true
                return true
            }
            if startFlush { io.async { self.flush() } }
        }
    }

    /// On `io`: everything pending in one transaction, until nothing more arrived. When a batch
    /// fails, its executions are written one by one, so only the one at fault fails.
    private func flush() {
        while true {
            let taken = pending.withLock { p -> (batch: [NewExecution], waiters: [CheckedContinuation<ExecutionRecord?, any Error>])? in
                if p.batch.isEmpty {
                    p.flushing = false
                    return nil
                }
                defer { (p.batch, p.waiters) = ([], []) }
                return (p.batch, p.waiters)
            }
            guard let taken else { return }
            if let results = try? store.createExecutions(taken.batch) {
                for (waiter, result) in zip(taken.waiters, results) { waiter.resume(returning: result) }
                continue
            }
            for (new, waiter) in zip(taken.batch, taken.waiters) {
                waiter.resume(with: Result { try store.createExecutions([new])[0] })
            }
        }
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
