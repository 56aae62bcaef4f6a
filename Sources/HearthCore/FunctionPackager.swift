import Foundation
import HearthSandbox
import ZIPFoundation

/// `hearth package`: builds a Swift executable product in release mode with the Swift standard
/// library linked statically, and writes a Lambda-layout zip: the executable as `bootstrap` at
/// the root (mode 0755), with the product's resource bundles beside it. The zip runs on Hearth's
/// `provided` runtime and on AWS Lambda's `provided.al2023` (when the host's glibc is no newer
/// than Lambda's; the packager says which glibc the binary needs).
public struct FunctionPackager: Sendable {
    public var product: String
    public var packagePath: String
    public var output: String
    /// SwiftPM's build folder (`--scratch-path`); nil for the package's default `.build`.
    public var scratchPath: String?
    public var swift: String
    /// glibc of AWS Lambda's provided.al2023 (Amazon Linux 2023).
    public static let lambdaGlibc = (2, 34)

    public init(product: String, packagePath: String, output: String, scratchPath: String? = nil, swift: String = "swift") {
        self.product = product
        self.packagePath = packagePath
        self.output = output
        self.scratchPath = scratchPath
        self.swift = swift
    }

    public struct Result: Sendable {
        public var zip: String
        public var zipBytes: Int
        public var binaryBytes: Int
        /// Highest `GLIBC_x.y` symbol version the binary needs, if any.
        public var glibc: (Int, Int)?
    }

    static func log(_ text: String) {
        FileHandle.standardError.write(Data("hearth package: \(text)\n".utf8))
    }

    public func run() throws -> Result {
        guard FileIO.exists(packagePath + "/Package.swift") else {
            throw HearthError.usage("no Package.swift in \(packagePath) (use --package-path)")
        }
        var common = ["--package-path", packagePath, "-c", "release"]
        if let scratchPath { common += ["--scratch-path", scratchPath] }
        Self.log("building \(product) (release, static Swift standard library)")
        let build = try Self.runTool(swift, ["build"] + common + ["--product", product, "--static-swift-stdlib"], passOutput: true)
        guard build.status == 0 else {
            throw HearthError.usage("swift build of \(product) failed (exit status \(build.status)); see its output above")
        }
        let binPath = try Self.runTool(swift, ["build"] + common + ["--show-bin-path"], passOutput: false)
        let binDir = binPath.output.trimmingWhitespace()
        let binary = binDir + "/" + product
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw HearthError.usage("\(product) is not an executable product of \(packagePath) (no \(binary))")
        }
        let resources = FileIO.entries(binDir).filter { $0.hasSuffix(".resources") }.sorted()
        Self.log("writing \(output)" + (resources.isEmpty ? "" : " with \(resources.joined(separator: ", "))"))
        try? FileManager.default.removeItem(atPath: output)
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: output), accessMode: .create)
        } catch {
            throw HearthError.usage("cannot create \(output): \(error)")
        }
        let binaryData = try Data(contentsOf: URL(fileURLWithPath: binary))
        try archive.addEntry(with: "bootstrap", type: .file, uncompressedSize: Int64(binaryData.count),
                             modificationDate: Date(), permissions: 0o755, compressionMethod: .deflate) { position, size in
            binaryData.subdata(in: Int(position)..<Int(position) + size)
        }
        for bundle in resources {
            let base = URL(fileURLWithPath: binDir)
            try archive.addEntry(with: bundle, relativeTo: base, compressionMethod: .deflate)
            let enumerator = FileManager.default.enumerator(atPath: binDir + "/" + bundle)
            while let relative = enumerator?.nextObject() as? String {
                try archive.addEntry(with: bundle + "/" + relative, relativeTo: base, compressionMethod: .deflate)
            }
        }
        let zipBytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        if zipBytes > Int(CodeBundle.maxZipBytes) {
            Self.log("warning: \(output) is \(zipBytes) bytes, over Lambda's 50 MB limit for a direct upload")
        }
        let glibc = Self.requiredGlibc(binaryData)
        if let glibc {
            let note = glibc > Self.lambdaGlibc ? " (newer than AWS Lambda provided.al2023's 2.34: build on an older distribution for AWS)" : ""
            Self.log("\(product) needs glibc \(glibc.0).\(glibc.1)\(note)")
        }
        Self.log("done: \(output) (\(zipBytes) bytes, bootstrap \(binaryData.count) bytes)")
        return Result(zip: output, zipBytes: zipBytes, binaryBytes: binaryData.count, glibc: glibc)
    }

    /// The highest `GLIBC_x.y` version string in an ELF file's symbol versions.
    static func requiredGlibc(_ data: Data) -> (Int, Int)? {
        let needle = Array("GLIBC_".utf8)
        var best: (Int, Int)?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var i = 0
            while i + needle.count < bytes.count {
                if bytes[i] == needle[0], bytes[i + 1] == needle[1], Array(bytes[i..<(i + needle.count)]) == needle {
                    var j = i + needle.count
                    var text = ""
                    while j < bytes.count, (bytes[j] >= 0x30 && bytes[j] <= 0x39) || bytes[j] == 0x2e { text.append(Character(UnicodeScalar(bytes[j]))); j += 1 }
                    let parts = text.split(separator: ".").compactMap { Int($0) }
                    if j < bytes.count, bytes[j] == 0, parts.count >= 2 {
                        let version = (parts[0], parts[1])
                        if best == nil || version > best! { best = version }
                    }
                    i = j
                } else {
                    i += 1
                }
            }
        }
        return best
    }

    static func runTool(_ tool: String, _ arguments: [String], passOutput: Bool) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let pipe = Pipe()
        // Progress: SwiftPM's own output goes to our stderr as it comes.
        process.standardOutput = passOutput ? FileHandle.standardError : pipe
        process.standardError = FileHandle.standardError
        do {
            try process.run()
        } catch {
            throw HearthError.setup("cannot run \(tool): \(error)")
        }
        let output = passOutput ? Data() : pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
