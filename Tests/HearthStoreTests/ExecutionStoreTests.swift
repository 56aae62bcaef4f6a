import Foundation
import Testing
@testable import HearthStore

@Suite("executions in the store")
struct ExecutionStoreTests {
    static let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:m"

    static func new(_ name: String, input: String = "{}") -> NewExecution {
        let record = ExecutionRecord(arn: "arn:aws:states:us-east-1:000000000000:execution:m:\(name)", stateMachineArn: machine, name: name,
                                     input: input, definition: "{}", roleArn: "arn:aws:iam::000000000000:role/r", startedMs: 1)
        return NewExecution(record: record, journal: "{}", events: [(1, "{\"id\":1}")], end: nil)
    }

    @Test("a batch of starts is one transaction; a name taken earlier in the batch answers with that execution")
    func batchedStarts() throws {
        let store = try Store.inMemory()
        let results = try store.createExecutions([Self.new("a"), Self.new("b"), Self.new("a", input: "{\"x\":1}")])
        #expect(results[0] == nil && results[1] == nil)
        #expect(results[2]?.input == "{}", "the second 'a' finds the first")
        #expect(try store.historyCount(execution: Self.new("a").record.arn) == 1)
        #expect(try store.journal(execution: Self.new("b").record.arn) == ["{}"])
        #expect(try store.createExecution(Self.new("b").record, journal: "{}", events: [])?.name == "b")
    }

    @Test("state machines are read from memory until their own writes")
    func machineReads() throws {
        let store = try Store.inMemory()
        let record = StateMachineRecord(arn: Self.machine, name: "m", type: "STANDARD", definition: "{\"v\":1}", roleArn: "r")
        #expect(try store.stateMachine(arn: Self.machine) == nil)
        try store.createStateMachine(record)
        #expect(try store.stateMachine(arn: Self.machine)?.definition == "{\"v\":1}")
        _ = try store.createExecutions([Self.new("a")])  // another write: the machine stays
        var updated = record
        updated.definition = "{\"v\":2}"
        try store.updateStateMachine(updated)
        #expect(try store.stateMachine(arn: Self.machine)?.definition == "{\"v\":2}")
        try store.tagStateMachine(arn: Self.machine, add: ["k": "v"], remove: [])
        #expect(try store.stateMachine(arn: Self.machine)?.tags == ["k": "v"])
        try store.deleteStateMachine(arn: Self.machine)
        #expect(try store.stateMachine(arn: Self.machine) == nil)
    }
}
