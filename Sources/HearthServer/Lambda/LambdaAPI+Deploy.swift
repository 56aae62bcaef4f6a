import Foundation
import HearthCore
import HearthStore

// From a stored configuration to what the pool runs.
extension LambdaAPI {
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
