import Foundation
import HearthSandbox
import NIOCore
import NIOPosix

/// What every instance of one supervisor process shares: the cgroup driver, the compiled
/// seccomp program, the event loops, the runtime images and the run directory.
///
/// Instance cgroups and run folders carry the supervisor's pid (`hearth-<pid>-<id>`), so a
/// new supervisor can tell a crashed one's leftovers from a live one's and remove them.
public final class SandboxHost: Sendable {
    public let cgroups: any CgroupDriver
    public let seccomp: SeccompProgram
    public let group: MultiThreadedEventLoopGroup
    /// Threads for the blocking parts of starting and removing sandboxes (waiting for the child's
    /// setup, cgroup writes and removal), so they never hold Swift's cooperative threads.
    public let blocking: NIOThreadPool
    public let images: RuntimeImages
    /// Imported container images (`STATE/images/container/<id>`).
    public let containerImages: ContainerImages
    /// This process's folder for instance workspaces (`<run>/<pid>`).
    public let runDirectory: String
    public let userNamespace: Bool

    public static var defaultStateDirectory: String {
        if getuid() == 0 { return "/var/lib/hearth" }
        let env = ProcessInfo.processInfo.environment
        return (env["XDG_STATE_HOME"] ?? (env["HOME"] ?? "/tmp") + "/.local/state") + "/hearth"
    }

    public static var defaultRunDirectory: String {
        if getuid() == 0 { return "/run/hearth" }
        return (ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] ?? "/tmp") + "/hearth-\(getuid())"
    }

    public init(stateDirectory: String, runBase: String = SandboxHost.defaultRunDirectory,
                imageDefinitions: String? = nil, userNamespace: Bool = false) throws {
        guard let definitions = imageDefinitions ?? RuntimeImages.locateDefinitions() else {
            throw HearthError.setup("cannot find the runtime-images folder; set HEARTH_RUNTIME_IMAGES")
        }
        images = RuntimeImages(definitions: definitions, cache: stateDirectory + "/images")
        containerImages = ContainerImages(cache: stateDirectory + "/images/container")
        do {
            cgroups = try CgroupHost.detect()
        } catch {
            throw HearthError.setup("cgroups: \(error)")
        }
        seccomp = try SeccompPolicy.compiledDefault.get()
        group = MultiThreadedEventLoopGroup.singleton
        blocking = NIOThreadPool(numberOfThreads: 8)
        blocking.start()
        self.userNamespace = userNamespace || getuid() != 0
        try FileIO.makeDirectories(runBase, mode: 0o711)
        chmod(runBase, 0o711)
        runDirectory = runBase + "/\(getpid())"
        Self.removeLeftovers(runBase: runBase, cgroups: cgroups)
        try FileIO.makeDirectories(runDirectory, mode: 0o711)
        chmod(runDirectory, 0o711)
    }

    /// The cgroup name for an instance of this process.
    func cgroupName(instanceID: String) -> String { "hearth-\(getpid())-\(instanceID)" }

    /// Removes run folders and cgroups left by supervisors that are gone (crashed, killed -9).
    static func removeLeftovers(runBase: String, cgroups: any CgroupDriver) {
        func alive(_ pid: pid_t) -> Bool { pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) }
        for name in cgroups.leftovers(prefix: "hearth-") {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = pid_t(parts[1]), !alive(pid) else { continue }
            try? cgroups.removeLeftover(name: name)
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: runBase)) ?? [] {
            guard let pid = pid_t(entry), !alive(pid) else { continue }
            try? FileIO.removeTree(runBase + "/" + entry)
        }
    }

    /// Removes this process's run folder (after every instance is destroyed).
    public func close() {
        try? FileIO.removeTree(runDirectory)
    }
}
