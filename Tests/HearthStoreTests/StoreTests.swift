import Foundation
import Testing
@testable import HearthStore

// MARK: - Helpers

private enum Kind: Equatable { case notFound, conflict, invalid, preconditionFailed }

/// The kind of `StoreError` thrown by `body`, or nil if it did not throw a `StoreError`.
private func errorKind(_ body: () throws -> Void) -> Kind? {
    do {
        try body()
        return nil
    } catch let error as StoreError {
        switch error {
        case .notFound: return .notFound
        case .conflict: return .conflict
        case .invalid: return .invalid
        case .preconditionFailed: return .preconditionFailed
        }
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

private func config(_ name: String, sha: String = "aaaa", memory: Int = 128) -> FunctionConfiguration {
    FunctionConfiguration(
        name: name,
        runtime: "provided.al2023",
        handler: "bootstrap",
        memoryMB: memory,
        timeoutSeconds: 3,
        ephemeralStorageMB: 512,
        environment: ["A": "1", "B": "two"],
        layers: ["arn:aws:lambda:us-east-1:000000000000:layer:x:1"],
        description: "desc",
        codeSHA256: sha,
        codeSize: 1234,
        packageType: "Zip"
    )
}

/// A store with function `f` and versions 1..`versions` (each with a distinct code hash).
private func storeWithVersions(_ versions: Int) throws -> Store {
    let store = try Store.inMemory()
    var c = try store.createFunction(config("f", sha: "sha0"))
    for i in 0..<versions {
        let i = i + 1
        c.codeSHA256 = "sha\(i)"
        c = try store.updateFunction(c)
        _ = try store.publishVersion(function: "f", description: "v\(i)")
    }
    return store
}

private func tempDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hearthstore-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

// MARK: - Functions

@Suite struct FunctionTests {
    @Test func createAndGet() throws {
        let store = try Store.inMemory()
        let input = config("hello")
        let created = try store.createFunction(input)
        #expect(created.name == "hello")
        #expect(created.environment == ["A": "1", "B": "two"])
        #expect(created.layers == input.layers)
        #expect(!created.revisionID.isEmpty)
        #expect(try store.function(named: "hello") == created)
        #expect(try store.function(named: "nope") == nil)
    }

    @Test func nilHandlerAndEmptyCollectionsRoundTrip() throws {
        let store = try Store.inMemory()
        var c = config("x")
        c.handler = nil
        c.environment = [:]
        c.layers = []
        let created = try store.createFunction(c)
        #expect(try store.function(named: "x") == created)
        #expect(created.handler == nil)
    }

    @Test func listWithMarkers() throws {
        let store = try Store.inMemory()
        for name in ["e", "c", "a", "d", "b"] { _ = try store.createFunction(config(name)) }

        let p1 = try store.listFunctions(after: nil, limit: 2)
        #expect(p1.functions.map(\.name) == ["a", "b"])
        #expect(p1.nextMarker == "b")
        let p2 = try store.listFunctions(after: p1.nextMarker, limit: 2)
        #expect(p2.functions.map(\.name) == ["c", "d"])
        #expect(p2.nextMarker == "d")
        let p3 = try store.listFunctions(after: p2.nextMarker, limit: 2)
        #expect(p3.functions.map(\.name) == ["e"])
        #expect(p3.nextMarker == nil)

        let exact = try store.listFunctions(after: nil, limit: 5)
        #expect(exact.functions.count == 5)
        #expect(exact.nextMarker == nil)
        #expect(errorKind { _ = try store.listFunctions(after: nil, limit: 0) } == .invalid)
    }

    @Test func duplicateCreateIsConflict() throws {
        let store = try Store.inMemory()
        _ = try store.createFunction(config("dup"))
        #expect(errorKind { _ = try store.createFunction(config("dup")) } == .conflict)
    }

    @Test func createValidatesLimits() throws {
        let store = try Store.inMemory()
        #expect(errorKind { _ = try store.createFunction(config("m", memory: 64)) } == .invalid)
        #expect(errorKind { _ = try store.createFunction(config("m", memory: 20000)) } == .invalid)
        var t = config("t"); t.timeoutSeconds = 901
        #expect(errorKind { _ = try store.createFunction(t) } == .invalid)
        var e = config("e"); e.ephemeralStorageMB = 100
        #expect(errorKind { _ = try store.createFunction(e) } == .invalid)
        #expect(errorKind { _ = try store.createFunction(config("bad name")) } == .invalid)
        #expect(try store.listFunctions(after: nil, limit: 10).functions.isEmpty)
    }

    @Test func updateChangesRevisionID() throws {
        let store = try Store.inMemory()
        let created = try store.createFunction(config("u"))
        var changed = created
        changed.memoryMB = 512
        changed.environment = ["C": "3"]
        let updated = try store.updateFunction(changed)
        #expect(updated.revisionID != created.revisionID)
        #expect(updated.lastModified >= created.lastModified)
        #expect(updated.memoryMB == 512)
        #expect(try store.function(named: "u") == updated)

        // Even an identical update gets a new revision.
        let again = try store.updateFunction(updated)
        #expect(again.revisionID != updated.revisionID)

        #expect(errorKind { _ = try store.updateFunction(config("missing")) } == .notFound)
        #expect(errorKind { _ = try store.updateFunction(again, expectedRevisionID: created.revisionID) } == .preconditionFailed)
        #expect(try store.updateFunction(again, expectedRevisionID: again.revisionID).memoryMB == 512)
    }

    @Test func deleteCascades() throws {
        let store = try storeWithVersions(2)
        _ = try store.createAlias(FunctionAlias(function: "f", name: "live", functionVersion: "1"))
        try store.setReservedConcurrency(function: "f", value: 5)
        _ = try store.createFunction(config("other"))
        _ = try store.publishVersion(function: "other", description: "")

        try store.deleteFunction(named: "f")
        #expect(try store.function(named: "f") == nil)
        #expect(try store.version(function: "f", number: 1) == nil)
        #expect(try store.alias(function: "f", name: "live") == nil)
        #expect(errorKind { _ = try store.versions(function: "f") } == .notFound)
        #expect(errorKind { _ = try store.reservedConcurrency(function: "f") } == .notFound)
        #expect(errorKind { try store.deleteFunction(named: "f") } == .notFound)

        // Recreating starts afresh: no leftover concurrency, aliases, or version numbers.
        _ = try store.createFunction(config("f"))
        #expect(try store.reservedConcurrency(function: "f") == nil)
        #expect(try store.aliases(function: "f").isEmpty)
        #expect(try store.publishVersion(function: "f", description: "").version == 1)
        // The other function is untouched.
        #expect(try store.versions(function: "other").map(\.version) == [1])
    }
}

// MARK: - Versions

@Suite struct VersionTests {
    @Test func publishNumbersAscending() throws {
        let store = try Store.inMemory()
        var c = try store.createFunction(config("p", sha: "s0"))
        var numbers: [Int] = []
        for i in 1...3 {
            c.codeSHA256 = "s\(i)"
            c = try store.updateFunction(c)
            let v = try store.publishVersion(function: "p", description: "release \(i)")
            #expect(v.description == "release \(i)")
            #expect(v.configuration == c)
            numbers.append(v.version)
        }
        #expect(numbers == [1, 2, 3])
        let listed = try store.versions(function: "p")
        #expect(listed.map(\.version) == [1, 2, 3])
        #expect(listed.map(\.configuration.codeSHA256) == ["s1", "s2", "s3"])
        #expect(try store.version(function: "p", number: 2) == listed[1])
        #expect(try store.version(function: "p", number: 9) == nil)
        #expect(errorKind { _ = try store.publishVersion(function: "missing", description: "") } == .notFound)
    }

    @Test func publishUnchangedReturnsSameVersion() throws {
        let store = try Store.inMemory()
        var c = try store.createFunction(config("p"))
        let v1 = try store.publishVersion(function: "p", description: "first")
        let again = try store.publishVersion(function: "p", description: "second")
        #expect(again == v1)

        // A no-op update (new revision id, same content) still counts as unchanged.
        c = try store.updateFunction(c)
        #expect(try store.publishVersion(function: "p", description: "third") == v1)

        // A configuration change (not only code) makes a new version.
        c.timeoutSeconds = 30
        c = try store.updateFunction(c)
        #expect(try store.publishVersion(function: "p", description: "").version == 2)
        #expect(try store.versions(function: "p").count == 2)
    }

    @Test func publishPreconditions() throws {
        let store = try Store.inMemory()
        let c = try store.createFunction(config("p", sha: "abc"))
        #expect(errorKind { _ = try store.publishVersion(function: "p", description: "", expectedRevisionID: "stale") } == .preconditionFailed)
        #expect(errorKind { _ = try store.publishVersion(function: "p", description: "", expectedCodeSHA256: "zzz") } == .preconditionFailed)
        let v = try store.publishVersion(function: "p", description: "", expectedRevisionID: c.revisionID, expectedCodeSHA256: "abc")
        #expect(v.version == 1)
    }

    @Test func versionSnapshotImmutableAfterUpdatingLatest() throws {
        let store = try Store.inMemory()
        var c = try store.createFunction(config("s", sha: "old"))
        let v1 = try store.publishVersion(function: "s", description: "")
        c.codeSHA256 = "new"
        c.environment = ["CHANGED": "yes"]
        c.memoryMB = 1024
        c.layers = []
        _ = try store.updateFunction(c)

        let reread = try #require(try store.version(function: "s", number: 1))
        #expect(reread == v1)
        #expect(reread.configuration.codeSHA256 == "old")
        #expect(reread.configuration.environment == ["A": "1", "B": "two"])
        #expect(reread.configuration.memoryMB == 128)
        #expect(try store.function(named: "s")?.codeSHA256 == "new")
    }

    @Test func versionNumbersNeverReused() throws {
        let store = try storeWithVersions(3)
        try store.deleteVersion(function: "f", number: 3)
        try store.deleteVersion(function: "f", number: 2)
        #expect(try store.versions(function: "f").map(\.version) == [1])
        #expect(errorKind { try store.deleteVersion(function: "f", number: 2) } == .notFound)

        var c = try #require(try store.function(named: "f"))
        c.codeSHA256 = "fresh"
        _ = try store.updateFunction(c)
        #expect(try store.publishVersion(function: "f", description: "").version == 4)
        #expect(try store.versions(function: "f").map(\.version) == [1, 4])
    }

    @Test func publishAfterDeletingLatestVersionComparesWithRemaining() throws {
        let store = try storeWithVersions(2)  // v1 = sha1, v2 = sha2, $LATEST = sha2
        try store.deleteVersion(function: "f", number: 2)
        // $LATEST differs from v1, so a new version (3, not 2) is made.
        #expect(try store.publishVersion(function: "f", description: "").version == 3)
    }

    @Test func deleteVersionRefusedWhileAliased() throws {
        let store = try storeWithVersions(3)
        _ = try store.createAlias(FunctionAlias(function: "f", name: "live", functionVersion: "1"))
        _ = try store.createAlias(FunctionAlias(function: "f", name: "canary", functionVersion: "2",
                                                additionalVersionWeights: ["3": 0.1]))
        #expect(errorKind { try store.deleteVersion(function: "f", number: 1) } == .invalid)
        #expect(errorKind { try store.deleteVersion(function: "f", number: 2) } == .invalid)
        #expect(errorKind { try store.deleteVersion(function: "f", number: 3) } == .invalid)  // additional version
        #expect(try store.versions(function: "f").count == 3)

        try store.deleteAlias(function: "f", name: "live")
        try store.deleteVersion(function: "f", number: 1)
        #expect(try store.version(function: "f", number: 1) == nil)
    }
}

// MARK: - Aliases

@Suite struct AliasTests {
    @Test func createAndGet() throws {
        let store = try storeWithVersions(2)
        let created = try store.createAlias(FunctionAlias(function: "f", name: "prod", functionVersion: "1",
                                                          additionalVersionWeights: ["2": 0.25], description: "p"))
        #expect(!created.revisionID.isEmpty)
        #expect(try store.alias(function: "f", name: "prod") == created)
        let latest = try store.createAlias(FunctionAlias(function: "f", name: "dev", functionVersion: "$LATEST"))
        #expect(try store.aliases(function: "f") == [latest, created])  // ordered by name
        #expect(try store.alias(function: "f", name: "nope") == nil)
        #expect(errorKind { _ = try store.createAlias(FunctionAlias(function: "f", name: "prod", functionVersion: "2")) } == .conflict)
    }

    @Test func rejectsMissingFunctionOrVersion() throws {
        let store = try storeWithVersions(1)
        #expect(errorKind { _ = try store.createAlias(FunctionAlias(function: "nope", name: "a", functionVersion: "1")) } == .notFound)
        #expect(errorKind { _ = try store.createAlias(FunctionAlias(function: "f", name: "a", functionVersion: "7")) } == .invalid)
        #expect(errorKind { _ = try store.createAlias(FunctionAlias(function: "f", name: "a", functionVersion: "01")) } == .invalid)
        #expect(errorKind { _ = try store.createAlias(FunctionAlias(function: "f", name: "a", functionVersion: "latest")) } == .invalid)
        // Alias names: not purely numeric, restricted characters.
        #expect(errorKind { _ = try store.createAlias(FunctionAlias(function: "f", name: "123", functionVersion: "1")) } == .invalid)
        #expect(errorKind { _ = try store.createAlias(FunctionAlias(function: "f", name: "a/b", functionVersion: "1")) } == .invalid)
        #expect(try store.aliases(function: "f").isEmpty)
    }

    @Test func rejectsBadWeights() throws {
        let store = try storeWithVersions(2)
        func attempt(_ primary: String, _ weights: [String: Double]) -> Kind? {
            errorKind { _ = try store.createAlias(FunctionAlias(function: "f", name: "w", functionVersion: primary,
                                                                additionalVersionWeights: weights)) }
        }
        #expect(attempt("1", ["2": 1.5]) == .invalid)
        #expect(attempt("1", ["2": -0.1]) == .invalid)
        #expect(attempt("1", ["2": .nan]) == .invalid)
        #expect(attempt("1", ["1": 0.5]) == .invalid)          // same as primary
        #expect(attempt("1", ["9": 0.5]) == .invalid)          // version does not exist
        #expect(attempt("1", ["$LATEST": 0.5]) == .invalid)    // only published versions
        #expect(attempt("$LATEST", ["2": 0.5]) == .invalid)    // routing needs a published primary
        #expect(try store.aliases(function: "f").isEmpty)
        // Boundaries are accepted.
        #expect(attempt("1", ["2": 0.0]) == nil)
        try store.deleteAlias(function: "f", name: "w")
        #expect(attempt("1", ["2": 1.0]) == nil)
    }

    @Test func rejectsTwoAdditionalVersions() throws {
        let store = try storeWithVersions(3)
        #expect(errorKind {
            _ = try store.createAlias(FunctionAlias(function: "f", name: "two", functionVersion: "1",
                                                    additionalVersionWeights: ["2": 0.1, "3": 0.1]))
        } == .invalid)
    }

    @Test func update() throws {
        let store = try storeWithVersions(3)
        let created = try store.createAlias(FunctionAlias(function: "f", name: "live", functionVersion: "1"))
        var changed = created
        changed.functionVersion = "2"
        changed.additionalVersionWeights = ["3": 0.5]
        changed.description = "moved"
        let updated = try store.updateAlias(changed)
        #expect(updated.revisionID != created.revisionID)
        #expect(try store.alias(function: "f", name: "live") == updated)

        var bad = updated
        bad.functionVersion = "42"
        #expect(errorKind { _ = try store.updateAlias(bad) } == .invalid)
        #expect(errorKind { _ = try store.updateAlias(updated, expectedRevisionID: created.revisionID) } == .preconditionFailed)
        #expect(errorKind { _ = try store.updateAlias(FunctionAlias(function: "f", name: "ghost", functionVersion: "1")) } == .notFound)
        #expect(try store.alias(function: "f", name: "live") == updated)
    }

    @Test func delete() throws {
        let store = try storeWithVersions(1)
        _ = try store.createAlias(FunctionAlias(function: "f", name: "live", functionVersion: "1"))
        try store.deleteAlias(function: "f", name: "live")
        #expect(try store.alias(function: "f", name: "live") == nil)
        #expect(errorKind { try store.deleteAlias(function: "f", name: "live") } == .notFound)
        #expect(errorKind { try store.deleteAlias(function: "nope", name: "live") } == .notFound)
    }
}

// MARK: - Concurrency, code references, persistence

@Suite struct MiscTests {
    @Test func reservedConcurrency() throws {
        let store = try Store.inMemory()
        _ = try store.createFunction(config("r"))
        #expect(try store.reservedConcurrency(function: "r") == nil)
        try store.setReservedConcurrency(function: "r", value: 10)
        #expect(try store.reservedConcurrency(function: "r") == 10)
        try store.setReservedConcurrency(function: "r", value: 0)
        #expect(try store.reservedConcurrency(function: "r") == 0)
        try store.setReservedConcurrency(function: "r", value: nil)
        #expect(try store.reservedConcurrency(function: "r") == nil)
        try store.setReservedConcurrency(function: "r", value: nil)  // removing twice is fine
        #expect(errorKind { try store.setReservedConcurrency(function: "r", value: -1) } == .invalid)
        #expect(errorKind { try store.setReservedConcurrency(function: "nope", value: 1) } == .notFound)
    }

    /// The store keeps what Invoke reads ($LATEST, reserved concurrency) in memory between
    /// writes; no write may leave a stale value behind.
    @Test func hotReadsNeverOutliveAWrite() throws {
        let store = try Store.inMemory()
        #expect(try store.function(named: "hot") == nil)  // a miss is remembered too...
        var f = try store.createFunction(config("hot"))
        #expect(try store.function(named: "hot") == f)  // ...and forgotten by the create
        #expect(try store.reservedConcurrency(function: "hot") == nil)
        f.memoryMB = 512
        f = try store.updateFunction(f)
        #expect(try store.function(named: "hot")?.memoryMB == 512)
        try store.setReservedConcurrency(function: "hot", value: 5)
        #expect(try store.reservedConcurrency(function: "hot") == 5)
        try store.deleteFunction(named: "hot")
        #expect(try store.function(named: "hot") == nil)
        #expect(errorKind { _ = try store.reservedConcurrency(function: "hot") } == .notFound)
    }

    @Test func hotReadsUnderConcurrentWrites() async throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Store(path: dir.appendingPathComponent("state.sqlite").path)
        let created = try store.createFunction(config("busy"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var f = created
                for memory in stride(from: 128, through: 1024, by: 64) {
                    f.memoryMB = memory
                    f = try store.updateFunction(f)
                }
            }
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<200 { _ = try store.function(named: "busy") }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.function(named: "busy")?.memoryMB == 1024)
    }

    @Test func referencedCodeHashes() throws {
        let store = try Store.inMemory()
        #expect(try store.referencedCodeHashes().isEmpty)
        var a = try store.createFunction(config("a", sha: "h1"))
        _ = try store.publishVersion(function: "a", description: "")
        a.codeSHA256 = "h2"
        a = try store.updateFunction(a)
        _ = try store.createFunction(config("b", sha: "h3"))
        #expect(try store.referencedCodeHashes() == ["h1", "h2", "h3"])

        try store.deleteVersion(function: "a", number: 1)
        #expect(try store.referencedCodeHashes() == ["h2", "h3"])
        try store.deleteFunction(named: "b")
        #expect(try store.referencedCodeHashes() == ["h2"])
    }

    @Test func persistsAcrossReopen() throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("nested/state.sqlite").path

        var function: FunctionConfiguration
        let version: FunctionVersion
        let alias: FunctionAlias
        do {
            let store = try Store(path: path)
            #expect(try store.journalMode() == "wal")
            function = try store.createFunction(config("keep", sha: "k1"))
            version = try store.publishVersion(function: "keep", description: "v1")
            function.codeSHA256 = "k2"
            function = try store.updateFunction(function)
            _ = try store.publishVersion(function: "keep", description: "v2")
            try store.deleteVersion(function: "keep", number: 2)
            alias = try store.createAlias(FunctionAlias(function: "keep", name: "live", functionVersion: "1"))
            try store.setReservedConcurrency(function: "keep", value: 3)
            try store.close()
        }
        #expect(FileManager.default.fileExists(atPath: path))

        let reopened = try Store(path: path)
        #expect(try reopened.function(named: "keep") == function)
        #expect(try reopened.versions(function: "keep") == [version])
        #expect(try reopened.alias(function: "keep", name: "live") == alias)
        #expect(try reopened.reservedConcurrency(function: "keep") == 3)
        // The version counter survived too: 2 is not reused.
        function.memoryMB = 256
        _ = try reopened.updateFunction(function)
        #expect(try reopened.publishVersion(function: "keep", description: "").version == 3)
    }

    @Test func concurrentWritersAndReaders() async throws {
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Store(path: dir.appendingPathComponent("state.sqlite").path)
        _ = try store.createFunction(config("shared"))

        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    _ = try store.createFunction(config("fn\(i)"))
                    var c = try #require(try store.function(named: "shared"))
                    c.codeSHA256 = "sha-\(i)"
                    _ = try store.updateFunction(c)
                    _ = try store.publishVersion(function: "shared", description: "\(i)")
                    _ = try store.listFunctions(after: nil, limit: 5)
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.listFunctions(after: nil, limit: 100).functions.count == 21)
        let numbers = try store.versions(function: "shared").map(\.version)
        #expect(numbers == Array(1...numbers.count))  // no gaps or duplicates
        #expect(numbers.count >= 1 && numbers.count <= 20)
    }
}
