import Foundation
import HearthCore
import HearthStore
import Synchronization

// From a stored configuration to what the pool runs.
extension LambdaAPI {
    /// What the pool runs for `version` of `config`, from `deployedVersions` when this exact
    /// configuration was prepared before (the warm path: no stat of the code tree or the image
    /// marker, no lock). A first preparation can unzip code, merge layers or build a runtime
    /// image (seconds), so it runs off the event loops (ADR 0036).
    func preparedVersion(_ config: FunctionConfiguration, version: String) async throws -> DeployedVersion {
        if let known = deployedVersions.lookup(config, version: version) { return known }
        let deployed = try await withTaskExecutorPreference(globalConcurrentExecutor) {
            try self.deployedVersion(config, version: version)
        }
        deployedVersions.remember(deployed, for: config, version: version)
        return deployed
    }

    func deployedVersion(_ config: FunctionConfiguration, version: String) throws -> DeployedVersion {
        var fc = FunctionConfig(name: config.name)
        fc.version = version
        fc.runtime = config.runtime
        fc.handler = config.handler
        fc.memoryMB = config.memoryMB
        fc.timeout = Double(config.timeoutSeconds)
        fc.ephemeralStorageMB = config.ephemeralStorageMB
        fc.environment = config.environment.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        fc.region = region
        fc.accountID = account
        fc.userNamespace = userNamespace
        let generation = version == "$LATEST" ? config.revisionID : "v\(version)-\(config.revisionID)"
        if config.packageType == "Image" {
            guard let imported = containerImages?.image(id: "sha256:" + config.codeSHA256) else {
                throw LambdaError.service("container image sha256:\(config.codeSHA256) of \(config.name) is missing from the image store")
            }
            let overridden = imported.config.overridden(entrypoint: config.imageConfig.entryPoint, command: config.imageConfig.command,
                                                        workingDirectory: config.imageConfig.workingDirectory)
            let image: RuntimeImage
            do {
                image = try imported.runtimeImage(config: overridden)
            } catch {
                throw LambdaError.invalidParameter("\(error)")
            }
            return DeployedVersion(config: fc, code: imported.rootfs + "/var/task", image: image, generation: generation)
        }
        let image: RuntimeImage
        do {
            image = try images.image(for: config.runtime)
        } catch {
            throw LambdaError.service("runtime image \(config.runtime): \(error)")
        }
        var opt: String?
        if !config.layers.isEmpty {
            let shas = try config.layers.map { try layer(arn: $0, includingDeleted: true).codeSHA256 }
            opt = try code.mergedLayers(shas)
        }
        // A version's generation includes its snapshot's revision: a function deleted and created
        // again publishes "1" again, and must not meet the old "1"'s instances.
        return DeployedVersion(config: fc, code: try code.unpacked(config.codeSHA256), opt: opt, image: image, generation: generation)
    }
}

/// The `DeployedVersion`s prepared so far, one per function version, each kept with the exact
/// configuration it came from: a changed configuration (every update has a new revision id, a
/// published version its own snapshot) misses and replaces it. The code trees and images they
/// name stay on disk while a stored configuration references them (`CodeStore.collectGarbage`).
final class DeployedVersions: Sendable {
    private let entries = Mutex<[String: (config: FunctionConfiguration, deployed: DeployedVersion)]>([:])

    private static func key(_ name: String, _ version: String) -> String { name + "\u{0}" + version }

    func lookup(_ config: FunctionConfiguration, version: String) -> DeployedVersion? {
        entries.withLock { entries in
            guard let entry = entries[Self.key(config.name, version)], entry.config == config else { return nil }
            return entry.deployed
        }
    }

    func remember(_ deployed: DeployedVersion, for config: FunctionConfiguration, version: String) {
        entries.withLock { $0[Self.key(config.name, version)] = (config, deployed) }
    }

    /// Forgets every version of a deleted function.
    func forget(function: String) {
        let prefix = function + "\u{0}"
        entries.withLock { entries in
            for key in entries.keys where key.hasPrefix(prefix) { entries[key] = nil }
        }
    }
}
