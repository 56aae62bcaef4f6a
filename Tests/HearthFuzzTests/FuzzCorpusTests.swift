import Foundation
import HearthCore
import HearthFuzzing
import Testing

/// Replays every committed fuzz input (seed corpora and crash regressions) through its target
/// in the ordinary test run: a crash found by scripts/fuzz is saved under
/// Tests/Fuzz/<Target>/regressions and stays fixed.
@Suite("Fuzz corpora and regressions replay without crashing")
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Fuzz"

    static func inputs(_ target: FuzzTarget, _ kind: String) -> [String] {
        let folder = root + "/\(target.rawValue)/\(kind)"
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { folder + "/" + $0 }
    }

    @Test("every target has a seed corpus", arguments: FuzzTarget.allCases)
    func seedCorpusExists(_ target: FuzzTarget) {
        #expect(Self.inputs(target, "corpus").count >= 3, "Tests/Fuzz/\(target.rawValue)/corpus")
    }

    @Test("seed corpus and regressions replay", arguments: FuzzTarget.allCases)
    func replay(_ target: FuzzTarget) throws {
        for file in Self.inputs(target, "corpus") + Self.inputs(target, "regressions") {
            let data = try #require(FileManager.default.contents(atPath: file), "\(file)")
            target.run(Array(data))  // a broken invariant or a crash stops the test process
        }
    }
}

/// The extraction targets are not vacuous: their plain seeds really extract.
@Suite("Fuzz seeds extract")
struct FuzzSeedExtractionTests {
    func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-fuzz-seed-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func plainLayerIsApplied() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try applyImageLayer(file: FuzzCorpusTests.root + "/Tar/corpus/plain", to: root)
        #expect(FileManager.default.isExecutableFile(atPath: root + "/usr/bin/hello"))
        try applyImageLayer(file: FuzzCorpusTests.root + "/Tar/corpus/gzip", to: root)
        #expect(FileManager.default.fileExists(atPath: root + "/etc/os-release"))
    }

    @Test func plainZipIsExtracted() throws {
        let target = try scratch() + "/code"
        defer { try? FileManager.default.removeItem(atPath: (target as NSString).deletingLastPathComponent) }
        try CodeBundle.unzip(FuzzCorpusTests.root + "/Zip/corpus/plain", into: target)
        #expect(FileManager.default.isExecutableFile(atPath: target + "/bootstrap"))
        #expect(FileManager.default.fileExists(atPath: target + "/lib/x.txt"))
    }
}
